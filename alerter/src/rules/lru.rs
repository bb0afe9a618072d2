//! A map that holds at most a fixed number of entries and forgets the one touched least
//! recently when it is full: what keeps the engine's memory bounded whatever the number of
//! issues.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

#[derive(Debug)]
pub(crate) struct Lru<K, V> {
    capacity: usize,
    /// The value and its place in `order`.
    map: HashMap<K, (V, u64)>,
    /// Least recently touched first.
    order: BTreeMap<u64, K>,
    tick: u64,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            map: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Reads without making the entry more recent.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|(value, _)| value)
    }

    /// Changes without making the entry more recent.
    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.get_mut(key).map(|(value, _)| value)
    }

    /// The entry of `key`, made the most recent, created by `make` if missing (then the least
    /// recent entry leaves if the map was full).
    pub(crate) fn touch_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        self.tick += 1;
        let tick = self.tick;
        if !self.map.contains_key(&key) {
            while self.map.len() >= self.capacity && self.pop_oldest().is_some() {}
            self.order.insert(tick, key.clone());
        }
        match self.map.entry(key) {
            Entry::Occupied(entry) => {
                let (value, place) = entry.into_mut();
                let old = std::mem::replace(place, tick);
                if let Some(moved) = self.order.remove(&old) {
                    self.order.insert(tick, moved);
                }
                value
            }
            Entry::Vacant(entry) => &mut entry.insert((make(), tick)).0,
        }
    }

    /// Sets `key` to `value`, making it the most recent.
    pub(crate) fn put(&mut self, key: K, value: V) {
        self.remove(&key);
        self.touch_or_insert_with(key, || value);
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let (value, place) = self.map.remove(key)?;
        self.order.remove(&place);
        Some(value)
    }

    /// The least recently touched entry.
    pub(crate) fn oldest(&self) -> Option<(&K, &V)> {
        let (_, key) = self.order.first_key_value()?;
        self.map.get(key).map(|(value, _)| (key, value))
    }

    pub(crate) fn pop_oldest(&mut self) -> Option<(K, V)> {
        let (_, key) = self.order.pop_first()?;
        let (value, _) = self.map.remove(&key)?;
        Some((key, value))
    }

    /// Least recently touched first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.order
            .values()
            .filter_map(|key| self.map.get(key).map(|(value, _)| (key, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_least_recently_touched_when_full() {
        let mut lru = Lru::new(2);
        lru.put("a", 1);
        lru.put("b", 2);
        lru.touch_or_insert_with("a", || 0);
        lru.put("c", 3);
        assert_eq!(lru.len(), 2);
        assert_eq!(lru.get(&"a"), Some(&1));
        assert_eq!(lru.get(&"b"), None);
        assert_eq!(lru.get(&"c"), Some(&3));
        let order: Vec<_> = lru.iter().map(|(k, _)| *k).collect();
        assert_eq!(order, ["a", "c"]);
    }

    #[test]
    fn get_mut_does_not_reorder() {
        let mut lru = Lru::new(2);
        lru.put("a", 1);
        lru.put("b", 2);
        *lru.get_mut(&"a").expect("present") = 10;
        lru.put("c", 3);
        assert_eq!(lru.get(&"a"), None);
        assert_eq!(lru.oldest(), Some((&"b", &2)));
        assert_eq!(lru.remove(&"b"), Some(2));
        assert_eq!(lru.pop_oldest(), Some(("c", 3)));
        assert_eq!(lru.len(), 0);
    }

    #[test]
    fn put_replaces_the_value() {
        let mut lru = Lru::new(3);
        lru.put("a", 1);
        lru.put("a", 5);
        assert_eq!(lru.len(), 1);
        assert_eq!(lru.get(&"a"), Some(&5));
    }
}
