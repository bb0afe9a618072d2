//! One configuration for the whole system.
//!
//! Read from a TOML file (`--config PATH` or `FRONTMON_CONFIG`), then overridden key by key
//! by `FRONTMON__SECTION__KEY` environment variables. Without a file, the defaults run the
//! whole pipeline against RabbitMQ and PostgreSQL on localhost with one demo project.
//! `deploy/frontmon.toml` documents every key. Unknown keys and invalid values fail at start,
//! naming the key, so a typo never silently falls back to a default.

mod alerter;
mod amqp;
mod analytics;
mod channels;
mod collector;
mod database;
mod duration;
mod log;
mod processor;
mod projects;
mod quiet;
mod retention;
mod rules;
mod secret;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::event::ProjectId;

pub use alerter::AlerterSettings;
pub use amqp::{AmqpName, AmqpSettings, AmqpUrl};
pub use analytics::AnalyticsSettings;
pub use channels::{ChannelKind, ChannelSettings, Language};
pub use collector::CollectorSettings;
pub use database::{DatabaseSettings, PostgresUrl};
pub use duration::NonZeroDuration;
use duration::{millis, nonzero_millis, nonzero_secs, secs};
pub use log::{LogFormat, LogSettings};
pub use processor::{AdminToken, Consumers, Partitions, ProcessorSettings};
use projects::demo_projects;
pub use projects::{AllowedOrigins, Project, Projects, PublicKey, check_routes};
pub use quiet::{QuietHours, QuietHoursError, QuietSchedule};
pub use retention::RetentionSettings;
pub use rules::{Condition, RuleCondition, RuleError, RuleSettings, SpikeFactor};
pub use secret::Secret;

/// The read API's token when none is configured: fine on a laptop, never in a deployment
/// (a service listening beyond loopback refuses it: [`Settings::refuse_default_secrets`]).
pub const DEFAULT_ADMIN_TOKEN: &str = "change-me";

/// The demo project's public key, shown in the README; replace it in any real deployment
/// (the collector refuses it beyond loopback: [`Settings::refuse_default_secrets`]).
pub const DEMO_PUBLIC_KEY: &str = "5f0c7a3e9b1d4e6f8a2c4b6d8e0f1a3c";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub amqp: AmqpSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub collector: CollectorSettings,
    #[serde(default)]
    pub processor: ProcessorSettings,
    #[serde(default)]
    pub alerter: AlerterSettings,
    #[serde(default)]
    pub analytics: AnalyticsSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub retention: RetentionSettings,
    #[serde(default = "demo_projects")]
    pub projects: Projects,
}

/// The configuration file named by `--config PATH` (or `--config=PATH`), else by the
/// `FRONTMON_CONFIG` environment variable; none means defaults and environment only.
pub fn config_path() -> Option<PathBuf> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("FRONTMON_CONFIG").map(PathBuf::from)
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration: {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error(
        "refusing to start: {key} is {what}, which anyone can look up, and the {service} \
         listens on {listen}, beyond this machine. {remedy}, or listen on 127.0.0.1 only"
    )]
    DefaultSecret {
        key: String,
        what: &'static str,
        service: &'static str,
        listen: SocketAddr,
        remedy: &'static str,
    },
}

/// The service that is starting, for [`Settings::refuse_default_secrets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Collector,
    Processor,
    Alerter,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Collector => "collector",
            Service::Processor => "processor",
            Service::Alerter => "alerter",
        }
    }
}

/// Whether only this machine can reach `listen`: 127.0.0.0/8 or ::1. `0.0.0.0` and `::`
/// listen on every interface.
pub fn is_loopback(listen: SocketAddr) -> bool {
    listen.ip().to_canonical().is_loopback()
}

const ADMIN_TOKEN_REMEDY: &str = "Set a token of your own: FRONTMON__PROCESSOR__ADMIN_TOKEN=\
    $(openssl rand -hex 16) in the environment, or admin_token under [processor] in the \
    configuration file";

const PUBLIC_KEY_REMEDY: &str = "Give the project a key of your own in the configuration \
    file's [[projects]] (public_key = the output of `openssl rand -hex 16`, and \
    allowed_origins = your site's origins)";

impl Settings {
    /// Reads the file at `path` (if any) and the `FRONTMON__…` environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(path, std::env::vars())
    }

    /// Like [`Settings::load`] with an explicit environment, so tests need not touch the
    /// process's own.
    pub fn load_from(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = path {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(key, _)| key.starts_with("FRONTMON__"))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("FRONTMON")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("collector.trusted_proxies")
                .source(Some(env)),
        );
        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Reads only from a TOML string; for tests and examples.
    pub fn from_toml(toml: &str) -> Result<Self, ConfigError> {
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// What no single key can say: each value was refused as it was read if it was wrong
    /// on its own, so what is left are rules between keys (and between the entries of a
    /// list, such as unique names).
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.into(),
            })
        };
        if self.alerter.queue == self.processor.queue {
            return invalid("alerter.queue", "must differ from processor.queue");
        }
        let mut names = HashSet::new();
        for channel in &self.alerter.channels {
            if !names.insert(channel.name.as_str()) {
                return invalid("alerter.channels.name", "channel names must be unique");
            }
            match channel.kind {
                ChannelKind::Email => {
                    if !matches!(channel.url.scheme(), "smtp" | "smtps" | "smtp+plain") {
                        return invalid(
                            "alerter.channels.url",
                            "an email channel's url is smtp://host:port (STARTTLS), smtps://host:port (TLS) or smtp+plain://host:port",
                        );
                    }
                    if channel.from.is_none() || channel.to.is_empty() {
                        return invalid(
                            "alerter.channels.to",
                            "an email channel needs from and at least one address in to",
                        );
                    }
                }
                _ if !matches!(channel.url.scheme(), "http" | "https") => {
                    return invalid("alerter.channels.url", "must be an http(s) URL");
                }
                _ => {}
            }
        }
        let mut rule_names = HashSet::new();
        for rule in &self.alerter.rules {
            if !rule_names.insert(rule.name.as_str()) {
                return invalid("alerter.rules.name", "rule names must be unique");
            }
            if let Some(unknown) = rule.channels.iter().find(|c| !names.contains(c.as_str())) {
                return invalid(
                    "alerter.rules.channels",
                    &format!("no channel is named {unknown:?}"),
                );
            }
        }
        let mut ids = HashSet::new();
        for project in &self.projects {
            if !ids.insert(project.id) {
                return invalid("projects.id", "project ids must be unique");
            }
        }
        Ok(())
    }

    /// Refuses the secrets everyone knows (the README's demo project key, the default admin
    /// token) on a `service` that listens beyond loopback, where anyone could use them:
    /// the collector checks the projects' keys; the processor and the alerter, whose APIs
    /// take it, the admin token. On loopback (a laptop, the tests) they are fine.
    pub fn refuse_default_secrets(&self, service: Service) -> Result<(), ConfigError> {
        let listen = match service {
            Service::Collector => self.collector.listen,
            Service::Processor => self.processor.listen,
            Service::Alerter => self.alerter.listen,
        };
        if is_loopback(listen) {
            return Ok(());
        }
        let refuse = |key: String, what, remedy| {
            Err(ConfigError::DefaultSecret {
                key,
                what,
                service: service.name(),
                listen,
                remedy,
            })
        };
        match service {
            Service::Collector => {
                if let Some(project) = self
                    .projects
                    .iter()
                    .find(|project| project.accepts_key(DEMO_PUBLIC_KEY))
                {
                    return refuse(
                        format!("project {}'s public_key", project.id),
                        "the demo key from the README",
                        PUBLIC_KEY_REMEDY,
                    );
                }
            }
            Service::Processor | Service::Alerter => {
                if self.processor.admin_token.expose() == DEFAULT_ADMIN_TOKEN {
                    return refuse(
                        "processor.admin_token".into(),
                        "the documented default \"change-me\"",
                        ADMIN_TOKEN_REMEDY,
                    );
                }
            }
        }
        Ok(())
    }

    pub fn project(&self, id: ProjectId) -> Option<&Project> {
        self.projects.iter().find(|project| project.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;
    use std::time::Duration;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_work_without_a_file() {
        let settings = Settings::load_from(None, env(&[])).expect("defaults are valid");
        assert_eq!(settings.collector.listen.port(), 8080);
        assert_eq!(settings.processor.queue, "frontmon.processor");
        assert_eq!(settings.alerter.cooldown, Duration::from_secs(300));
        assert_eq!(settings.projects.len(), 1);
        assert!(settings.projects[0].accepts_key(DEMO_PUBLIC_KEY));
    }

    #[test]
    fn the_amqp_url_lists_cluster_nodes_in_the_file_or_the_environment() {
        let nodes = "amqp://guest:guest@10.0.0.1:5672/%2f,amqp://guest:guest@10.0.0.2:5672/%2f";
        let file = Settings::from_toml(
            r#"
            [amqp]
            url = ["amqp://guest:guest@10.0.0.1:5672/%2f", "amqp://guest:guest@10.0.0.2:5672/%2f"]
            "#,
        )
        .expect("a TOML array");
        assert_eq!(file.amqp.url.expose(), nodes);
        let environment = Settings::load_from(None, env(&[("FRONTMON__AMQP__URL", nodes)]))
            .expect("a comma-separated list");
        assert_eq!(environment.amqp.url.expose(), nodes);
        assert_eq!(environment.amqp.url.node_count(), 2);
        let err = Settings::load_from(
            None,
            env(&[(
                "FRONTMON__AMQP__URL",
                "amqp://guest:guest@10.0.0.1/%2f,http://x",
            )]),
        )
        .expect_err("one bad URL");
        assert!(err.to_string().contains("amqp.url"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = std::env::temp_dir().join(format!("frontmon-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("frontmon.toml");
        std::fs::write(
            &path,
            "[collector]\nlisten = \"127.0.0.1:9000\"\nmax_batch = 7\n",
        )
        .expect("write config");
        let settings = Settings::load_from(
            Some(&path),
            env(&[
                ("FRONTMON__COLLECTOR__LISTEN", "127.0.0.1:9100"),
                ("FRONTMON__PROCESSOR__BATCH_WAIT_MS", "75"),
                (
                    "FRONTMON__COLLECTOR__TRUSTED_PROXIES",
                    "10.0.0.0/8,192.168.1.1/32",
                ),
                ("OTHER__COLLECTOR__LISTEN", "127.0.0.1:1"),
            ]),
        )
        .expect("valid");
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(settings.collector.listen.port(), 9100);
        assert_eq!(settings.collector.max_batch.get(), 7);
        assert_eq!(settings.processor.batch_wait, Duration::from_millis(75));
        assert_eq!(
            settings.collector.trusted_proxies,
            [
                "10.0.0.0/8".parse::<IpNet>().expect("net"),
                "192.168.1.1/32".parse().expect("net")
            ]
        );
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let err = Settings::from_toml("[collector]\nlisten_on = \"0.0.0.0:1\"\n")
            .expect_err("unknown key");
        assert!(err.to_string().contains("listen_on"), "{err}");
        let err = Settings::load_from(None, env(&[("FRONTMON__COLLECTOR__NOPE", "1")]))
            .expect_err("unknown env key");
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn invalid_values_are_errors_naming_the_key() {
        let err =
            Settings::from_toml("[[projects]]\nid = 1\nname = \"x\"\npublic_key = \"short\"\n")
                .expect_err("bad key");
        assert!(err.to_string().contains("public key"), "{err}");
        let err = Settings::from_toml("[database]\nurl = \"mysql://x\"\n").expect_err("bad url");
        assert!(err.to_string().contains("database.url"), "{err}");
        let err = Settings::from_toml("[collector]\nlisten = \"nowhere\"\n").expect_err("bad addr");
        assert!(err.to_string().contains("listen"), "{err}");
        for consumers in [0, 17] {
            let err = Settings::from_toml(&format!("[processor]\nconsumers = {consumers}\n"))
                .expect_err("out of range");
            assert!(err.to_string().contains("processor.consumers"), "{err}");
        }
        let settings = Settings::from_toml("[processor]\nconsumers = 16\n").expect("in range");
        assert_eq!(settings.processor.consumers.get(), 16);
    }

    /// Refused by the key's type as the configuration is read ([`ConfigError::Load`]), not
    /// afterwards by [`Settings::validate`].
    fn assert_refused_as_read(err: ConfigError, key: &str, message: &str) {
        let text = err.to_string();
        assert!(matches!(err, ConfigError::Load(_)), "{text}");
        assert!(text.contains(key), "{text}");
        assert!(text.contains(message), "{text}");
    }

    #[test]
    fn unusable_values_are_refused_as_read_naming_the_key() {
        for (section, key, value, message) in [
            ("amqp", "url", "http://broker", "not an AMQP URL"),
            ("amqp", "exchange", "", "must not be empty"),
            (
                "database",
                "url",
                "mysql://db/frontmon",
                "not a postgres:// URL",
            ),
            ("processor", "queue", "", "must not be empty"),
            ("alerter", "queue", "", "must not be empty"),
            (
                "processor",
                "admin_token",
                "short",
                "must be at least 8 characters",
            ),
        ] {
            let named = format!("{section}.{key}");
            let err = Settings::from_toml(&format!("[{section}]\n{key} = \"{value}\"\n"))
                .expect_err("refused in the file");
            assert_refused_as_read(err, &named, message);
            let variable = format!(
                "FRONTMON__{}__{}",
                section.to_ascii_uppercase(),
                key.to_ascii_uppercase()
            );
            let err = Settings::load_from(None, env(&[(&variable, value)]))
                .expect_err("refused in the environment");
            assert_refused_as_read(err, &named, message);
        }

        let err = Settings::from_toml("projects = []\n").expect_err("no project");
        assert_refused_as_read(err, "projects", "at least one project is needed");
        let err = Settings::from_toml(&format!(
            "[[projects]]\nid = 1\nname = \"shop\"\npublic_key = \"{DEMO_PUBLIC_KEY}\"\n\
             allowed_origins = []\n"
        ))
        .expect_err("no origin");
        assert_refused_as_read(
            err,
            "allowed_origins",
            r#"list at least one origin, or "*""#,
        );
    }

    #[test]
    fn what_spans_keys_is_checked_once_everything_is_read() {
        let err = Settings::from_toml("[alerter]\nqueue = \"frontmon.processor\"\n")
            .expect_err("one queue for two services");
        assert!(matches!(err, ConfigError::Invalid { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("alerter.queue: must differ from processor.queue"),
            "{err}"
        );
    }

    #[test]
    fn zero_is_refused_naming_the_key_and_the_range() {
        for (section, key, range) in [
            ("amqp", "delivery_limit", "nonzero"),
            ("amqp", "max_queue_length", "nonzero"),
            ("database", "max_connections", "nonzero"),
            ("collector", "max_body_bytes", "nonzero"),
            ("collector", "max_batch", "nonzero"),
            ("collector", "publish_timeout_ms", "at least 1 millisecond"),
            ("collector", "publish_channels", "nonzero"),
            ("processor", "consumers", "between 1 and 16"),
            ("processor", "prefetch", "nonzero"),
            ("processor", "batch_size", "nonzero"),
            ("processor", "sourcemap_max_bytes", "nonzero"),
            ("retention", "events_days", "nonzero"),
            ("retention", "rollups_days", "nonzero"),
            ("retention", "sourcemaps_days", "nonzero"),
            ("retention", "interval_secs", "at least 1 second"),
            ("alerter", "prefetch", "nonzero"),
            ("alerter", "webhook_timeout_ms", "at least 1 millisecond"),
            ("alerter", "retry_budget_secs", "at least 1 second"),
        ] {
            let err = Settings::from_toml(&format!("[{section}]\n{key} = 0\n"))
                .expect_err("zero in the file");
            assert!(
                err.to_string().contains(&format!("{section}.{key}")),
                "{err}"
            );
            assert!(err.to_string().contains(range), "{err}");
            let variable = format!(
                "FRONTMON__{}__{}",
                section.to_ascii_uppercase(),
                key.to_ascii_uppercase()
            );
            let err = Settings::load_from(None, env(&[(&variable, "0")]))
                .expect_err("zero in the environment");
            assert!(
                err.to_string().contains(&format!("{section}.{key}")),
                "{err}"
            );
            Settings::load_from(None, env(&[(&variable, "3")])).expect("3 is fine");
        }
    }

    #[test]
    fn rules_are_parsed_at_load_naming_the_rule_and_the_key() {
        let rules = |second: &str| {
            format!(
                "[[alerter.channels]]\nname = \"ops\"\nkind = \"webhook\"\n\
                 url = \"https://hooks.example/ops\"\n\
                 [[alerter.rules]]\nname = \"new\"\ncondition = \"new_issue\"\n\
                 [[alerter.rules]]\n{second}\n"
            )
        };
        let settings = Settings::from_toml(&rules(
            "name = \"busy\"\ncondition = \"frequency\"\nthreshold = 100\nwindow_secs = 60",
        ))
        .expect("valid");
        assert_eq!(
            settings.alerter.rules[1].condition,
            Condition::Frequency {
                threshold: std::num::NonZeroU64::new(100).expect("not zero"),
                window_secs: std::num::NonZeroU64::new(60).expect("not zero"),
            }
        );
        for (second, message) in [
            (
                "name = \"busy\"\ncondition = \"frequency\"\nwindow_secs = 60",
                "threshold: required by condition \"frequency\"",
            ),
            (
                "name = \"surge\"\ncondition = \"spike\"\nwindow_secs = 60\nfactor = 0.5",
                "factor: 0.5 is not a number above 1",
            ),
            (
                "name = \"new\"\ncondition = \"regression\"",
                "alerter.rules.name: rule names must be unique",
            ),
            (
                "name = \"chat\"\ncondition = \"regression\"\nchannels = [\"chat\"]",
                "alerter.rules.channels: no channel is named \"chat\"",
            ),
        ] {
            let err = Settings::from_toml(&rules(second)).expect_err("unusable");
            let text = err.to_string();
            assert!(text.contains(message), "{text}");
            if !message.starts_with("alerter.rules.") {
                assert!(text.contains("alerter.rules[1]"), "{text}");
            }
        }
    }

    #[test]
    fn quiet_hours_are_parsed_at_load_naming_the_key() {
        let channel = |start: &str, timezone: &str| {
            format!(
                "[[alerter.channels]]\nname = \"ops\"\nkind = \"webhook\"\n\
                 url = \"https://hooks.example/ops\"\n\
                 quiet_hours = {{ start = \"{start}\", end = \"08:00\", timezone = \"{timezone}\" }}\n"
            )
        };
        let settings = Settings::from_toml(&channel("22:00", "Asia/Shanghai")).expect("valid");
        let quiet = settings.alerter.channels[0]
            .quiet_hours
            .as_ref()
            .expect("quiet hours");
        assert_eq!(quiet.setting().timezone, "Asia/Shanghai");
        for (start, timezone, key) in [
            ("25:00", "UTC", "quiet_hours.start"),
            ("22:00", "Mars/Olympus", "quiet_hours.timezone"),
            ("08:00", "UTC", "quiet_hours"),
        ] {
            let err = Settings::from_toml(&channel(start, timezone)).expect_err("unusable");
            let text = err.to_string();
            assert!(text.contains(key), "{text}");
            assert!(text.contains("alerter.channels"), "{text}");
        }
    }

    #[test]
    fn a_channels_language_is_parsed_at_load_naming_the_key() {
        let channel = |language: &str| {
            format!(
                "[[alerter.channels]]\nname = \"ops\"\nkind = \"dingtalk\"\n\
                 url = \"https://oapi.dingtalk.com/robot/send?access_token=a\"\n{language}"
            )
        };
        let settings = Settings::from_toml(&channel("")).expect("valid");
        assert_eq!(settings.alerter.channels[0].language, Language::En);
        for (line, language) in [
            ("language = \"en\"", Language::En),
            ("language = \"zh-CN\"", Language::ZhCn),
        ] {
            let settings = Settings::from_toml(&channel(line)).expect("valid");
            assert_eq!(settings.alerter.channels[0].language, language);
        }
        for unknown in ["fr", "zh", "ZH-cn", ""] {
            let err = Settings::from_toml(&channel(&format!("language = \"{unknown}\"")))
                .expect_err("an unknown language");
            assert_refused_as_read(err, "alerter.channels", "language");
        }
    }

    #[test]
    fn the_documented_example_is_valid_and_states_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/frontmon.toml");
        let documented =
            Settings::load_from(Some(&path), env(&[])).expect("deploy/frontmon.toml is valid");
        let defaults = Settings::load_from(None, env(&[])).expect("defaults are valid");
        assert_eq!(format!("{documented:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn default_secrets_are_refused_beyond_loopback_only() {
        let defaults = Settings::load_from(None, env(&[])).expect("defaults are valid");
        for service in [Service::Collector, Service::Processor, Service::Alerter] {
            let err = defaults
                .refuse_default_secrets(service)
                .expect_err("the defaults listen on 0.0.0.0");
            let text = err.to_string();
            assert!(text.contains(service.name()), "{text}");
            assert!(text.contains("openssl rand -hex 16"), "{text}");
            if service == Service::Collector {
                assert!(text.contains("project 1's public_key"), "{text}");
                assert!(text.contains("[[projects]]"), "{text}");
            } else {
                assert!(text.contains("processor.admin_token"), "{text}");
                assert!(text.contains("FRONTMON__PROCESSOR__ADMIN_TOKEN"), "{text}");
            }
        }

        for listen in [
            "127.0.0.1:8080",
            "127.1.2.3:0",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:1",
        ] {
            let local = Settings::load_from(
                None,
                env(&[
                    ("FRONTMON__COLLECTOR__LISTEN", listen),
                    ("FRONTMON__PROCESSOR__LISTEN", listen),
                    ("FRONTMON__ALERTER__LISTEN", listen),
                ]),
            )
            .expect("valid");
            for service in [Service::Collector, Service::Processor, Service::Alerter] {
                local
                    .refuse_default_secrets(service)
                    .unwrap_or_else(|e| panic!("{listen}: {e}"));
            }
        }

        // Beyond loopback with secrets of one's own; the key is compared case-insensitively.
        let own = "[processor]\nlisten = \"[::]:8081\"\nadmin_token = \"a-real-token\"\n\
                   [alerter]\nlisten = \"192.0.2.1:8082\"\n\
                   [[projects]]\nid = 1\nname = \"shop\"\n\
                   public_key = \"0123456789abcdef0123456789abcdef\"\n";
        let settings = Settings::from_toml(own).expect("valid");
        for service in [Service::Collector, Service::Processor, Service::Alerter] {
            settings
                .refuse_default_secrets(service)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let demo = own.replace(
            "0123456789abcdef0123456789abcdef",
            &DEMO_PUBLIC_KEY.to_ascii_uppercase(),
        );
        let settings = Settings::from_toml(&demo).expect("valid");
        assert!(settings.refuse_default_secrets(Service::Collector).is_err());
    }

    #[test]
    fn public_keys_compare_case_insensitively() {
        let key = PublicKey::parse("ABCDEF0123456789abcdef0123456789").expect("valid");
        assert!(key.matches("abcdef0123456789abcdef0123456789"));
        assert!(key.matches("ABCDEF0123456789ABCDEF0123456789"));
        assert!(!key.matches("abcdef0123456789abcdef012345678"));
        assert!(!key.matches("bbcdef0123456789abcdef0123456789"));
    }
}
