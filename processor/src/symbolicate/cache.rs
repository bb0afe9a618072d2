//! Parsed source maps, kept in memory within a byte budget, least recently used out first.

use std::collections::HashMap;
use std::sync::Arc;

use sourcemap::{SourceMap, SourceView};

/// One uploaded map, parsed: ready to look frames up in.
pub struct ParsedMap {
    /// The minified file's name, as uploaded (for processing errors).
    pub name: String,
    /// `Err` when the map could not be read: kept too, so a broken map is reported on every
    /// event it applies to without being parsed again for each.
    pub map: Result<SourceMap, String>,
    /// The minified file, when uploaded: what original function names are read from.
    pub minified: Option<SourceView>,
    /// What it counts against the budget: the size of the map and minified file uploaded.
    pub bytes: usize,
}

pub struct MapCache {
    budget: usize,
    used: usize,
    clock: u64,
    entries: HashMap<i64, (Arc<ParsedMap>, u64)>,
}

impl MapCache {
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            used: 0,
            clock: 0,
            entries: HashMap::new(),
        }
    }

    pub fn get(&mut self, id: i64) -> Option<Arc<ParsedMap>> {
        self.clock += 1;
        let clock = self.clock;
        let (map, used) = self.entries.get_mut(&id)?;
        *used = clock;
        Some(map.clone())
    }

    /// Keeps `map` unless it alone is over the budget; evicts the least recently used maps
    /// until it fits.
    pub fn insert(&mut self, id: i64, map: Arc<ParsedMap>) {
        if map.bytes > self.budget {
            return;
        }
        if let Some((old, _)) = self.entries.remove(&id) {
            self.used -= old.bytes;
        }
        while self.used + map.bytes > self.budget {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(id, _)| *id)
            else {
                break;
            };
            if let Some((evicted, _)) = self.entries.remove(&oldest) {
                self.used -= evicted.bytes;
            }
        }
        self.clock += 1;
        self.used += map.bytes;
        self.entries.insert(id, (map, self.clock));
    }

    /// Forgets every map (they were replaced or deleted).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.used = 0;
    }

    #[cfg(test)]
    fn used(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(bytes: usize) -> Arc<ParsedMap> {
        Arc::new(ParsedMap {
            name: "~/app.js".into(),
            map: Err("test".into()),
            minified: None,
            bytes,
        })
    }

    #[test]
    fn the_least_recently_used_go_first_and_the_budget_holds() {
        let mut cache = MapCache::new(100);
        cache.insert(1, map(40));
        cache.insert(2, map(40));
        assert!(cache.get(1).is_some());
        cache.insert(3, map(40));
        assert!(cache.get(2).is_none(), "2 was the least recently used");
        assert!(cache.get(1).is_some() && cache.get(3).is_some());
        assert_eq!(cache.used(), 80);
        cache.insert(4, map(101));
        assert!(cache.get(4).is_none(), "over the whole budget: not kept");
        cache.insert(3, map(10));
        assert_eq!(cache.used(), 50, "a replaced map gives its bytes back");
        cache.clear();
        assert_eq!(cache.used(), 0);
    }
}
