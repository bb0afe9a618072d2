//! Every string the pages show, in each language, in one catalogue: a [`Text`] per language,
//! so a string missing from one language fails to compile.
//!
//! The language is the `frontmon_lang` cookie's (set by `?lang=`), else the best of
//! `Accept-Language`, else English.

use actix_web::HttpRequest;
use actix_web::http::header;

pub const COOKIE: &str = "frontmon_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            _ => None,
        }
    }

    pub fn text(self) -> &'static Text {
        match self {
            Lang::En => &EN,
            Lang::Zh => &ZH,
        }
    }

    /// From `?lang=`, the cookie, `Accept-Language` (in its order of preference), English.
    pub fn of(request: &HttpRequest, asked: Option<&str>) -> Self {
        if let Some(lang) = asked.and_then(Lang::parse) {
            return lang;
        }
        if let Some(lang) = request.cookie(COOKIE).and_then(|c| Lang::parse(c.value())) {
            return lang;
        }
        request
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .and_then(from_accept_language)
            .unwrap_or(Lang::En)
    }
}

/// The first language of the header frontmon has, by `q` (ties: the header's order).
fn from_accept_language(header: &str) -> Option<Lang> {
    let mut best: Option<(f32, Lang)> = None;
    for item in header.split(',').take(32) {
        let mut parts = item.trim().split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let lang = if tag == "en" || tag.starts_with("en-") {
            Lang::En
        } else if tag == "zh" || tag.starts_with("zh-") {
            Lang::Zh
        } else {
            continue;
        };
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

/// The catalogue: one field per string.
pub struct Text {
    pub lang_tag: &'static str,
    pub other_lang: &'static str,
    pub other_lang_code: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub wrong_credentials: &'static str,
    pub throttled: &'static str,
    pub change_password: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub confirm_password: &'static str,
    pub password_changed: &'static str,
    pub passwords_differ: &'static str,
    pub weak_password: &'static str,
    pub save: &'static str,
    pub projects: &'static str,
    pub project: &'static str,
    pub no_projects: &'static str,
    pub issues: &'static str,
    pub unresolved: &'static str,
    pub resolved: &'static str,
    pub ignored: &'static str,
    pub level: &'static str,
    pub title: &'static str,
    pub culprit: &'static str,
    pub events: &'static str,
    pub users: &'static str,
    pub first_seen: &'static str,
    pub last_seen: &'static str,
    pub search: &'static str,
    pub search_placeholder: &'static str,
    pub select: &'static str,
    pub resolve: &'static str,
    pub ignore: &'static str,
    pub unresolve: &'static str,
    pub next_page: &'static str,
    pub first_page: &'static str,
    pub no_issues: &'static str,
    pub empty_title: &'static str,
    pub empty_body: &'static str,
    pub empty_npm: &'static str,
    pub status: &'static str,
    pub first_release: &'static str,
    pub last_release: &'static str,
    pub regressed: &'static str,
    pub latest_event: &'static str,
    pub stack_trace: &'static str,
    pub minified: &'static str,
    pub no_source: &'static str,
    pub breadcrumbs: &'static str,
    pub tags: &'static str,
    pub user: &'static str,
    pub url: &'static str,
    pub raw_json: &'static str,
    pub no_event: &'static str,
    pub time: &'static str,
    pub category: &'static str,
    pub message: &'static str,
    pub back_to_issues: &'static str,
    pub not_found: &'static str,
    pub forbidden: &'static str,
    pub unavailable: &'static str,
    pub bad_request: &'static str,
    pub language: &'static str,
    pub signed_in_as: &'static str,
    pub role_admin: &'static str,
    pub role_member: &'static str,
    pub sort_by: &'static str,
    pub environment: &'static str,
    pub release: &'static str,
    pub api_tokens: &'static str,
    pub api_tokens_help: &'static str,
    pub token_name: &'static str,
    pub create_token: &'static str,
    pub token_created: &'static str,
    pub revoke: &'static str,
    pub no_tokens: &'static str,
    pub created: &'static str,
    pub last_used: &'static str,
    pub never: &'static str,
    pub invalid_token_name: &'static str,
    pub too_many_tokens: &'static str,
}

pub static EN: Text = Text {
    lang_tag: "en",
    other_lang: "简体中文",
    other_lang_code: "zh",
    sign_in: "Sign in",
    sign_out: "Sign out",
    email: "Email",
    password: "Password",
    wrong_credentials: "Wrong email or password.",
    throttled: "Too many failed sign-ins. Wait a quarter of an hour, then try again.",
    change_password: "Change password",
    current_password: "Current password",
    new_password: "New password",
    confirm_password: "New password, again",
    password_changed: "Password changed. Your other sessions were signed out.",
    passwords_differ: "The two new passwords differ.",
    weak_password: "A password needs at least 10 characters.",
    save: "Save",
    projects: "Projects",
    project: "Project",
    no_projects: "You have no projects yet. Ask an admin to give you one.",
    issues: "Issues",
    unresolved: "Unresolved",
    resolved: "Resolved",
    ignored: "Ignored",
    level: "Level",
    title: "Title",
    culprit: "Culprit",
    events: "Events",
    users: "Users",
    first_seen: "First seen",
    last_seen: "Last seen",
    search: "Search",
    search_placeholder: "Search titles",
    select: "Select",
    resolve: "Resolve",
    ignore: "Ignore",
    unresolve: "Unresolve",
    next_page: "Next page",
    first_page: "First page",
    no_issues: "No issues here.",
    empty_title: "No events yet",
    empty_body: "Paste this into your pages, before your own scripts, and the first error shows up here within seconds:",
    empty_npm: "Or from npm (@frontmon/browser), in your bundle:",
    status: "Status",
    first_release: "First release",
    last_release: "Last release",
    regressed: "Regressed",
    latest_event: "Latest event",
    stack_trace: "Stack trace",
    minified: "As minified",
    no_source: "no source context",
    breadcrumbs: "Breadcrumbs",
    tags: "Tags",
    user: "User",
    url: "URL",
    raw_json: "Raw JSON",
    no_event: "The events of this issue are no longer kept.",
    time: "Time",
    category: "Category",
    message: "Message",
    back_to_issues: "Back to the issues",
    not_found: "There is nothing here, or it is not yours to see.",
    forbidden: "This request was refused: reload the page and try again.",
    unavailable: "The database is unavailable. Try again in a moment.",
    bad_request: "This request is not valid.",
    language: "Language",
    signed_in_as: "Signed in as",
    role_admin: "admin",
    role_member: "member",
    sort_by: "Sort by",
    environment: "Environment",
    release: "Release",
    api_tokens: "API tokens",
    api_tokens_help: "A token reads the JSON API as you: Authorization: Bearer <token>, on GET requests, for the projects you see.",
    token_name: "Name",
    create_token: "Create a token",
    token_created: "Your new token. Copy it now: it is not shown again.",
    revoke: "Revoke",
    no_tokens: "No tokens.",
    created: "Created",
    last_used: "Last used",
    never: "never",
    invalid_token_name: "A token needs a name of 1 to 100 characters.",
    too_many_tokens: "At most 20 tokens: revoke one first.",
};

pub static ZH: Text = Text {
    lang_tag: "zh-CN",
    other_lang: "English",
    other_lang_code: "en",
    sign_in: "登录",
    sign_out: "退出登录",
    email: "邮箱",
    password: "密码",
    wrong_credentials: "邮箱或密码错误。",
    throttled: "登录失败次数过多，请十五分钟后再试。",
    change_password: "修改密码",
    current_password: "当前密码",
    new_password: "新密码",
    confirm_password: "再次输入新密码",
    password_changed: "密码已修改，其他会话已退出登录。",
    passwords_differ: "两次输入的新密码不一致。",
    weak_password: "密码至少需要 10 个字符。",
    save: "保存",
    projects: "项目",
    project: "项目",
    no_projects: "你还没有项目，请联系管理员为你分配。",
    issues: "问题",
    unresolved: "未解决",
    resolved: "已解决",
    ignored: "已忽略",
    level: "级别",
    title: "标题",
    culprit: "出错位置",
    events: "事件数",
    users: "用户数",
    first_seen: "首次出现",
    last_seen: "最近出现",
    search: "搜索",
    search_placeholder: "搜索标题",
    select: "选择",
    resolve: "标记为已解决",
    ignore: "忽略",
    unresolve: "重新打开",
    next_page: "下一页",
    first_page: "第一页",
    no_issues: "这里没有问题。",
    empty_title: "还没有事件",
    empty_body: "把下面的代码放进你的页面（在你自己的脚本之前），几秒钟内第一个错误就会出现在这里：",
    empty_npm: "或者从 npm（@frontmon/browser）引入，打包进你的代码：",
    status: "状态",
    first_release: "首次出现的版本",
    last_release: "最近出现的版本",
    regressed: "已回归",
    latest_event: "最新事件",
    stack_trace: "堆栈",
    minified: "压缩后的堆栈",
    no_source: "没有源码上下文",
    breadcrumbs: "面包屑",
    tags: "标签",
    user: "用户",
    url: "URL",
    raw_json: "原始 JSON",
    no_event: "这个问题的事件已不再保留。",
    time: "时间",
    category: "类别",
    message: "消息",
    back_to_issues: "返回问题列表",
    not_found: "这里什么都没有，或者你无权查看。",
    forbidden: "请求被拒绝：请刷新页面后重试。",
    unavailable: "数据库暂时不可用，请稍后再试。",
    bad_request: "请求无效。",
    language: "语言",
    signed_in_as: "当前用户",
    role_admin: "管理员",
    role_member: "成员",
    sort_by: "排序",
    environment: "环境",
    release: "版本",
    api_tokens: "API 令牌",
    api_tokens_help: "令牌以你的身份读取 JSON API：在 GET 请求中带上 Authorization: Bearer <令牌>，可访问你能看到的项目。",
    token_name: "名称",
    create_token: "创建令牌",
    token_created: "这是你的新令牌，请立即复制：它不会再次显示。",
    revoke: "撤销",
    no_tokens: "还没有令牌。",
    created: "创建时间",
    last_used: "最近使用",
    never: "从未",
    invalid_token_name: "令牌名称需为 1 到 100 个字符。",
    too_many_tokens: "最多 20 个令牌：请先撤销一个。",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_known_language() {
        assert_eq!(
            from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Some(Lang::Zh)
        );
        assert_eq!(
            from_accept_language("fr-FR,en;q=0.5,zh;q=0.4"),
            Some(Lang::En)
        );
        assert_eq!(
            from_accept_language("en;q=0.3, zh-TW;q=0.7"),
            Some(Lang::Zh)
        );
        assert_eq!(from_accept_language("fr, de"), None);
        assert_eq!(from_accept_language("zh;q=0"), None);
    }
}
