//! The projects the collector knows right now: a set that [`crate::refresh`] replaces whole
//! when the database says something changed, read by every request.
//!
//! A request takes the project it needs as an `Arc` and lets go of the set at once: a read
//! lock and a reference count, nothing copied. A replacement swaps one pointer under the
//! write lock, so a request sees the old set or the new one, never half of each.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use shared::config::Project;
use shared::event::ProjectId;

type Set = Arc<HashMap<ProjectId, Arc<Project>>>;

pub struct Catalog {
    current: RwLock<Set>,
}

impl Catalog {
    pub fn new(projects: impl IntoIterator<Item = Project>) -> Self {
        Self {
            current: RwLock::new(Arc::new(by_id(projects))),
        }
    }

    pub fn get(&self, id: ProjectId) -> Option<Arc<Project>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// The projects one of whose keys is `key`, at most `limit` of them (Faro's `/collect`
    /// finds its project by key alone).
    pub fn with_key(&self, key: &str, limit: usize) -> Vec<Arc<Project>> {
        self.set()
            .values()
            .filter(|project| project.accepts_key(key))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Every project, by id.
    pub fn all(&self) -> Vec<Arc<Project>> {
        let mut all: Vec<_> = self.set().values().cloned().collect();
        all.sort_by_key(|project| project.id);
        all
    }

    /// Puts `projects` in force; `false` (and nothing swapped) when they are the ones in force.
    pub fn replace(&self, projects: Vec<Project>) -> bool {
        let unchanged = {
            let current = self.set();
            current.len() == projects.len()
                && projects
                    .iter()
                    .all(|project| current.get(&project.id).is_some_and(|p| **p == *project))
        };
        if unchanged {
            return false;
        }
        let next = Arc::new(by_id(projects));
        // A poisoned lock only means a panic elsewhere while it was held: the pointer in it
        // is still one whole set.
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = next;
        true
    }

    fn set(&self) -> Set {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn by_id(projects: impl IntoIterator<Item = Project>) -> HashMap<ProjectId, Arc<Project>> {
    projects
        .into_iter()
        .map(|project| (project.id, Arc::new(project)))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use super::*;

    fn project(id: u32, key: &str) -> Project {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": format!("p{id}"), "public_key": key,
        }))
        .expect("project")
    }

    #[test]
    fn a_replacement_is_seen_whole_and_an_identical_one_is_not_made() {
        let a = "0123456789abcdef0123456789abcdef";
        let b = "fedcba9876543210fedcba9876543210";
        let catalog = Catalog::new([project(1, a)]);
        let id = |n| ProjectId::new(n).expect("not zero");
        let held = catalog.get(id(1)).expect("known");
        assert!(!catalog.replace(vec![project(1, a)]));
        assert!(catalog.replace(vec![project(1, b), project(2, a)]));
        // What a request took before stays whole; what comes after is the new set.
        assert!(held.accepts_key(a));
        assert!(catalog.get(id(1)).expect("known").accepts_key(b));
        assert_eq!(catalog.with_key(a, 2).len(), 1);
        assert_eq!(catalog.all().len(), 2);
        assert!(catalog.replace(vec![project(2, a)]));
        assert!(catalog.get(id(1)).is_none());
    }
}
