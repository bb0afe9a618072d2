//! User-Agent parsing: Sentry's `browser`, `os` and `device` contexts, derived from the page's
//! User-Agent the way Sentry's ingest derives them server-side.
//!
//! One [`UserAgents`] is built at startup and shared behind an `Arc`; [`UserAgents::contexts`]
//! turns a User-Agent into the three contexts, from a bounded cache when the same User-Agent
//! was seen lately (real traffic repeats a few hundred of them).
//!
//! The parser is `woothee`: self-contained, no dataset to load, 2 to 4 MiB resident once its
//! regexes are in use, 1 to 3 µs a parse. uap's `ua-parser`, maintained and richer (device
//! models and brands), was measured too: 25 MiB resident once its 1,196 regexes are compiled,
//! and its regex caches grow by about 45 MiB more for every thread that parses unusual
//! User-Agents, beyond what this service may use (under 30 MiB idle, 100 MiB at peak). What
//! woothee does not know is left out (the device of an Android phone), never guessed.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value};
use woothee::parser::{Parser, WootheeResult};
use woothee::woothee::VALUE_UNKNOWN;

/// How many distinct User-Agents stay parsed. Real traffic repeats a few hundred; a
/// User-Agent is at most 512 characters (the collector truncates longer ones), so a full cache
/// holds under 3 MiB, most of it the contexts' maps.
const CACHE_CAPACITY: usize = 1_000;

/// Parses User-Agents into Sentry's contexts, and remembers the latest ones.
pub struct UserAgents {
    parser: Parser,
    /// Held only to look up or insert, never while parsing.
    cache: Mutex<Cache>,
}

impl UserAgents {
    /// The parser, with room for 1,000 User-Agents in its cache.
    pub fn new() -> Self {
        Self::with_capacity(CACHE_CAPACITY)
    }

    fn with_capacity(capacity: usize) -> Self {
        Self {
            parser: Parser::new(),
            cache: Mutex::new(Cache::new(capacity)),
        }
    }

    /// The `browser`, `os` and `device` contexts of `user_agent`, each left out when unknown:
    ///
    /// ```json
    /// {"browser": {"name": "Chrome", "version": "120.0.6099", "type": "browser"},
    ///  "os": {"name": "Windows", "version": "10", "type": "os"}}
    /// ```
    ///
    /// The same User-Agent gives the same `Arc` while it stays in the cache.
    pub fn contexts(&self, user_agent: &str) -> Arc<Map<String, Value>> {
        if let Some(contexts) = self.lock_cache().get(user_agent) {
            return contexts;
        }
        let contexts = Arc::new(self.parse(user_agent));
        self.lock_cache().insert(user_agent, contexts)
    }

    // The cache holds no invariant that a panic elsewhere could have broken halfway.
    fn lock_cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn parse(&self, user_agent: &str) -> Map<String, Value> {
        let mut contexts = Map::new();
        let Some(parsed) = self.parser.parse(user_agent) else {
            return contexts;
        };
        if let Some(browser) = browser(&parsed, user_agent) {
            contexts.insert("browser".to_owned(), Value::Object(browser));
        }
        if let Some(os) = os(&parsed) {
            contexts.insert("os".to_owned(), Value::Object(os));
        }
        if let Some(device) = device(&parsed) {
            contexts.insert("device".to_owned(), Value::Object(device));
        }
        contexts
    }
}

impl Default for UserAgents {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for UserAgents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserAgents").finish_non_exhaustive()
    }
}

fn browser(parsed: &WootheeResult<'_>, user_agent: &str) -> Option<Map<String, Value>> {
    let name = match known(parsed.name)? {
        // woothee reads HeadlessChrome's `Chrome/` token; headless runs are robots, not users.
        "Chrome" if user_agent.contains("HeadlessChrome/") => "HeadlessChrome",
        // woothee names it by its User-Agent token, not by the product.
        "SamsungBrowser" => "Samsung Internet",
        name => name,
    };
    // Sentry's browser versions stop at the patch number: 120.0.6099, not 120.0.6099.130.
    let version = version(parsed.version).map(|version| {
        let end = version
            .match_indices('.')
            .nth(2)
            .map_or(version.len(), |(at, _)| at);
        &version[..end]
    });
    Some(context(
        "browser",
        [("name", Some(name)), ("version", version)],
    ))
}

fn os(parsed: &WootheeResult<'_>) -> Option<Map<String, Value>> {
    let name = known(parsed.os)?;
    // woothee's own version is its last word: "NT 10.0" for Windows, "x86_64 14541.0.0" for
    // Chrome OS.
    let version = parsed.os_version.rsplit(' ').next().and_then(version);
    // Sentry's names: woothee folds the Windows version into the name and names iOS by the
    // device it runs on.
    let (name, version) = match name {
        "Windows UNKNOWN Ver" => ("Windows", None),
        "Windows Phone OS" => ("Windows Phone", version),
        // Not Windows releases, unlike the other "Windows …" names.
        "Windows CE" => ("Windows CE", version),
        "Mac OSX" => ("Mac OS X", version),
        "iPhone" | "iPad" | "iPod" => ("iOS", version),
        "ChromeOS" => ("Chrome OS", version),
        name => match name.strip_prefix("Windows ") {
            Some(release) => ("Windows", Some(release)),
            None => (name, version),
        },
    };
    Some(context("os", [("name", Some(name)), ("version", version)]))
}

fn device(parsed: &WootheeResult<'_>) -> Option<Map<String, Value>> {
    let (family, brand) = match parsed.os {
        family @ ("iPhone" | "iPad" | "iPod") => (family, Some("Apple")),
        "Mac OSX" => ("Mac", Some("Apple")),
        // Sentry's (and uap's) device family for robots.
        _ if parsed.category == "crawler" => ("Spider", None),
        _ => return None,
    };
    Some(context(
        "device",
        [("family", Some(family)), ("brand", brand)],
    ))
}

fn known(value: &str) -> Option<&str> {
    (!value.is_empty() && value != VALUE_UNKNOWN).then_some(value)
}

/// A version is a number: woothee puts other words there for some clients ("curl").
fn version(value: &str) -> Option<&str> {
    value
        .starts_with(|c: char| c.is_ascii_digit())
        .then_some(value)
}

fn context<const N: usize>(kind: &str, fields: [(&str, Option<&str>); N]) -> Map<String, Value> {
    let mut context: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(key, value)| Some((key.to_owned(), Value::String(value?.to_owned()))))
        .collect();
    context.insert("type".to_owned(), Value::String(kind.to_owned()));
    context
}

/// The latest User-Agents and their contexts, at most `capacity` of them; when full, the least
/// recently used eighth is dropped.
///
/// Hand-written rather than the `lru` crate: bounding memory while keeping the hot User-Agents
/// takes a map and a use counter, without a dependency built on unsafe linked lists. Dropping
/// an eighth at once costs one pass over the map per `capacity / 8` new User-Agents, so a
/// stream of never-seen User-Agents does not scan the map under the lock on every miss.
struct Cache {
    capacity: usize,
    /// Counts lookups and inserts: an entry's stamp is the count when it was last used, so no
    /// two entries share one.
    clock: u64,
    entries: HashMap<Box<str>, Entry>,
}

struct Entry {
    used: u64,
    contexts: Arc<Map<String, Value>>,
}

impl Cache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            clock: 0,
            entries: HashMap::new(),
        }
    }

    fn get(&mut self, user_agent: &str) -> Option<Arc<Map<String, Value>>> {
        self.clock += 1;
        let entry = self.entries.get_mut(user_agent)?;
        entry.used = self.clock;
        Some(Arc::clone(&entry.contexts))
    }

    /// Caches `contexts` and returns what callers should use: the cached value, which is the
    /// one already there if another thread parsed the same User-Agent meanwhile.
    fn insert(
        &mut self,
        user_agent: &str,
        contexts: Arc<Map<String, Value>>,
    ) -> Arc<Map<String, Value>> {
        self.clock += 1;
        if let Some(entry) = self.entries.get_mut(user_agent) {
            entry.used = self.clock;
            return Arc::clone(&entry.contexts);
        }
        if self.entries.len() >= self.capacity {
            self.evict();
        }
        let entry = Entry {
            used: self.clock,
            contexts: Arc::clone(&contexts),
        };
        self.entries.insert(user_agent.into(), entry);
        contexts
    }

    fn evict(&mut self) {
        let keep = self.capacity - self.capacity.div_ceil(8);
        let mut stamps: Vec<u64> = self.entries.values().map(|entry| entry.used).collect();
        if keep >= stamps.len() {
            return;
        }
        // Stamps are distinct: exactly `keep` entries are newer than the threshold.
        let dropped = stamps.len() - keep;
        let (_, threshold, _) = stamps.select_nth_unstable(dropped - 1);
        let threshold = *threshold;
        self.entries.retain(|_, entry| entry.used > threshold);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.130 Safari/537.36";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1";
    const FIREFOX_LINUX: &str =
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
    const CHROME_PIXEL: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36";
    const EDGE: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91";
    const SAMSUNG: &str = "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36";
    const GOOGLEBOT: &str =
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    const HEADLESS: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109 Safari/537.36";
    const MAC_SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15";
    const CHROME_OS: &str = "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

    fn contexts(user_agent: &str) -> Value {
        Value::Object((*UserAgents::new().contexts(user_agent)).clone())
    }

    #[test]
    fn desktop_browsers() {
        assert_eq!(
            contexts(CHROME_WINDOWS),
            json!({
                "browser": {"name": "Chrome", "version": "120.0.6099", "type": "browser"},
                "os": {"name": "Windows", "version": "10", "type": "os"},
            })
        );
        assert_eq!(
            contexts(FIREFOX_LINUX),
            json!({
                "browser": {"name": "Firefox", "version": "121.0", "type": "browser"},
                "os": {"name": "Linux", "type": "os"},
            })
        );
        assert_eq!(
            contexts(EDGE),
            json!({
                "browser": {"name": "Edge", "version": "120.0.2210", "type": "browser"},
                "os": {"name": "Windows", "version": "10", "type": "os"},
            })
        );
        assert_eq!(
            contexts(MAC_SAFARI),
            json!({
                "browser": {"name": "Safari", "version": "17.2", "type": "browser"},
                "os": {"name": "Mac OS X", "version": "10.15.7", "type": "os"},
                "device": {"family": "Mac", "brand": "Apple", "type": "device"},
            })
        );
        assert_eq!(
            contexts(CHROME_OS)["os"],
            json!({"name": "Chrome OS", "version": "14541.0.0", "type": "os"})
        );
    }

    #[test]
    fn mobile_browsers() {
        assert_eq!(
            contexts(SAFARI_IPHONE),
            json!({
                "browser": {"name": "Safari", "version": "17.1.2", "type": "browser"},
                "os": {"name": "iOS", "version": "17.1.2", "type": "os"},
                "device": {"family": "iPhone", "brand": "Apple", "type": "device"},
            })
        );
        // An Android phone's model is not known, so there is no device context.
        assert_eq!(
            contexts(CHROME_PIXEL),
            json!({
                "browser": {"name": "Chrome", "version": "120.0.6099", "type": "browser"},
                "os": {"name": "Android", "version": "14", "type": "os"},
            })
        );
        assert_eq!(
            contexts(SAMSUNG),
            json!({
                "browser": {"name": "Samsung Internet", "version": "23.0", "type": "browser"},
                "os": {"name": "Android", "version": "13", "type": "os"},
            })
        );
    }

    #[test]
    fn robots() {
        assert_eq!(
            contexts(GOOGLEBOT),
            json!({
                "browser": {"name": "Googlebot", "type": "browser"},
                "device": {"family": "Spider", "type": "device"},
            })
        );
        assert_eq!(
            contexts(HEADLESS),
            json!({
                "browser": {"name": "HeadlessChrome", "version": "120.0.6099", "type": "browser"},
                "os": {"name": "Linux", "type": "os"},
            })
        );
    }

    #[test]
    fn nothing_known_gives_no_context() {
        for user_agent in [
            "",
            "-",
            "Mozilla/5.0",
            "💩<script>alert(1)</script> ;;; ((( zzz/",
        ] {
            assert_eq!(contexts(user_agent), json!({}), "{user_agent:?}");
        }
    }

    #[test]
    fn a_repeated_user_agent_gets_the_cached_contexts() {
        let user_agents = UserAgents::new();
        let first = user_agents.contexts(CHROME_WINDOWS);
        let other = user_agents.contexts(FIREFOX_LINUX);
        assert!(Arc::ptr_eq(&first, &user_agents.contexts(CHROME_WINDOWS)));
        assert!(!Arc::ptr_eq(&first, &other));
    }

    #[test]
    fn the_cache_stays_within_its_bound_and_keeps_what_is_used() {
        let user_agents = UserAgents::with_capacity(16);
        let hot = user_agents.contexts(SAFARI_IPHONE);
        for n in 0..200 {
            user_agents.contexts(&format!("Mozilla/5.0 (X11; Linux x86_64) Firefox/{n}.0"));
            assert!(Arc::ptr_eq(&hot, &user_agents.contexts(SAFARI_IPHONE)));
            assert!(user_agents.lock_cache().entries.len() <= 16);
        }
        assert!(user_agents.lock_cache().entries.len() >= 14);
    }

    #[test]
    fn shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<UserAgents>();
    }
}
