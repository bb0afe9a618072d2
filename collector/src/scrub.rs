//! Data scrubbing: what looks like a secret in an event is replaced with `[Filtered]` before
//! the event is published, so neither the broker, the processor's database nor the alerter's
//! messages ever hold it.
//!
//! Sentry's server-side data scrubbing (Relay's default rules) is the model. Two kinds of rule:
//!
//! - **By key name**, in the maps an event carries (tags, extra, breadcrumb data, a Sentry
//!   event's request, contexts, a custom event's data, …) and in `key=value` and
//!   `"key": "value"` pairs inside text (query strings, form bodies, logged JSON): the value
//!   of a key that contains `password`, `secret`, `token`, `apikey`, `auth` (not `author`),
//!   `credential`, `cookie`, `session`, `csrf`, … ([`SENSITIVE_KEYS`]), or one of the
//!   project's `scrub_fields`, whatever it is.
//! - **By value**, anywhere in text: bearer tokens, JWTs, card numbers (13 to 19 digits with a
//!   card network's prefix, Luhn-checked), IBANs (mod-97-checked), the credentials in a URL
//!   (`https://user:pass@host`), and e-mail addresses when the project asks.
//!
//! Cost: each string is scanned once, byte by byte, looking only for the few bytes a match can
//! start at; nothing is allocated unless something matches. Ids, times, the release, the
//! route, stack frames' source lines and the User-Agent are not scanned: they hold no secrets
//! a rule could tell apart, and scrubbing them would break grouping and filtering.

use serde_json::{Map, Value};
use shared::config::Project;
use shared::event::{Detail, Event};

/// What a scrubbed value becomes, as in Sentry.
pub const FILTERED: &str = "[Filtered]";

/// Parts of key names whose values are always scrubbed, compared with the key lower-cased
/// and stripped of everything but letters and digits (`X-Api-Key` is `xapikey`); the
/// matcher (`Rules::is_sensitive_normalized`) spells them out by first letter, and a unit
/// test checks that it finds each of these.
pub const SENSITIVE_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "credential",
    "cookie",
    "session",
    "sessid",
    "csrf",
    "xsrf",
    "privatekey",
    "jwt",
    "bearer",
    "signature",
    "authoriz",
];

/// Key names scrubbed only when they are the whole key: as parts they are in too many
/// harmless names. (`auth` is a part too, but not in `author`.)
const SENSITIVE_WHOLE_KEYS: &[&str] = &["otp", "cvv", "cvc", "pin", "ssn"];

/// A project's scrubbing rules.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    emails: bool,
    /// The project's `scrub_fields`.
    fields: &'a [String],
}

impl<'a> Rules<'a> {
    /// The project's rules; `None` when it turned scrubbing off.
    pub fn for_project(project: &'a Project) -> Option<Self> {
        project.scrub.then_some(Self {
            emails: project.scrub_emails,
            fields: &project.scrub_fields,
        })
    }

    /// Whether the value of `key` is scrubbed whatever it is.
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        let mut buffer = [0u8; 64];
        let mut len = 0;
        for byte in key.bytes().filter(u8::is_ascii_alphanumeric) {
            if len == buffer.len() {
                // Longer keys are rare: read them the slow way.
                return self.is_sensitive_long_key(key);
            }
            buffer[len] = byte.to_ascii_lowercase();
            len += 1;
        }
        let normalized = &buffer[..len];
        self.is_sensitive_normalized(normalized)
            || self
                .fields
                .iter()
                .any(|field| contains_ignore_case(key, field))
    }

    fn is_sensitive_long_key(&self, key: &str) -> bool {
        let normalized: Vec<u8> = key
            .bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| b.to_ascii_lowercase())
            .collect();
        self.is_sensitive_normalized(&normalized)
            || self
                .fields
                .iter()
                .any(|field| contains_ignore_case(key, field))
    }

    fn is_sensitive_normalized(&self, key: &[u8]) -> bool {
        if key.len() <= 3 && SENSITIVE_WHOLE_KEYS.iter().any(|k| same(key, k.as_bytes())) {
            return true;
        }
        // Every key of every map is asked, so no search per word: each position is looked at
        // once, and only the words starting with its byte are compared there.
        let mut auth = false;
        for at in 0..key.len() {
            let rest = &key[at..];
            let words: &[&str] = match key[at] {
                b'p' => &["password", "passwd", "pwd", "privatekey"],
                b's' => &["secret", "session", "sessid", "signature"],
                b't' => &["token"],
                b'a' => {
                    if starts(rest, b"auth") {
                        // `author` is no secret, `authorization` is.
                        auth |= !starts(rest, b"author") || starts(rest, b"authoriz");
                    }
                    &["apikey"]
                }
                b'c' => &["credential", "cookie", "csrf"],
                b'x' => &["xsrf"],
                b'j' => &["jwt"],
                b'b' => &["bearer"],
                _ => continue,
            };
            if auth || words.iter().any(|word| starts(rest, word.as_bytes())) {
                return true;
            }
        }
        auth
    }
}

/// Whether `haystack` starts with `needle`, compared byte by byte: these are a few bytes long,
/// and a call to `memcmp` per position cost more than the comparison.
fn starts(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.len() >= needle.len() && haystack.iter().zip(needle).all(|(a, b)| a == b)
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && starts(a, b)
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .as_bytes()
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Scrubs `events` by `project`'s rules, in place: what every endpoint does to its events
/// just before they become messages.
pub fn events(events: &mut [Event], project: &Project) {
    if let Some(rules) = Rules::for_project(project) {
        for one in events {
            event(one, rules);
        }
    }
}

/// Scrubs `event` by `rules`, in place.
pub fn event(event: &mut Event, rules: Rules<'_>) {
    let text = |s: &mut String| text(s, rules);
    let opt = |s: &mut Option<String>| {
        if let Some(s) = s {
            text(s);
        }
    };
    opt(&mut event.message);
    opt(&mut event.stack);
    opt(&mut event.url);
    if let Some(user) = &mut event.user {
        // The id is who the event happened to, chosen by the site; the address is `store_ip`'s.
        if rules.emails {
            user.email = None;
        }
        opt(&mut user.username);
        map(&mut user.other, rules);
    }
    for (key, value) in &mut event.tags {
        if rules.is_sensitive_key(key) {
            FILTERED.clone_into(value);
        } else {
            text(value);
        }
    }
    for breadcrumb in &mut event.breadcrumbs {
        opt(&mut breadcrumb.message);
        if let Some(data) = &mut breadcrumb.data {
            map(data, rules);
        }
    }
    map(&mut event.extra, rules);
    map(&mut event.contexts, rules);
    map(&mut event.sentry, rules);
    for exception in &mut event.exceptions {
        opt(&mut exception.value);
        for frame in exception.frames.iter_mut().chain(&mut exception.raw_frames) {
            opt(&mut frame.abs_path);
        }
    }
    match &mut event.detail {
        Detail::ResourceError { target, .. } | Detail::ApiError { target, .. } => text(target),
        Detail::Vital {
            attribution: Some(attribution),
            ..
        } => map(attribution, rules),
        Detail::Pageview { referrer, title } => {
            opt(referrer);
            opt(title);
        }
        Detail::Click { text: clicked, .. } => opt(clicked),
        Detail::Custom {
            data: Some(data), ..
        } => value(data, rules),
        Detail::Transaction { name, .. } => text(name),
        _ => {}
    }
}

/// Scrubs every value of `map`: all of a sensitive key's, and what the value rules find in
/// the others.
pub fn map(map: &mut Map<String, Value>, rules: Rules<'_>) {
    for (key, entry) in map.iter_mut() {
        if rules.is_sensitive_key(key) {
            filter(entry);
        } else {
            value(entry, rules);
        }
    }
}

/// A sensitive key's value: all of it, unless there is nothing to hide.
fn filter(entry: &mut Value) {
    match entry {
        Value::Null | Value::Bool(_) => {}
        Value::String(s) if s.is_empty() => {}
        _ => *entry = Value::String(FILTERED.to_owned()),
    }
}

fn value(entry: &mut Value, rules: Rules<'_>) {
    match entry {
        Value::String(s) => text(s, rules),
        Value::Number(n) => {
            // A card number sent as a JSON number.
            if n.as_u64().is_some_and(is_card_number) {
                *entry = Value::String(FILTERED.to_owned());
            }
        }
        Value::Array(items) => {
            // Sentry sends headers, cookies and query strings as lists of pairs too
            // (`[["Authorization", "Bearer …"]]`).
            for item in items {
                match item {
                    Value::Array(pair) if pair.len() == 2 => {
                        let sensitive = pair[0].as_str().is_some_and(|k| rules.is_sensitive_key(k));
                        if sensitive {
                            filter(&mut pair[1]);
                        } else {
                            value(&mut pair[1], rules);
                        }
                    }
                    _ => value(item, rules),
                }
            }
        }
        Value::Object(object) => map(object, rules),
        Value::Null | Value::Bool(_) => {}
    }
}

fn is_card_number(n: u64) -> bool {
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut rest = n;
    while rest > 0 {
        digits[len] = (rest % 10) as u8;
        rest /= 10;
        len += 1;
    }
    digits[..len].reverse();
    card(&digits[..len])
}

/// Scrubs what the value rules find in `s`, in place. A string without a match is neither
/// copied nor changed.
pub fn text(s: &mut String, rules: Rules<'_>) {
    if let Some(scrubbed) = scrubbed(s, rules) {
        *s = scrubbed;
    }
}

/// `s` with every match replaced, or `None` when nothing matched.
fn scrubbed(s: &str, rules: Rules<'_>) -> Option<String> {
    let bytes = s.as_bytes();
    // Ranges to replace, in order and not overlapping; allocated at the first match.
    let mut found: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if !TRIGGERS[usize::from(byte)] {
            at += 1;
            continue;
        }
        let starts_word = at == 0 || !is_word(bytes[at - 1]);
        let matched = match byte {
            b'0'..=b'9' if starts_word => card_at(bytes, at),
            b'e' if starts_word => jwt_at(bytes, at),
            b'b' | b'B' if starts_word => bearer_at(bytes, at),
            b'A'..=b'Z' if starts_word => iban_at(bytes, at),
            b'=' => pair_value_at(bytes, at, rules),
            b':' if at > 0 && bytes[at - 1] == b'"' => json_value_at(bytes, at, rules),
            b'@' => url_auth_at(bytes, at).or_else(|| {
                if rules.emails {
                    email_at(bytes, at)
                } else {
                    None
                }
            }),
            _ => None,
        };
        match matched {
            Some((start, end)) if end > start => {
                // A match that starts inside the previous one (an e-mail address found from
                // its `@`, after the key it follows) joins it.
                match found.last_mut() {
                    Some(last) if start < last.1 => last.1 = last.1.max(end),
                    _ => found.push((start, end)),
                }
                at = end.max(at + 1);
            }
            _ => at += 1,
        }
    }
    if found.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    for (start, end) in found {
        out.push_str(&s[copied..start]);
        out.push_str(FILTERED);
        copied = end;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

/// The bytes a match can start at (see `scrubbed`): any other byte is skipped with one look
/// into this table.
static TRIGGERS: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] =
            matches!(byte as u8, b'0'..=b'9' | b'A'..=b'Z' | b'e' | b'b' | b'=' | b':' | b'@');
        byte += 1;
    }
    table
};

fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// A card number starting at `at`: 13 to 19 digits, single spaces or dashes allowed between
/// them, starting as a card network's numbers do, and passing the Luhn check; not followed by
/// another digit or letter.
fn card_at(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut digits = [0u8; 19];
    let mut count = 0;
    let mut end = at;
    let mut i = at;
    while i < bytes.len() {
        match bytes[i] {
            digit @ b'0'..=b'9' => {
                if count == digits.len() {
                    return None;
                }
                digits[count] = digit - b'0';
                count += 1;
                i += 1;
                end = i;
            }
            b' ' | b'-' if i + 1 < bytes.len() && bytes[i + 1].is_ascii_digit() && end == i => {
                i += 1;
            }
            _ => break,
        }
    }
    if end < bytes.len() && is_word(bytes[end]) {
        return None;
    }
    card(&digits[..count]).then_some((at, end))
}

fn card(digits: &[u8]) -> bool {
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let prefix = |n: usize| {
        digits[..n]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(*d))
    };
    let network = match digits[0] {
        4 => true,                                                    // Visa
        5 => (51..=55).contains(&prefix(2)),                          // Mastercard
        2 => (2221..=2720).contains(&prefix(4)),                      // Mastercard, 2-series
        3 => matches!(prefix(2), 34 | 37 | 35 | 36 | 30 | 38 | 39),   // Amex, JCB, Diners
        6 => prefix(4) == 6011 || prefix(2) == 65 || prefix(2) == 62, // Discover, UnionPay
        _ => false,
    };
    network && luhn(digits)
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// A JWT: `eyJ…` (a base64url JSON header), a dot, a payload, a dot, and a signature.
fn jwt_at(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    if !starts(&bytes[at..], b"eyJ") {
        return None;
    }
    let mut i = at;
    for part in 0..3 {
        let start = i;
        while i < bytes.len() && is_base64url(bytes[i]) {
            i += 1;
        }
        if i - start < 2 && part < 2 {
            return None;
        }
        if part < 2 {
            if i >= bytes.len() || bytes[i] != b'.' {
                return None;
            }
            i += 1;
        }
    }
    Some((at, i))
}

/// `Bearer <token>`: the token.
fn bearer_at(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let word = bytes.get(at..at + 6)?;
    if !word.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let mut i = at + 6;
    let spaces = i;
    while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
        i += 1;
    }
    if i == spaces {
        return None;
    }
    let start = i;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'"' | b'\'') {
        i += 1;
    }
    (i - start >= 8).then_some((start, i))
}

/// An IBAN: a country code, two check digits and 11 to 30 letters and digits, in groups of
/// four separated by spaces or not, that passes the mod-97 check.
fn iban_at(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let head = bytes.get(at..at + 4)?;
    if !(head[0].is_ascii_uppercase()
        && head[1].is_ascii_uppercase()
        && head[2].is_ascii_digit()
        && head[3].is_ascii_digit())
    {
        return None;
    }
    let mut chars = [0u8; 34];
    chars[..4].copy_from_slice(head);
    let mut count = 4;
    let mut i = at + 4;
    let mut end = i;
    while i < bytes.len() && count < chars.len() {
        let byte = bytes[i];
        if byte.is_ascii_uppercase() || byte.is_ascii_digit() {
            chars[count] = byte;
            count += 1;
            i += 1;
            end = i;
        } else if byte == b' '
            && i + 1 < bytes.len()
            && (bytes[i + 1].is_ascii_uppercase() || bytes[i + 1].is_ascii_digit())
        {
            i += 1;
        } else {
            break;
        }
    }
    if !(15..=34).contains(&count) || (end < bytes.len() && is_word(bytes[end])) {
        return None;
    }
    // Mod 97 of the number made of the rest, then the first four, letters as 10 to 35.
    let mut remainder = 0u32;
    for &c in chars[4..count].iter().chain(&chars[..4]) {
        remainder = if c.is_ascii_digit() {
            (remainder * 10 + u32::from(c - b'0')) % 97
        } else {
            (remainder * 100 + u32::from(c - b'A' + 10)) % 97
        };
    }
    (remainder == 1).then_some((at, end))
}

/// The key that ends just before `end`: letters, digits and `_-.[]`.
fn key_before(bytes: &[u8], end: usize) -> &[u8] {
    let mut start = end;
    while start > 0
        && (is_word(bytes[start - 1]) || matches!(bytes[start - 1], b'-' | b'.' | b'[' | b']'))
    {
        start -= 1;
    }
    &bytes[start..end]
}

/// `key=value` (a query string, a form body, a log line) with a sensitive key: the value, up
/// to the next `&`, `;`, `#`, quote or white space.
fn pair_value_at(bytes: &[u8], at: usize, rules: Rules<'_>) -> Option<(usize, usize)> {
    let key = key_before(bytes, at);
    if key.is_empty() || !rules.is_sensitive_key(std::str::from_utf8(key).ok()?) {
        return None;
    }
    let start = at + 1;
    let mut end = start;
    while end < bytes.len()
        && !matches!(bytes[end], b'&' | b';' | b'#' | b'"' | b'\'' | b',')
        && !bytes[end].is_ascii_whitespace()
    {
        end += 1;
    }
    Some((start, end))
}

/// `"key": value` (JSON inside a string: a logged request body) with a sensitive key: the
/// value, a string up to its closing quote or a scalar up to `,`, `}` or `]`.
fn json_value_at(bytes: &[u8], at: usize, rules: Rules<'_>) -> Option<(usize, usize)> {
    // `at - 1` is the key's closing quote.
    let close = at - 1;
    let open = bytes[..close].iter().rposition(|&b| b == b'"')?;
    if close - open > 128
        || !rules.is_sensitive_key(std::str::from_utf8(&bytes[open + 1..close]).ok()?)
    {
        return None;
    }
    let mut i = at + 1;
    while i < bytes.len() && bytes[i] == b' ' {
        i += 1;
    }
    if bytes.get(i) == Some(&b'"') {
        let start = i + 1;
        let mut end = start;
        while end < bytes.len() && bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        Some((start, end.min(bytes.len())))
    } else {
        let start = i;
        let mut end = start;
        while end < bytes.len()
            && !matches!(bytes[end], b',' | b'}' | b']')
            && !bytes[end].is_ascii_whitespace()
        {
            end += 1;
        }
        // `null`, `true`, `false` hide nothing.
        let scalar = &bytes[start..end];
        let hides_nothing = scalar.is_empty()
            || same(scalar, b"null")
            || same(scalar, b"true")
            || same(scalar, b"false");
        (!hides_nothing).then_some((start, end))
    }
}

/// `scheme://user:password@host`: the user and password.
fn url_auth_at(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut start = at;
    while start > 0 {
        let byte = bytes[start - 1];
        if byte == b'/' {
            break;
        }
        if !(is_word(byte) || matches!(byte, b':' | b'.' | b'-' | b'%' | b'~' | b'!' | b'$' | b'+'))
        {
            return None;
        }
        start -= 1;
    }
    (start >= 3
        && &bytes[start - 3..start] == b"://"
        && at > start
        && bytes[start..at].contains(&b':'))
    .then_some((start, at))
}

/// An e-mail address around the `@` at `at`.
fn email_at(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut start = at;
    while start > 0
        && (is_word(bytes[start - 1]) || matches!(bytes[start - 1], b'.' | b'+' | b'-' | b'%'))
    {
        start -= 1;
    }
    let mut end = at + 1;
    while end < bytes.len()
        && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'.' | b'-'))
    {
        end += 1;
    }
    // Not a trailing dot: "write to a@b.example."
    while end > at + 1 && bytes[end - 1] == b'.' {
        end -= 1;
    }
    let domain = &bytes[at + 1..end];
    let valid = start < at
        && domain.contains(&b'.')
        && domain
            .rsplit(|&b| b == b'.')
            .next()
            .is_some_and(|tld| tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic));
    valid.then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(emails: bool, fields: &[&str]) -> Project {
        let mut project: Project = serde_json::from_value(serde_json::json!({
            "id": 1,
            "name": "shop",
            "public_key": "0123456789abcdef0123456789abcdef",
        }))
        .expect("a project");
        project.scrub_emails = emails;
        project.scrub_fields = fields.iter().map(|f| (*f).to_owned()).collect();
        project
    }

    fn scrub(text: &str) -> String {
        let project = project(false, &[]);
        let rules = Rules::for_project(&project).expect("on by default");
        let mut text = text.to_owned();
        super::text(&mut text, rules);
        text
    }

    #[test]
    fn keys_are_matched_by_their_parts() {
        let project = project(false, &["birth"]);
        let rules = Rules::for_project(&project).expect("on");
        for key in [
            "password",
            "user_password",
            "PASSWD",
            "mysql_pwd",
            "client_secret",
            "access_token",
            "X-Api-Key",
            "apiKey",
            "api_key",
            "Authorization",
            "auth",
            "oauth_state",
            "credentials",
            "Cookie",
            "set-cookie",
            "sessionid",
            "PHPSESSID",
            "csrf_token",
            "X-XSRF-TOKEN",
            "private_key",
            "X-Amz-Signature",
            "otp",
            "cvv",
            "date_of_birth",
        ] {
            assert!(rules.is_sensitive_key(key), "{key}");
        }
        for key in [
            "author",
            "url",
            "id",
            "method",
            "status_code",
            "keyboard",
            "component",
            "pinned",
            "topic",
        ] {
            assert!(!rules.is_sensitive_key(key), "{key}");
        }
        for key in SENSITIVE_KEYS.iter().chain(SENSITIVE_WHOLE_KEYS) {
            assert!(rules.is_sensitive_key(key), "{key}");
            assert!(
                rules.is_sensitive_key(&format!("x_{key}")) || key.len() <= 3,
                "{key}"
            );
        }
        let long = format!("{}_password", "x".repeat(100));
        assert!(rules.is_sensitive_key(&long));
    }

    #[test]
    fn query_strings_and_form_bodies_lose_their_secrets_only() {
        assert_eq!(
            scrub("https://shop.example/cb?code=1&token=abc123&next=/home#top"),
            "https://shop.example/cb?code=1&token=[Filtered]&next=/home#top"
        );
        assert_eq!(
            scrub("username=bob&password=hunter2"),
            "username=bob&password=[Filtered]"
        );
        assert_eq!(scrub("api_key=AKIA1234 sent"), "api_key=[Filtered] sent");
        let plain = "https://shop.example/search?q=shoes&page=2";
        assert_eq!(scrub(plain), plain);
    }

    #[test]
    fn json_in_text_loses_sensitive_values() {
        assert_eq!(
            scrub(r#"{"user":"bob","password":"hunter2","remember":true}"#),
            r#"{"user":"bob","password":"[Filtered]","remember":true}"#
        );
        assert_eq!(scrub(r#"{"pin": 1234}"#), r#"{"pin": [Filtered]}"#);
        assert_eq!(scrub(r#"{"token": null}"#), r#"{"token": null}"#);
    }

    #[test]
    fn bearer_tokens_and_jwts_are_found_anywhere() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(
            scrub(&format!(
                "GET https://api.example/me?x=1&jwt_in_path=no /v1/{jwt}/x"
            )),
            "GET https://api.example/me?x=1&jwt_in_path=[Filtered] /v1/[Filtered]/x"
        );
        assert_eq!(
            scrub(&format!("failed with {jwt}.")),
            "failed with [Filtered]."
        );
        assert_eq!(
            scrub("Authorization: Bearer abcdef0123456789"),
            "Authorization: Bearer [Filtered]"
        );
        assert_eq!(scrub("the bearer of bad news"), "the bearer of bad news");
    }

    #[test]
    fn card_numbers_are_found_when_they_pass_luhn() {
        assert_eq!(
            scrub("card 4111 1111 1111 1111 declined"),
            "card [Filtered] declined"
        );
        assert_eq!(scrub("card 4111-1111-1111-1111"), "card [Filtered]");
        assert_eq!(
            scrub("paid with 5555555555554444."),
            "paid with [Filtered]."
        );
        assert_eq!(scrub("amex 378282246310005"), "amex [Filtered]");
        // An order number of 16 digits that fails Luhn, a millisecond timestamp, a phone.
        for kept in [
            "order 4111111111111112 shipped",
            "at 1700000000123",
            "call +49 30 1234567",
            "id 12345678901234567890",
            "v4111111111111111",
        ] {
            assert_eq!(scrub(kept), kept);
        }
    }

    #[test]
    fn ibans_are_found_when_they_check() {
        assert_eq!(scrub("to DE89370400440532013000 now"), "to [Filtered] now");
        assert_eq!(scrub("GB82 WEST 1234 5698 7654 32"), "[Filtered]");
        assert_eq!(scrub("DE89370400440532013001"), "DE89370400440532013001");
        assert_eq!(scrub("ABCD1234567890123"), "ABCD1234567890123");
    }

    #[test]
    fn url_credentials_are_found() {
        assert_eq!(
            scrub("fetch https://bob:hunter2@api.example/x failed"),
            "fetch https://[Filtered]@api.example/x failed"
        );
        assert_eq!(scrub("git@github.com:x/y"), "git@github.com:x/y");
    }

    #[test]
    fn emails_only_when_the_project_asks() {
        assert_eq!(scrub("mail bob@shop.example"), "mail bob@shop.example");
        let project = project(true, &[]);
        let rules = Rules::for_project(&project).expect("on");
        let mut text = "mail bob.s+x@shop.example. or @home".to_owned();
        super::text(&mut text, rules);
        assert_eq!(text, "mail [Filtered]. or @home");
    }

    #[test]
    fn maps_lose_values_of_sensitive_keys_and_pairs_lists_too() {
        let project = project(false, &["iban"]);
        let rules = Rules::for_project(&project).expect("on");
        let mut data = serde_json::json!({
            "headers": [["Authorization", "Basic Ym9iOmh1bnRlcjI="], ["Accept", "text/html"]],
            "cookies": {"theme": "dark"},
            "customer_iban": "x",
            "nested": {"api_key": 12345, "ok": "fine", "card": 4111111111111111u64},
            "password": "",
        });
        map(data.as_object_mut().expect("an object"), rules);
        assert_eq!(
            data,
            serde_json::json!({
                "headers": [["Authorization", "[Filtered]"], ["Accept", "text/html"]],
                "cookies": "[Filtered]",
                "customer_iban": "[Filtered]",
                "nested": {"api_key": "[Filtered]", "ok": "fine", "card": "[Filtered]"},
                "password": "",
            })
        );
    }

    #[test]
    fn a_project_can_turn_scrubbing_off() {
        let mut project = project(true, &[]);
        project.scrub = false;
        assert!(Rules::for_project(&project).is_none());
    }

    #[test]
    fn text_without_a_match_is_not_copied() {
        let project = project(false, &[]);
        let rules = Rules::for_project(&project).expect("on");
        assert!(
            scrubbed(
                "TypeError: x is undefined at https://shop.example/app.js?v=3:10:5",
                rules
            )
            .is_none()
        );
    }
}
