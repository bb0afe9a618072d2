//! What the processor adds to an event before storing it, as Sentry's own ingest does:
//! `contexts.browser`, `os` and `device` from the User-Agent, and the sender's address where
//! a Sentry SDK asked for it (`user.ip_address = "{{auto}}"`), unless the project set
//! `store_ip = false`, in which case no address of the sender is stored at all.
//!
//! The collector published the event as JSON; the processor stores those bytes as they are
//! when nothing changes, and for the common change (contexts added to an event that had
//! none) splices them in rather than serializing the whole event again, which keeps the
//! drain rate close to what it was without enrichment.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value};
use shared::config::Project;
use shared::event::{AUTO_IP, Event, ProjectId};

use crate::user_agent::UserAgents;

pub struct Enricher {
    user_agents: Arc<UserAgents>,
    /// Projects with `store_ip = false`.
    no_ip: HashSet<ProjectId>,
}

impl Enricher {
    pub fn new<'a>(
        user_agents: Arc<UserAgents>,
        projects: impl IntoIterator<Item = &'a Project>,
    ) -> Self {
        Self {
            user_agents,
            no_ip: projects
                .into_iter()
                .filter(|project| !project.store_ip)
                .map(|project| project.id)
                .collect(),
        }
    }

    /// Completes `event`, and returns the JSON to store: `json` itself when nothing changed.
    pub fn enrich<'a>(&self, event: &mut Event, json: &'a str) -> Cow<'a, str> {
        let had_contexts = !event.contexts.is_empty();
        let mut added = Map::new();
        if let Some(user_agent) = event.client.user_agent.as_deref() {
            for (name, context) in self.user_agents.contexts(user_agent).iter() {
                if !event.contexts.contains_key(name) {
                    added.insert(name.clone(), context.clone());
                }
            }
        }
        let addresses_changed = self.addresses(event);
        if added.is_empty() && !addresses_changed {
            return Cow::Borrowed(json);
        }
        event.contexts.extend(added.clone());
        if !had_contexts && !addresses_changed {
            // `contexts` is absent from the JSON (it is skipped when empty): add it in front.
            if let (Some(rest), Ok(contexts)) = (
                json.strip_prefix('{'),
                serde_json::to_string(&Value::Object(added)),
            ) {
                let separator = if rest.trim_start().starts_with('}') {
                    ""
                } else {
                    ","
                };
                return Cow::Owned(format!("{{\"contexts\":{contexts}{separator}{rest}"));
            }
        }
        match serde_json::to_string(event) {
            Ok(rewritten) => Cow::Owned(rewritten),
            // Cannot happen for a value that was just parsed; storing it as it came is the
            // safe answer.
            Err(_) => Cow::Borrowed(json),
        }
    }

    /// Fills `{{auto}}` with the sender's address, or removes every address of the sender
    /// for projects that keep none. Whether anything changed.
    fn addresses(&self, event: &mut Event) -> bool {
        let keep = !self.no_ip.contains(&event.project_id);
        let sender = event.client.ip;
        let mut changed = false;
        if let Some(user) = &mut event.user
            && let Some(address) = &user.ip_address
            && (address == AUTO_IP || !keep)
        {
            user.ip_address = sender.filter(|_| keep).map(|ip| ip.to_string());
            changed = true;
        }
        if !keep && event.client.ip.take().is_some() {
            changed = true;
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::event::{Detail, EventId, User};

    fn enricher(store_ip: bool) -> Enricher {
        let project: Project = serde_json::from_value(serde_json::json!({
            "id": 1,
            "name": "shop",
            "public_key": "5f0c7a3e9b1d4e6f8a2c4b6d8e0f1a3c",
            "store_ip": store_ip,
        }))
        .expect("a project");
        Enricher::new(Arc::new(UserAgents::new()), [&project])
    }

    fn event() -> Event {
        let json = serde_json::json!({
            "event_id": EventId::new_random(),
            "project_id": 1,
            "timestamp": 1_750_000_000_000_i64,
            "received_at": 1_750_000_000_000_i64,
            "type": "error",
            "message": "TypeError: x",
            "client": {
                "ip": "203.0.113.9",
                "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
            }
        });
        serde_json::from_value(json).expect("an event")
    }

    fn stored(enricher: &Enricher, mut event: Event) -> (Event, Value) {
        let json = serde_json::to_string(&event).expect("serializes");
        let out = enricher.enrich(&mut event, &json).into_owned();
        let value: Value = serde_json::from_str(&out).expect("valid JSON");
        // What is stored is what the event now is.
        assert_eq!(
            serde_json::from_value::<Event>(value.clone()).expect("an event"),
            event
        );
        (event, value)
    }

    #[test]
    fn contexts_are_spliced_into_the_stored_json() {
        let (event, value) = stored(&enricher(true), event());
        assert_eq!(value["contexts"]["browser"]["name"], "Chrome");
        assert_eq!(value["contexts"]["os"]["name"], "Windows");
        assert_eq!(value["message"], "TypeError: x");
        assert!(matches!(event.detail, Detail::Error {}));
    }

    #[test]
    fn the_sdk_s_own_contexts_win() {
        let mut sent = event();
        sent.contexts.insert(
            "browser".into(),
            serde_json::json!({"name": "Custom", "version": "1"}),
        );
        let (_, value) = stored(&enricher(true), sent);
        assert_eq!(value["contexts"]["browser"]["name"], "Custom");
        assert_eq!(value["contexts"]["os"]["name"], "Windows");
    }

    #[test]
    fn auto_ip_is_filled_unless_the_project_keeps_no_addresses() {
        let mut sent = event();
        sent.user = Some(User {
            id: Some("u1".into()),
            ip_address: Some(AUTO_IP.into()),
            ..User::default()
        });
        let (kept, _) = stored(&enricher(true), sent.clone());
        let user = kept.user.expect("a user");
        assert_eq!(user.ip_address.as_deref(), Some("203.0.113.9"));
        assert!(kept.client.ip.is_some());

        let (dropped, value) = stored(&enricher(false), sent);
        assert_eq!(dropped.user.and_then(|u| u.ip_address), None);
        assert_eq!(dropped.client.ip, None);
        assert!(!value.to_string().contains("203.0.113.9"));
    }

    #[test]
    fn nothing_to_add_stores_the_bytes_as_they_came() {
        let mut plain = event();
        plain.client.user_agent = None;
        let json = serde_json::to_string(&plain).expect("serializes");
        assert!(matches!(
            enricher(true).enrich(&mut plain, &json),
            Cow::Borrowed(_)
        ));
    }
}
