//! Stand-ins for the chat vendors and a mail server, for tests of the alerter's channels.
//!
//! [`ChatFake`] serves one robot of DingTalk, Feishu, WeCom or Slack on 127.0.0.1. It checks
//! each request the way the vendor does (the URL and its parameters, the body's shape and
//! size, the signature recomputed here with `hmac` directly, not with the alerter's code, and
//! the timestamp's age), answers the way the vendor does (its error codes in a 200, or its
//! statuses), enforces the vendor's documented rate limit (DingTalk blocks the robot for ten
//! minutes past 20 a minute), and records every request with its answer.
//!
//! [`SmtpSink`] is a mail server speaking just enough SMTP (EHLO, AUTH PLAIN and LOGIN,
//! MAIL, RCPT, DATA, RSET, NOOP, QUIT; no TLS) to receive messages and record them raw. It
//! can be told to refuse the next command at a stage with a given reply.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use shared::testing::eventually;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Which vendor a [`ChatFake`] plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    DingTalk,
    Feishu,
    WeCom,
    Slack,
}

impl Vendor {
    /// The vendor's documented limits: (window, most messages in it).
    fn default_limits(self) -> Vec<(Duration, usize)> {
        let minute = Duration::from_secs(60);
        let second = Duration::from_secs(1);
        match self {
            Vendor::DingTalk | Vendor::WeCom => vec![(minute, 20)],
            Vendor::Feishu => vec![(second, 5), (minute, 100)],
            Vendor::Slack => vec![(second, 1)],
        }
    }
}

/// One robot: its token (the URL's secret part), and its settings in the vendor's console.
#[derive(Debug, Clone)]
pub struct Robot {
    pub token: String,
    /// DingTalk's 加签 or Feishu's 签名校验 secret.
    pub secret: Option<String>,
    /// The security setting "custom keywords": a message must contain one.
    pub keywords: Vec<String>,
    /// None: the vendor's documented limits.
    pub limits: Option<Vec<(Duration, usize)>>,
    /// How long DingTalk blocks the robot once over its limit.
    pub block_for: Duration,
}

impl Robot {
    pub fn new(token: &str) -> Self {
        Self {
            token: token.to_owned(),
            secret: None,
            keywords: Vec::new(),
            limits: None,
            block_for: Duration::from_secs(600),
        }
    }

    pub fn secret(mut self, secret: &str) -> Self {
        self.secret = Some(secret.to_owned());
        self
    }

    pub fn keywords(mut self, keywords: &[&str]) -> Self {
        self.keywords = keywords.iter().map(|k| (*k).to_owned()).collect();
        self
    }

    pub fn limits(mut self, limits: Vec<(Duration, usize)>) -> Self {
        self.limits = Some(limits);
        self
    }
}

/// One request a fake received, and what it answered.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The query string as sent (still percent-encoded).
    pub raw_query: String,
    /// The query, decoded.
    pub query: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub at: Instant,
    pub status: u16,
    pub answer: String,
    /// Whether the vendor would have posted it.
    pub accepted: bool,
}

impl Request {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON: {e}"))
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn answer_json(&self) -> Value {
        serde_json::from_str(&self.answer).unwrap_or(Value::Null)
    }
}

/// An answer: status, body, extra headers, and whether the message was posted.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    body: String,
    headers: Vec<(&'static str, String)>,
    accepted: bool,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: body.to_string(),
            headers: Vec::new(),
            accepted: false,
        }
    }

    fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.to_owned(),
            headers: Vec::new(),
            accepted: false,
        }
    }

    fn accepted(mut self) -> Self {
        self.accepted = true;
        self
    }
}

struct State {
    vendor: Vendor,
    robot: Robot,
    limits: Vec<(Duration, usize)>,
    requests: Mutex<Vec<Request>>,
    /// When accepted messages were posted, for the rate limit.
    posted: Mutex<VecDeque<Instant>>,
    blocked_until: Mutex<Option<Instant>>,
    /// Answers to give next, before any check, whatever the request.
    scripted: Mutex<VecDeque<Reply>>,
}

/// A DingTalk, Feishu, WeCom or Slack robot on 127.0.0.1.
pub struct ChatFake {
    port: u16,
    state: Arc<State>,
    handle: ServerHandle,
}

impl ChatFake {
    pub fn dingtalk(robot: Robot) -> Self {
        Self::start(Vendor::DingTalk, robot)
    }

    pub fn feishu(robot: Robot) -> Self {
        Self::start(Vendor::Feishu, robot)
    }

    pub fn wecom(robot: Robot) -> Self {
        Self::start(Vendor::WeCom, robot)
    }

    pub fn slack(robot: Robot) -> Self {
        Self::start(Vendor::Slack, robot)
    }

    pub fn start(vendor: Vendor, robot: Robot) -> Self {
        let state = Arc::new(State {
            vendor,
            limits: robot
                .limits
                .clone()
                .unwrap_or_else(|| vendor.default_limits()),
            robot,
            requests: Mutex::new(Vec::new()),
            posted: Mutex::new(VecDeque::new()),
            blocked_until: Mutex::new(None),
            scripted: Mutex::new(VecDeque::new()),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("cannot bind the fake: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                // Bodies over the vendors' limits must reach the checks, not a 413 of ours.
                .app_data(web::PayloadConfig::new(1024 * 1024))
                .default_service(web::to(serve))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap_or_else(|e| panic!("{e}"))
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            port,
            state,
            handle,
        }
    }

    /// The robot's URL, as its console shows it.
    pub fn url(&self) -> String {
        self.url_for(&self.state.robot.token)
    }

    /// The URL of a robot of this vendor with another token (one that does not exist).
    pub fn url_for(&self, token: &str) -> String {
        let base = format!("http://127.0.0.1:{}", self.port);
        match self.state.vendor {
            Vendor::DingTalk => format!("{base}/robot/send?access_token={token}"),
            Vendor::Feishu => format!("{base}/open-apis/bot/v2/hook/{token}"),
            Vendor::WeCom => format!("{base}/cgi-bin/webhook/send?key={token}"),
            Vendor::Slack => format!("{base}/services/{token}"),
        }
    }

    /// Every request, in order, with its answer.
    pub fn received(&self) -> Vec<Request> {
        lock(&self.state.requests).clone()
    }

    /// The requests the vendor would have posted to the group.
    pub fn delivered(&self) -> Vec<Request> {
        self.received().into_iter().filter(|r| r.accepted).collect()
    }

    /// Answer the next request with `status` and `body`, whatever it is.
    pub fn answer_next(&self, status: u16, body: &str) {
        lock(&self.state.scripted).push_back(Reply::text(status, body));
    }

    /// Answer the next request with `status`, `body` and `Retry-After: retry_after`.
    pub fn answer_next_retry_after(&self, status: u16, body: &str, retry_after: u64) {
        let mut reply = Reply::text(status, body);
        reply.headers.push(("Retry-After", retry_after.to_string()));
        lock(&self.state.scripted).push_back(reply);
    }

    /// Forget the rate limit's history and lift a block.
    pub fn reset_limits(&self) {
        lock(&self.state.posted).clear();
        *lock(&self.state.blocked_until) = None;
    }

    /// Waits until `n` messages were posted.
    pub async fn wait_for(&self, n: usize) {
        eventually(
            &format!("{n} messages posted"),
            Duration::from_secs(30),
            || async { (self.delivered().len() >= n).then_some(()) },
        )
        .await;
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

async fn serve(request: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let raw_query = request.query_string().to_owned();
    let query = form_decode(&raw_query);
    let mut recorded = Request {
        method: request.method().to_string(),
        path: request.path().to_owned(),
        raw_query,
        query,
        content_type: request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.to_vec(),
        at: Instant::now(),
        status: 0,
        answer: String::new(),
        accepted: false,
    };
    let scripted = lock(&state.scripted).pop_front();
    let reply = match scripted {
        Some(reply) => reply,
        None => {
            let reply = match state.vendor {
                Vendor::DingTalk => dingtalk(&state, &recorded),
                Vendor::Feishu => feishu(&state, &recorded),
                Vendor::WeCom => wecom(&state, &recorded),
                Vendor::Slack => slack(&state, &recorded),
            };
            if reply.accepted {
                lock(&state.posted).push_back(recorded.at);
            }
            reply
        }
    };
    recorded.status = reply.status;
    recorded.answer = reply.body.clone();
    recorded.accepted = reply.accepted;
    lock(&state.requests).push(recorded);
    let mut response =
        HttpResponse::build(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK));
    for (name, value) in &reply.headers {
        response.insert_header((*name, value.as_str()));
    }
    if reply.body.starts_with('{') {
        response.content_type("application/json");
    } else {
        response.content_type("text/html");
    }
    response.body(reply.body)
}

/// `application/x-www-form-urlencoded` decoding, as servers read query strings (`+` is a
/// space, which is why a signature must be percent-encoded).
fn form_decode(query: &str) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(&format!("http://x/?{query}"))
        .unwrap_or_else(|e| panic!("query {query:?}: {e}"));
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Whether one more message fits the limits at `now`.
fn within_limits(state: &State, now: Instant) -> bool {
    let posted = lock(&state.posted);
    state
        .limits
        .iter()
        .all(|(window, most)| posted.iter().filter(|at| now - **at < *window).count() < *most)
}

fn has_keyword(state: &State, text: &str) -> bool {
    state.robot.keywords.is_empty() || state.robot.keywords.iter().any(|k| text.contains(k))
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// HMAC-SHA256 of `message` keyed with `key` equals the base64 `presented`.
fn hmac_matches(key: &[u8], message: &[u8], presented: &str) -> bool {
    let Ok(presented) = BASE64.decode(presented) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|e| panic!("HMAC key: {e}"));
    mac.update(message);
    mac.verify_slice(&presented).is_ok()
}

// ---- DingTalk: https://oapi.dingtalk.com/robot/send?access_token=… ----

fn dingtalk(state: &State, request: &Request) -> Reply {
    let error =
        |code: i64, message: &str| Reply::json(200, json!({"errcode": code, "errmsg": message}));
    if request.method != "POST" || request.path != "/robot/send" {
        return Reply::text(404, "Not Found");
    }
    if request.param("access_token") != Some(state.robot.token.as_str()) {
        return error(300001, "token is not exist");
    }
    if let Some(secret) = &state.robot.secret {
        let (Some(timestamp), Some(sign)) = (request.param("timestamp"), request.param("sign"))
        else {
            return error(310000, "sign not match, more: [missing timestamp or sign]");
        };
        let Ok(millis) = timestamp.parse::<i64>() else {
            return error(310000, "invalid timestamp");
        };
        if (now_millis() - millis).abs() > 3_600_000 {
            return error(310000, "invalid timestamp");
        }
        // The documentation says urlEncode(base64): `+`, `/` and `=` must arrive encoded.
        let raw_sign = request
            .raw_query
            .split('&')
            .find_map(|pair| pair.strip_prefix("sign="))
            .unwrap_or_default();
        let encoded = !raw_sign.contains(['+', '/', '=']);
        let message = format!("{millis}\n{secret}");
        if !encoded || !hmac_matches(secret.as_bytes(), message.as_bytes(), sign) {
            return error(310000, "sign not match, more: [https://open.dingtalk.com]");
        }
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return error(40035, "缺少参数 json");
    };
    let (title, text) = match body["msgtype"].as_str() {
        Some("markdown") => (
            body["markdown"]["title"].as_str().unwrap_or_default(),
            body["markdown"]["text"].as_str().unwrap_or_default(),
        ),
        Some("text") => ("", body["text"]["content"].as_str().unwrap_or_default()),
        _ => return error(40035, "缺少参数 msgtype"),
    };
    if text.is_empty() || (body["msgtype"] == "markdown" && title.is_empty()) {
        return error(40035, "缺少参数 markdown");
    }
    if !has_keyword(state, &format!("{title}\n{text}")) {
        return error(
            310000,
            "keywords not in content, more: [https://open.dingtalk.com]",
        );
    }
    let now = request.at;
    let mut blocked = lock(&state.blocked_until);
    if blocked.is_some_and(|until| now < until) {
        return error(130101, "send too fast, exceed 20 times per minute");
    }
    if !within_limits(state, now) {
        *blocked = Some(now + state.robot.block_for);
        return error(130101, "send too fast, exceed 20 times per minute");
    }
    error(0, "ok").accepted()
}

// ---- Feishu / Lark: https://open.feishu.cn/open-apis/bot/v2/hook/… ----

fn feishu(state: &State, request: &Request) -> Reply {
    let error = |status: u16, code: i64, message: &str| {
        Reply::json(status, json!({"code": code, "data": {}, "msg": message}))
    };
    let Some(token) = request.path.strip_prefix("/open-apis/bot/v2/hook/") else {
        return Reply::text(404, "404 page not found");
    };
    if request.method != "POST" {
        return Reply::text(405, "Method Not Allowed");
    }
    if token != state.robot.token {
        return error(
            200,
            19001,
            "param invalid: incoming webhook access token invalid",
        );
    }
    // Over 20 KB, or not JSON: the guide's "请求体格式错误".
    if request.body.len() > 20 * 1024 {
        return error(400, 9499, "Bad Request");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return error(400, 9499, "Bad Request");
    };
    if let Some(secret) = &state.robot.secret {
        let sign_fail = || {
            error(
                200,
                19021,
                "sign match fail or timestamp is not within one hour from current time",
            )
        };
        let (Some(timestamp), Some(sign)) = (body["timestamp"].as_str(), body["sign"].as_str())
        else {
            return sign_fail();
        };
        let Ok(seconds) = timestamp.parse::<i64>() else {
            return sign_fail();
        };
        if (now_millis() / 1000 - seconds).abs() > 3600 {
            return sign_fail();
        }
        // The key is what is signed; the message is empty.
        let key = format!("{seconds}\n{secret}");
        if !hmac_matches(key.as_bytes(), b"", sign) {
            return sign_fail();
        }
    }
    let text = match body["msg_type"].as_str() {
        Some("interactive") => match card_text(&body["card"]) {
            Some(text) => text,
            None => return error(400, 9499, "Bad Request"),
        },
        Some("text") => body["content"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        Some("post") => body["content"]["post"].to_string(),
        _ => return error(400, 9499, "Bad Request"),
    };
    if text.is_empty() {
        return error(400, 9499, "Bad Request");
    }
    if !has_keyword(state, &text) {
        return error(200, 19024, "Key Words Not Found");
    }
    if !within_limits(state, request.at) {
        return error(
            200,
            11232,
            "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]",
        );
    }
    Reply::json(
        200,
        json!({
            "StatusCode": 0,
            "StatusMessage": "success",
            "code": 0,
            "data": {},
            "msg": "success",
        }),
    )
    .accepted()
}

/// The text of a card whose shape Feishu would render, or None.
fn card_text(card: &Value) -> Option<String> {
    let mut text = vec![card["header"]["title"]["content"].as_str()?.to_owned()];
    if card["header"]["title"]["tag"] != "plain_text" && card["header"]["title"]["tag"] != "lark_md"
    {
        return None;
    }
    let text_of = |value: &Value| -> Option<String> {
        matches!(value["tag"].as_str(), Some("plain_text" | "lark_md"))
            .then(|| value["content"].as_str().map(str::to_owned))
            .flatten()
    };
    for element in card["elements"].as_array()? {
        match element["tag"].as_str()? {
            "div" => {
                if let Some(fields) = element["fields"].as_array() {
                    for field in fields {
                        text.push(text_of(&field["text"])?);
                    }
                } else {
                    text.push(text_of(&element["text"])?);
                }
            }
            "action" => {
                for action in element["actions"].as_array()? {
                    text.push(text_of(&action["text"])?);
                    action["url"].as_str()?;
                }
            }
            "hr" | "note" | "markdown" | "img" => {}
            _ => return None,
        }
    }
    Some(text.join("\n"))
}

// ---- WeCom: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=… ----

fn wecom(state: &State, request: &Request) -> Reply {
    let error =
        |code: i64, message: &str| Reply::json(200, json!({"errcode": code, "errmsg": message}));
    if request.method != "POST" || request.path != "/cgi-bin/webhook/send" {
        return Reply::text(404, "Not Found");
    }
    if request.param("key") != Some(state.robot.token.as_str()) {
        return error(
            93000,
            "invalid webhook url, hint: [1714572429_1], from ip: 127.0.0.1",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return error(40058, "invalid Request Parameter, hint: [not json]");
    };
    let content = match body["msgtype"].as_str() {
        Some("markdown") => body["markdown"]["content"].as_str(),
        Some("text") => body["text"]["content"].as_str(),
        _ => return error(40008, "invalid message type"),
    };
    let Some(content) = content.filter(|c| !c.is_empty()) else {
        return error(44004, "empty content");
    };
    if content.len() > 4096 {
        return error(
            40058,
            "markdown.content exceed max length 4096. invalid Request Parameter",
        );
    }
    if !within_limits(state, request.at) {
        return error(45009, "api freq out of limit, hint: [1714572429_2]");
    }
    error(0, "ok").accepted()
}

// ---- Slack: https://hooks.slack.com/services/… ----

fn slack(state: &State, request: &Request) -> Reply {
    let Some(token) = request.path.strip_prefix("/services/") else {
        return Reply::text(404, "no_service");
    };
    if request.method != "POST" {
        return Reply::text(405, "invalid_method");
    }
    if token != state.robot.token {
        return Reply::text(404, "no_service");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return Reply::text(400, "invalid_payload");
    };
    let text = body["text"].as_str().unwrap_or_default();
    let blocks = body["blocks"].as_array();
    if text.is_empty() && blocks.is_none_or(Vec::is_empty) {
        return Reply::text(400, "no_text");
    }
    if let Some(blocks) = blocks
        && !valid_blocks(blocks)
    {
        return Reply::text(400, "invalid_blocks");
    }
    if !within_limits(state, request.at) {
        let mut reply = Reply::text(429, "rate_limited");
        reply.headers.push(("Retry-After", "1".into()));
        return reply;
    }
    Reply::text(200, "ok").accepted()
}

/// Block Kit's rules for the blocks the alerter uses.
fn valid_blocks(blocks: &[Value]) -> bool {
    let text_ok = |text: &Value, max: usize, plain_only: bool| {
        let kind = text["type"].as_str();
        let kind_ok = if plain_only {
            kind == Some("plain_text")
        } else {
            matches!(kind, Some("plain_text" | "mrkdwn"))
        };
        kind_ok
            && text["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty() && t.chars().count() <= max)
    };
    blocks.len() <= 50
        && blocks.iter().all(|block| match block["type"].as_str() {
            Some("header") => text_ok(&block["text"], 150, true),
            Some("section") => match (block.get("text"), block["fields"].as_array()) {
                (Some(text), None) => text_ok(text, 3000, false),
                (None, Some(fields)) => {
                    !fields.is_empty()
                        && fields.len() <= 10
                        && fields.iter().all(|f| text_ok(f, 2000, false))
                }
                (Some(text), Some(fields)) => {
                    text_ok(text, 3000, false)
                        && fields.len() <= 10
                        && fields.iter().all(|f| text_ok(f, 2000, false))
                }
                (None, None) => false,
            },
            Some("context") => block["elements"]
                .as_array()
                .is_some_and(|e| !e.is_empty() && e.len() <= 10),
            Some("actions") => block["elements"].as_array().is_some_and(|elements| {
                !elements.is_empty()
                    && elements.len() <= 25
                    && elements.iter().all(|e| {
                        e["type"] == "button"
                            && text_ok(&e["text"], 75, true)
                            && e["url"].as_str().is_none_or(|u| u.chars().count() <= 3000)
                    })
            }),
            Some("divider") => true,
            _ => false,
        })
}

// ---- SMTP ----

/// One message the sink accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope's sender and recipients (MAIL FROM, RCPT TO), without the brackets.
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent after DATA, dot-stuffing removed, lines ending in CRLF.
    pub data: String,
    /// The user the connection authenticated as.
    pub user: Option<String>,
}

impl Mail {
    /// A header's value (the first of that name), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(current) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    current.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((key, rest)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim().to_owned());
            }
        }
        value
    }
}

/// Where in a conversation a scripted refusal applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Mail,
    Rcpt,
    /// After the message was sent, before it is accepted.
    Data,
}

#[derive(Default)]
struct SinkState {
    mails: Vec<Mail>,
    refusals: VecDeque<(Stage, String)>,
    connections: usize,
}

/// A mail server on 127.0.0.1 that keeps what it receives.
pub struct SmtpSink {
    port: u16,
    state: Arc<Mutex<SinkState>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    /// A sink that takes mail from anyone, or, with `credentials`, only after AUTH as them.
    pub async fn start(credentials: Option<(&str, &str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("cannot bind the SMTP sink: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        let state = Arc::new(Mutex::new(SinkState::default()));
        let credentials = credentials.map(|(u, p)| (u.to_owned(), p.to_owned()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                lock(&shared).connections += 1;
                let state = shared.clone();
                let credentials = credentials.clone();
                tokio::spawn(async move {
                    let _ = converse(stream, state, credentials).await;
                });
            }
        });
        Self { port, state, task }
    }

    /// The channel URL: SMTP without TLS.
    pub fn url(&self) -> String {
        format!("smtp+plain://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Mail> {
        lock(&self.state).mails.clone()
    }

    pub fn connections(&self) -> usize {
        lock(&self.state).connections
    }

    /// Answer `reply` (`451 4.7.1 Try again later`) the next time the stage comes.
    pub fn refuse_next(&self, stage: Stage, reply: &str) {
        lock(&self.state)
            .refusals
            .push_back((stage, reply.to_owned()));
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

fn refusal(state: &Mutex<SinkState>, stage: Stage) -> Option<String> {
    let mut state = lock(state);
    let index = state.refusals.iter().position(|(s, _)| *s == stage)?;
    state.refusals.remove(index).map(|(_, reply)| reply)
}

/// `<addr>` and any parameters after it → `addr`.
fn address(argument: &str) -> String {
    let argument = argument.trim();
    match (argument.find('<'), argument.find('>')) {
        (Some(start), Some(end)) if start < end => argument[start + 1..end].to_owned(),
        _ => argument
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

async fn converse(
    stream: tokio::net::TcpStream,
    state: Arc<Mutex<SinkState>>,
    credentials: Option<(String, String)>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    macro_rules! reply {
        ($text:expr) => {
            write.write_all(format!("{}\r\n", $text).as_bytes()).await?
        };
    }
    macro_rules! read_line {
        () => {{
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            line.trim_end_matches(['\r', '\n']).to_owned()
        }};
    }
    reply!("220 sink.test ESMTP frontmon test sink");
    let mut user: Option<String> = None;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    loop {
        let command = read_line!();
        let (verb, argument) = command
            .split_once(' ')
            .map_or((command.as_str(), ""), |(v, a)| (v, a));
        let verb = verb.to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                reply!("250-sink.test");
                reply!("250-8BITMIME");
                if credentials.is_some() {
                    reply!("250-AUTH PLAIN LOGIN");
                }
                reply!("250 SIZE 10485760");
            }
            "HELO" => reply!("250 sink.test"),
            "AUTH" => {
                let Some((expected_user, expected_password)) = &credentials else {
                    reply!("503 5.5.1 Error: authentication not enabled");
                    continue;
                };
                let mut parts = argument.split_whitespace();
                let mechanism = parts.next().unwrap_or_default().to_ascii_uppercase();
                let initial = parts.next().map(str::to_owned);
                let decode = |text: &str| {
                    BASE64
                        .decode(text.trim())
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .unwrap_or_default()
                };
                let (given_user, given_password) = match mechanism.as_str() {
                    "PLAIN" => {
                        let encoded = match initial {
                            Some(encoded) => encoded,
                            None => {
                                reply!("334 ");
                                read_line!()
                            }
                        };
                        let decoded = decode(&encoded);
                        let mut fields = decoded.split('\0');
                        let _authzid = fields.next();
                        (
                            fields.next().unwrap_or_default().to_owned(),
                            fields.next().unwrap_or_default().to_owned(),
                        )
                    }
                    "LOGIN" => {
                        let given_user = match initial {
                            Some(encoded) => decode(&encoded),
                            None => {
                                reply!("334 VXNlcm5hbWU6");
                                decode(&read_line!())
                            }
                        };
                        reply!("334 UGFzc3dvcmQ6");
                        (given_user, decode(&read_line!()))
                    }
                    _ => {
                        reply!("504 5.5.4 Unrecognized authentication type");
                        continue;
                    }
                };
                if &given_user == expected_user && &given_password == expected_password {
                    user = Some(given_user);
                    reply!("235 2.7.0 Authentication successful");
                } else {
                    reply!("535 5.7.8 Error: authentication failed");
                }
            }
            "MAIL" => {
                if credentials.is_some() && user.is_none() {
                    reply!("530 5.7.0 Authentication required");
                } else if let Some(refused) = refusal(&state, Stage::Mail) {
                    reply!(refused);
                } else {
                    from = Some(address(
                        argument
                            .trim_start_matches(|c| c != ':')
                            .trim_start_matches(':'),
                    ));
                    to.clear();
                    reply!("250 2.1.0 Ok");
                }
            }
            "RCPT" => {
                if from.is_none() {
                    reply!("503 5.5.1 Error: need MAIL command");
                } else if let Some(refused) = refusal(&state, Stage::Rcpt) {
                    reply!(refused);
                } else {
                    to.push(address(
                        argument
                            .trim_start_matches(|c| c != ':')
                            .trim_start_matches(':'),
                    ));
                    reply!("250 2.1.5 Ok");
                }
            }
            "DATA" => {
                if to.is_empty() {
                    reply!("503 5.5.1 Error: need RCPT command");
                    continue;
                }
                reply!("354 End data with <CR><LF>.<CR><LF>");
                let mut data = String::new();
                loop {
                    let text = read_line!();
                    if text == "." {
                        break;
                    }
                    data.push_str(text.strip_prefix('.').unwrap_or(&text));
                    data.push_str("\r\n");
                }
                if let Some(refused) = refusal(&state, Stage::Data) {
                    reply!(refused);
                } else {
                    lock(&state).mails.push(Mail {
                        from: from.take().unwrap_or_default(),
                        to: std::mem::take(&mut to),
                        data,
                        user: user.clone(),
                    });
                    reply!("250 2.0.0 Ok: queued");
                }
                from = None;
                to.clear();
            }
            "RSET" => {
                from = None;
                to.clear();
                reply!("250 2.0.0 Ok");
            }
            "NOOP" => reply!("250 2.0.0 Ok"),
            "QUIT" => {
                reply!("221 2.0.0 Bye");
                return Ok(());
            }
            _ => reply!("502 5.5.2 Error: command not recognized"),
        }
    }
}
