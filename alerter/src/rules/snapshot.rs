//! The windows as JSON, for the caller's checkpoints, and back.
//!
//! Versioned, per rule by name, with each rule's window shape: a rule that is gone, whose
//! condition or window changed, or whose part does not parse, starts empty, as does
//! everything for a snapshot of another version or no snapshot at all. Windows are
//! approximate anyway; an empty one only delays an alert.

use std::collections::{HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use shared::event::ProjectId;

use super::window::{Counter, History, Ring, Sampling, Shape, UserWindow};
use super::{Engine, Lru, State};

const VERSION: u32 = 1;

/// Times and bucket numbers beyond this (seconds since the epoch: some 140,000 years) are
/// garbage, refused so that no arithmetic on them can overflow.
const SANE: i64 = 1 << 42;

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    #[serde(default)]
    watched_since: Option<i64>,
    #[serde(default)]
    latest: Option<i64>,
    rules: Vec<RuleWindows>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RuleWindows {
    rule: String,
    windows: Windows,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "condition", rename_all = "snake_case")]
enum Windows {
    Frequency {
        bucket_secs: i64,
        buckets: i64,
        /// Least recently seen first.
        issues: Vec<IssueCounts>,
    },
    Users {
        window_secs: u64,
        every: u64,
        needed: u64,
        issues: Vec<IssueUsers>,
    },
    Spike {
        bucket_secs: i64,
        buckets: i64,
        projects: Vec<ProjectCounts>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct IssueCounts {
    project: ProjectId,
    fingerprint: String,
    newest: i64,
    counts: Vec<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
struct IssueUsers {
    project: ProjectId,
    fingerprint: String,
    /// (user hash, last seen), oldest first.
    users: Vec<(u64, i64)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ProjectCounts {
    project: ProjectId,
    newest: i64,
    counts: Vec<u32>,
}

pub(super) fn take(engine: &Engine) -> serde_json::Value {
    // Whether a window whose newest bucket (of `bucket_secs`) is `newest` and which spans
    // `buckets` still holds anything at the latest event seen.
    let live = |newest: i64, bucket_secs: i64, buckets: i64| {
        engine
            .latest
            .is_none_or(|latest| newest > latest.div_euclid(bucket_secs).saturating_sub(buckets))
    };
    let rules = engine
        .rules
        .iter()
        .filter_map(|rule| {
            let windows = match &rule.state {
                State::Frequency { shape, issues, .. } => Windows::Frequency {
                    bucket_secs: shape.bucket_secs,
                    buckets: shape.buckets,
                    issues: issues
                        .iter()
                        .filter(|(_, counter)| {
                            live(counter.ring.newest(), shape.bucket_secs, shape.buckets)
                        })
                        .map(|((project, fingerprint), counter)| IssueCounts {
                            project: *project,
                            fingerprint: fingerprint.clone(),
                            newest: counter.ring.newest(),
                            counts: counter.ring.counts().to_vec(),
                        })
                        .collect(),
                },
                State::Users {
                    window_secs,
                    sampling,
                    issues,
                } => Windows::Users {
                    window_secs: *window_secs,
                    every: sampling.every,
                    needed: sampling.needed,
                    issues: issues
                        .iter()
                        .filter(|(_, users)| {
                            users
                                .seen
                                .back()
                                .is_some_and(|&(_, at)| live(at, 1, *window_secs as i64))
                        })
                        .map(|((project, fingerprint), users)| IssueUsers {
                            project: *project,
                            fingerprint: fingerprint.clone(),
                            users: users.seen.iter().copied().collect(),
                        })
                        .collect(),
                },
                State::Spike {
                    shape, projects, ..
                } => Windows::Spike {
                    bucket_secs: shape.bucket_secs,
                    buckets: shape.buckets,
                    projects: projects
                        .iter()
                        .filter(|(_, history)| {
                            live(
                                history.ring.newest(),
                                shape.bucket_secs,
                                History::len(*shape) as i64,
                            )
                        })
                        .map(|(project, history)| ProjectCounts {
                            project: *project,
                            newest: history.ring.newest(),
                            counts: history.ring.counts().to_vec(),
                        })
                        .collect(),
                },
                State::NewIssue | State::Regression { .. } => return None,
            };
            Some(RuleWindows {
                rule: rule.name.clone(),
                windows,
            })
        })
        .collect();
    let snapshot = Snapshot {
        version: VERSION,
        watched_since: engine.watched_since,
        latest: engine.latest,
        rules,
    };
    // Plain structs with string keys: serializing cannot fail.
    serde_json::to_value(snapshot).unwrap_or_default()
}

pub(super) fn restore(engine: &mut Engine, snapshot: serde_json::Value) -> usize {
    for rule in &mut engine.rules {
        match &mut rule.state {
            State::Frequency { issues, .. } => *issues = Lru::new(issues.capacity()),
            State::Users { issues, .. } => *issues = Lru::new(issues.capacity()),
            State::Spike { projects, .. } => *projects = Lru::new(projects.capacity()),
            State::NewIssue | State::Regression { .. } => {}
        }
    }
    engine.watched_since = None;
    engine.latest = None;
    let Ok(snapshot) = serde_json::from_value::<Snapshot>(snapshot) else {
        return 0;
    };
    if snapshot.version != VERSION {
        return 0;
    }
    let sane = |t: i64| (-SANE..=SANE).contains(&t);
    engine.watched_since = snapshot.watched_since.filter(|&t| sane(t));
    engine.latest = snapshot.latest.filter(|&t| sane(t));
    let mut restored = 0;
    for saved in snapshot.rules {
        let Some(rule) = engine.rules.iter_mut().find(|rule| rule.name == saved.rule) else {
            continue;
        };
        let fits = match (&mut rule.state, saved.windows) {
            (
                State::Frequency { shape, issues, .. },
                Windows::Frequency {
                    bucket_secs,
                    buckets,
                    issues: saved,
                },
            ) if *shape
                == (Shape {
                    bucket_secs,
                    buckets,
                }) =>
            {
                for issue in saved {
                    let ring = Ring::from_parts(shape.buckets as usize, issue.newest, issue.counts)
                        .filter(|_| sane(issue.newest));
                    if let Some(ring) = ring {
                        issues.put((issue.project, issue.fingerprint), Counter { ring });
                    }
                }
                true
            }
            (
                State::Users {
                    window_secs,
                    sampling,
                    issues,
                },
                Windows::Users {
                    window_secs: saved_window,
                    every,
                    needed,
                    issues: saved,
                },
            ) if *window_secs == saved_window && *sampling == (Sampling { every, needed }) => {
                for issue in saved {
                    let mut users: Vec<_> = issue
                        .users
                        .into_iter()
                        .filter(|&(user, at)| sane(at) && sampling.keeps(user))
                        .collect();
                    users.sort_by_key(|&(_, at)| at);
                    // Each user once, at its latest sighting; the most recent ones.
                    let mut once = HashSet::new();
                    let mut seen: VecDeque<_> = users
                        .into_iter()
                        .rev()
                        .filter(|&(user, _)| once.insert(user))
                        .take(sampling.needed as usize)
                        .collect();
                    seen.make_contiguous().reverse();
                    if !seen.is_empty() {
                        issues.put((issue.project, issue.fingerprint), UserWindow { seen });
                    }
                }
                true
            }
            (
                State::Spike {
                    shape, projects, ..
                },
                Windows::Spike {
                    bucket_secs,
                    buckets,
                    projects: saved,
                },
            ) if *shape
                == (Shape {
                    bucket_secs,
                    buckets,
                }) =>
            {
                for project in saved {
                    let ring =
                        Ring::from_parts(History::len(*shape), project.newest, project.counts)
                            .filter(|_| sane(project.newest));
                    if let Some(ring) = ring {
                        projects.put(project.project, History { ring });
                    }
                }
                true
            }
            _ => false,
        };
        restored += usize::from(fits);
    }
    restored
}
