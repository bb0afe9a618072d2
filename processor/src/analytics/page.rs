//! Pages as the analytics name them: a route, not a URL. The SDK's `route` when it sent one,
//! else the URL's path without query or fragment, ids and hashes collapsed
//! (`/order/8812` → `/order/:id`); a project's own route patterns win over both.
//!
//! Input is hostile (any page can send any URL): a page name is at most [`MAX_LEN`] bytes
//! and [`MAX_SEGMENTS`] segments, whatever came in.

/// The longest page name.
pub const MAX_LEN: usize = 200;
/// Path segments kept; the rest become one `*`.
pub const MAX_SEGMENTS: usize = 12;
/// A segment longer than this is a value, not a name.
const MAX_SEGMENT_LEN: usize = 48;

/// A project's route patterns, tried in order.
#[derive(Debug, Default, Clone)]
pub struct Routes(Vec<Pattern>);

#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    segments: Vec<String>,
    /// Ends in `/*`: matches any rest.
    rest: bool,
}

impl Routes {
    /// Patterns as configured (checked there: `/…`, bounded).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Self {
        Self(
            patterns
                .iter()
                .map(|text| {
                    let text = text.as_ref();
                    let mut segments: Vec<String> = split(text).map(str::to_owned).collect();
                    let rest = segments.last().is_some_and(|s| s == "*");
                    if rest {
                        segments.pop();
                    }
                    Pattern {
                        text: text.to_owned(),
                        segments,
                        rest,
                    }
                })
                .collect(),
        )
    }

    fn matching(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = split(path).take(MAX_SEGMENTS * 4).collect();
        self.0
            .iter()
            .find(|pattern| {
                let enough = if pattern.rest {
                    segments.len() >= pattern.segments.len()
                } else {
                    segments.len() == pattern.segments.len()
                };
                enough
                    && pattern
                        .segments
                        .iter()
                        .zip(&segments)
                        .all(|(want, got)| want.starts_with(':') || want == got)
            })
            .map(|pattern| pattern.text.as_str())
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|segment| !segment.is_empty())
}

/// The page of an event with this `route` and `url`; `None` when neither says.
pub fn page(route: Option<&str>, url: Option<&str>, routes: &Routes) -> Option<String> {
    if let Some(route) = route.map(str::trim).filter(|r| !r.is_empty()) {
        // The SDK's route is already a name (`/order/:id`); still bounded and cleaned.
        let path = path_of(route);
        if let Some(pattern) = routes.matching(path) {
            return Some(pattern.to_owned());
        }
        return Some(normalise(path, false));
    }
    let path = path_of(url?);
    if let Some(pattern) = routes.matching(path) {
        return Some(pattern.to_owned());
    }
    Some(normalise(path, true))
}

/// The path of a URL or route: from the first `/` after the authority, before `?` or `#`.
fn path_of(url: &str) -> &str {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => url,
    }
}

/// `/a//b/8812/` → `/a/b/:id`: empty segments dropped, values collapsed when `collapse`,
/// at most [`MAX_SEGMENTS`] segments and [`MAX_LEN`] bytes.
fn normalise(path: &str, collapse: bool) -> String {
    let mut out = String::with_capacity(path.len().min(MAX_LEN));
    for (i, segment) in split(path).enumerate() {
        let segment = if i == MAX_SEGMENTS {
            "*"
        } else if collapse {
            collapsed(segment)
        } else {
            segment
        };
        if out.len() + 1 + segment.len() > MAX_LEN {
            // Cut at a segment: a name that ends mid-word would look like another page.
            out.push_str(if out.len() + 2 <= MAX_LEN { "/*" } else { "" });
            break;
        }
        out.push('/');
        out.push_str(segment);
        if i == MAX_SEGMENTS {
            break;
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// A segment that is a value (an id, a UUID, a hash, a token) becomes a placeholder.
fn collapsed(segment: &str) -> &str {
    let bytes = segment.as_bytes();
    if bytes.iter().all(u8::is_ascii_digit) {
        return ":id";
    }
    if is_uuid(segment) {
        return ":uuid";
    }
    let digits = bytes.iter().filter(|b| b.is_ascii_digit()).count();
    if bytes.len() >= 12 && digits > 0 && bytes.iter().all(u8::is_ascii_hexdigit) {
        return ":hash";
    }
    if bytes.len() > MAX_SEGMENT_LEN {
        return ":value";
    }
    // A long run of letters and digits mixed (`a8Zk29QpX0`) is a token, not a word.
    if bytes.len() >= 16 && digits * 4 >= bytes.len() {
        return ":hash";
    }
    segment
}

fn is_uuid(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(url: &str) -> String {
        page(None, Some(url), &Routes::default()).expect("a page")
    }

    #[test]
    fn urls_lose_query_fragment_and_ids() {
        assert_eq!(
            auto("https://shop.example/order/8812?utm=x#top"),
            "/order/:id"
        );
        assert_eq!(auto("https://shop.example"), "/");
        assert_eq!(auto("https://shop.example/"), "/");
        assert_eq!(auto("https://shop.example/cart/"), "/cart");
        assert_eq!(auto("/a//b///c"), "/a/b/c");
        assert_eq!(
            auto("https://x.example/u/3f2b8c9e-1d2a-4b3c-8d9e-0a1b2c3d4e5f/edit"),
            "/u/:uuid/edit"
        );
        assert_eq!(
            auto("https://x.example/assets/9f86d081884c7d65"),
            "/assets/:hash"
        );
        assert_eq!(
            auto("https://x.example/reset/aB3dE5gH7jK9mN1pQ"),
            "/reset/:hash"
        );
        // Words stay words, even long ones and ones with a digit.
        assert_eq!(
            auto("https://x.example/docs/getting-started"),
            "/docs/getting-started"
        );
        assert_eq!(auto("https://x.example/v2/checkout"), "/v2/checkout");
        assert_eq!(auto("https://x.example/deadbeef"), "/deadbeef");
    }

    #[test]
    fn routes_from_the_sdk_are_kept_and_patterns_win() {
        let none = Routes::default();
        assert_eq!(
            page(Some("/order/:id"), None, &none).as_deref(),
            Some("/order/:id")
        );
        // A route is the SDK's name: not collapsed further.
        assert_eq!(
            page(Some("/v/12"), Some("https://x/y"), &none).as_deref(),
            Some("/v/12")
        );
        assert_eq!(
            page(Some("  "), Some("https://x/y/7"), &none).as_deref(),
            Some("/y/:id")
        );
        assert_eq!(page(None, None, &none), None);
        let routes = Routes::new(&["/docs/*", "/u/:name", "/u/:name/settings"]);
        assert_eq!(
            page(None, Some("https://x/docs/a/b/c?q"), &routes).as_deref(),
            Some("/docs/*")
        );
        assert_eq!(
            page(None, Some("https://x/docs"), &routes).as_deref(),
            Some("/docs/*")
        );
        assert_eq!(
            page(None, Some("https://x/u/alice"), &routes).as_deref(),
            Some("/u/:name")
        );
        assert_eq!(
            page(None, Some("https://x/u/alice/settings"), &routes).as_deref(),
            Some("/u/:name/settings")
        );
        assert_eq!(
            page(None, Some("https://x/u/alice/x"), &routes).as_deref(),
            Some("/u/alice/x")
        );
        assert_eq!(
            page(Some("/u/bob"), None, &routes).as_deref(),
            Some("/u/:name")
        );
    }

    #[test]
    fn hostile_paths_are_bounded() {
        let deep = format!("https://x.example{}", "/seg".repeat(10_000));
        let page = auto(&deep);
        assert!(page.len() <= MAX_LEN, "{}", page.len());
        assert_eq!(
            page.split('/').filter(|s| !s.is_empty()).count(),
            MAX_SEGMENTS + 1
        );
        assert!(page.ends_with("/*"));
        let long = format!("https://x.example/{}", "a".repeat(100_000));
        assert_eq!(auto(&long), "/:value");
        let wide = format!(
            "https://x.example{}",
            format!("/{}", "word-".repeat(9)).repeat(50)
        );
        let page = auto(&wide);
        assert!(page.len() <= MAX_LEN && page.ends_with("/*"), "{page}");
        // Routes from the SDK are bounded the same way.
        let route = "/r".repeat(5_000);
        let page = super::page(Some(&route), None, &Routes::default()).expect("a page");
        assert!(page.len() <= MAX_LEN);
        // Multi-byte text is cut at a segment, never inside a character.
        let utf = format!("https://x.example{}", "/ünïcødé".repeat(100));
        assert!(auto(&utf).len() <= MAX_LEN);
        assert_eq!(auto("https://x.example/?a=/b/c"), "/");
        assert_eq!(auto("no-scheme-no-slash"), "/no-scheme-no-slash");
    }
}
