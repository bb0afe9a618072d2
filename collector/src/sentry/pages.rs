//! The pages of recent page loads and navigations, by the id of their root span.
//!
//! `@sentry/browser` 10 and later stream spans, and the vitals it measures last (CLS, INP) are
//! sent when the page is hidden, in an envelope of their own that names the page only by its
//! page load's span id (`sentry.segment.id`). The page load's span, sent earlier, has the
//! address. Remembering it here lets those vitals be stored with their page. The memory is
//! per collector instance and bounded, so a vital whose page load went to another instance,
//! or was forgotten, keeps only what it names itself.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use shared::event::ProjectId;

/// How much the memory may hold: addresses and routes are bounded (2 KiB and 256 bytes), so
/// this keeps thousands of page loads, which covers the minutes between a page load and the
/// page being hidden on a busy site.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
/// What an entry costs beyond its text (the key's copy in the queue, the map's slot).
const ENTRY_OVERHEAD: usize = 96;

/// Where a span was measured: the page's address and, when the SDK named one, its route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub url: Option<String>,
    pub route: Option<String>,
}

impl Page {
    fn bytes(&self) -> usize {
        self.url.as_ref().map_or(0, String::len) + self.route.as_ref().map_or(0, String::len)
    }
}

type Key = (ProjectId, String);

/// Recent pages, oldest forgotten first once [`MAX_BYTES`] is reached.
#[derive(Debug)]
pub struct Pages {
    recent: Mutex<Recent>,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct Recent {
    by_span: HashMap<Key, Page>,
    order: VecDeque<Key>,
    bytes: usize,
}

impl Default for Pages {
    fn default() -> Self {
        Self::new(MAX_BYTES)
    }
}

impl Pages {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            recent: Mutex::new(Recent::default()),
            max_bytes,
        }
    }

    /// Remembers the page of a page load or navigation whose root span is `span_id`. The
    /// first report of a span wins: a retried envelope says the same.
    pub fn remember(&self, project: ProjectId, span_id: &str, page: &Page) {
        if span_id.is_empty() || (page.url.is_none() && page.route.is_none()) {
            return;
        }
        let key = (project, span_id.to_owned());
        let cost = entry_cost(&key, page);
        // A poisoned lock only means another request panicked while holding it; the map is
        // still consistent (every update below completes or does nothing).
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.by_span.contains_key(&key) {
            return;
        }
        recent.bytes += cost;
        recent.order.push_back(key.clone());
        recent.by_span.insert(key, page.clone());
        while recent.bytes > self.max_bytes {
            let Some(oldest) = recent.order.pop_front() else {
                break;
            };
            if let Some(forgotten) = recent.by_span.remove(&oldest) {
                recent.bytes -= entry_cost(&oldest, &forgotten);
            }
        }
    }

    /// The page of the page load or navigation whose root span is `span_id`, if remembered.
    pub fn find(&self, project: ProjectId, span_id: &str) -> Option<Page> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.by_span.get(&(project, span_id.to_owned())).cloned()
    }
}

fn entry_cost(key: &Key, page: &Page) -> usize {
    ENTRY_OVERHEAD + key.1.len() + page.bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(url: &str) -> Page {
        Page {
            url: Some(url.to_owned()),
            route: None,
        }
    }

    #[test]
    fn pages_are_found_by_project_and_span() {
        let pages = Pages::default();
        let one = ProjectId::new(1).expect("non-zero");
        let two = ProjectId::new(2).expect("non-zero");
        pages.remember(one, "8007174fa8a03173", &page("https://shop.example/"));
        assert_eq!(
            pages.find(one, "8007174fa8a03173"),
            Some(page("https://shop.example/"))
        );
        assert_eq!(pages.find(two, "8007174fa8a03173"), None);
        assert_eq!(pages.find(one, "0000000000000000"), None);
        // The first report wins.
        pages.remember(one, "8007174fa8a03173", &page("https://evil.example/"));
        assert_eq!(
            pages.find(one, "8007174fa8a03173"),
            Some(page("https://shop.example/"))
        );
    }

    #[test]
    fn the_oldest_pages_are_forgotten_past_the_bound() {
        let project = ProjectId::new(1).expect("non-zero");
        let url = format!("https://shop.example/{}", "p".repeat(100));
        let cost = entry_cost(&(project, "span-00".to_owned()), &page(&url));
        let pages = Pages::new(cost * 10);
        for i in 0..25 {
            pages.remember(project, &format!("span-{i:02}"), &page(&url));
        }
        assert_eq!(pages.find(project, "span-14"), None);
        assert!(pages.find(project, "span-15").is_some());
        assert!(pages.find(project, "span-24").is_some());
        let recent = pages.recent.lock().expect("not poisoned");
        assert!(recent.bytes <= cost * 10);
        assert_eq!(recent.by_span.len(), recent.order.len());
    }
}
