//! `frontmon-admin`'s command line, declared once for clap: every command and subcommand
//! answers `--help` with its usage, and a wrong argument prints the usage and exits 2.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::Source;
use crate::sourcemaps::{self, Connection, Selection};

#[derive(Debug, Parser)]
#[command(
    name = "frontmon-admin",
    version,
    about = "Operator commands for a running frontmon: queue depths, dead-letter replay, source maps, projects and their keys, erasing a user's data."
)]
pub struct Cli {
    /// The configuration file (default: $FRONTMON_CONFIG, else the built-in defaults).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// None: the usage is printed.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Parses the process's arguments. `--help` and `--version` print and exit 0; a mistake
    /// prints what is wrong with the usage of the command it was meant for, and exits 2.
    pub fn parse_or_exit() -> Self {
        let args: Vec<OsString> = std::env::args_os().collect();
        match Cli::try_parse_from(&args) {
            Ok(cli) => cli,
            Err(error) if !error.use_stderr() => error.exit(),
            Err(error) => {
                eprint!("{}", with_usage(&error, &args));
                std::process::exit(2);
            }
        }
    }

    /// The configuration file to read: `--config`, else `FRONTMON_CONFIG`, else none.
    pub fn config_path(&self) -> Option<PathBuf> {
        self.config
            .clone()
            .or_else(|| std::env::var_os("FRONTMON_CONFIG").map(PathBuf::from))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every queue of the topology and the messages waiting in it.
    Queues,
    /// Move parked messages back: processor/alerter dead letters to their queue, unroutable
    /// events to the exchange.
    Replay {
        /// Where the messages are parked.
        #[arg(value_enum)]
        source: Source,
        /// At most this many (default: as many as are parked now).
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Upload a build's source maps to the processor's API, list and delete them.
    Sourcemaps {
        #[command(subcommand)]
        command: SourcemapsCommand,
    },
    /// The projects, in the database (the collectors pick changes up within seconds).
    Projects {
        #[command(subcommand)]
        command: ProjectsCommand,
    },
    /// A project's public keys: add one, revoke one, without restarting anything.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The dashboard's accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Delete every event of a user id or visitor id in a project (an erasure request), and
    /// the keys that counted the user among issues' affected users; issues' counts stay as
    /// they are.
    Erase {
        /// The user id (as the SDK sends `user.id`) or the visitor id.
        #[arg(long, value_name = "ID", value_parser = not_empty)]
        user: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectsCommand {
    /// Every project with its keys (revoked ones marked) and their DSNs.
    List {
        #[command(flatten)]
        collector: CollectorArgs,
    },
    /// Create a project with a new key; prints its id, key and DSN.
    Create {
        /// A name for people.
        #[arg(long, value_name = "NAME", value_parser = not_empty)]
        name: String,
        /// Its number (default: one more than the largest).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        id: Option<u32>,
        /// An origin whose pages may send events, e.g. https://shop.example (repeat for
        /// several; default: any).
        #[arg(long = "origin", value_name = "ORIGIN")]
        origins: Vec<String>,
        /// Events a minute the project may send (default: no limit).
        #[arg(long, value_name = "N")]
        rate_limit: Option<std::num::NonZeroU32>,
        /// Days its events are kept (default: retention.events_days).
        #[arg(long, value_name = "DAYS")]
        retention_days: Option<std::num::NonZeroU16>,
        /// Store no sender address, even when a Sentry SDK asks for it.
        #[arg(long)]
        no_store_ip: bool,
        /// Turn off scrubbing of what looks like a secret.
        #[arg(long, conflicts_with_all = ["scrub_emails", "scrub_field"])]
        no_scrub: bool,
        /// Scrub e-mail addresses too.
        #[arg(long)]
        scrub_emails: bool,
        /// Another key name whose values are scrubbed (repeat for several).
        #[arg(long, value_name = "NAME")]
        scrub_field: Vec<String>,
        /// A route pattern such as /docs/* or /u/:name (repeat for several, in order).
        #[arg(long, value_name = "PATTERN")]
        route: Vec<String>,
        #[command(flatten)]
        collector: CollectorArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a key to a project; prints the key and its DSN. The old keys keep working.
    Add {
        /// The project's id.
        project: u32,
        /// A note for people, e.g. "2026 rotation".
        #[arg(long, value_name = "TEXT")]
        label: Option<String>,
        /// This key (32 hex characters) instead of a new random one: one already in pages,
        /// e.g. a configuration's public_key written after the project was seeded.
        #[arg(long, value_name = "KEY", value_parser = public_key)]
        key: Option<shared::config::PublicKey>,
        #[command(flatten)]
        collector: CollectorArgs,
    },
    /// Revoke one of a project's keys: the collectors refuse it (401) within
    /// collector.projects_refresh_ms.
    Revoke {
        /// The project's id.
        project: u32,
        /// The key, as `projects list` shows it.
        key: String,
    },
}

/// Where SDKs reach the collector, for the DSNs printed.
#[derive(Debug, Args)]
pub struct CollectorArgs {
    /// The collector's address as browsers reach it, e.g. https://in.example (default:
    /// http://127.0.0.1:<collector.listen port>).
    #[arg(long, value_name = "URL")]
    pub collector_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user; the password is read from the first line of standard input.
    ///
    /// An admin sees every project; a member only those given with --project.
    Create {
        /// The user's email, which they sign in with.
        #[arg(long, value_name = "EMAIL", value_parser = not_empty)]
        email: String,
        /// An admin: every project, and (later) settings and users.
        #[arg(long, conflicts_with = "project")]
        admin: bool,
        /// A project the member may see (repeat for several).
        #[arg(long, value_name = "N")]
        project: Vec<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SourcemapsCommand {
    /// Upload every *.map under DIR with its minified file, named <url prefix>/<path in DIR>.
    ///
    /// Without --release the maps are matched by their debug id, which each must have.
    Upload {
        /// The release the maps belong to (as the SDK sends it).
        #[arg(long, value_name = "R", value_parser = not_empty)]
        release: Option<String>,
        /// What frames call DIR: `~`, `~/static/js` or `https://cdn.example/js`.
        #[arg(long, value_name = "P", default_value = "~")]
        url_prefix: String,
        /// The build directory.
        dir: PathBuf,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List the maps of a release, or those with a debug id.
    List {
        #[command(flatten)]
        by: ListBy,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Delete the maps of a release, or one by id.
    Delete {
        #[command(flatten)]
        by: DeleteBy,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ListBy {
    #[arg(long, value_name = "R", value_parser = not_empty)]
    release: Option<String>,
    #[arg(long, value_name = "ID")]
    debug_id: Option<String>,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct DeleteBy {
    #[arg(long, value_name = "R", value_parser = not_empty)]
    release: Option<String>,
    /// A map's id, as `list` shows it.
    #[arg(long, value_name = "N")]
    id: Option<i64>,
}

/// Where the processor's API is, and how to authenticate to it.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The processor's API (default: http://127.0.0.1:<processor.listen port>).
    #[arg(long, value_name = "URL")]
    api: Option<String>,
    /// The API's bearer token (default: processor.admin_token).
    #[arg(long, value_name = "T")]
    token: Option<String>,
    /// The project (default: the only configured project).
    #[arg(long, value_name = "N")]
    project: Option<String>,
}

impl From<ApiArgs> for Connection {
    fn from(args: ApiArgs) -> Self {
        Connection {
            api: args.api,
            token: args.token,
            project: args.project,
        }
    }
}

impl SourcemapsCommand {
    /// The command for [`sourcemaps::run`], with its connection options.
    pub fn into_parts(self) -> (sourcemaps::Command, Connection) {
        match self {
            SourcemapsCommand::Upload {
                release,
                url_prefix,
                dir,
                api,
            } => (
                sourcemaps::Command::Upload {
                    release,
                    url_prefix,
                    dir,
                },
                api.into(),
            ),
            SourcemapsCommand::List { by, api } => {
                let selection = match (by.release, by.debug_id) {
                    (Some(release), _) => Selection::Release(release),
                    (None, debug_id) => Selection::DebugId(debug_id.unwrap_or_default()),
                };
                (sourcemaps::Command::List(selection), api.into())
            }
            SourcemapsCommand::Delete { by, api } => {
                let selection = match (by.release, by.id) {
                    (Some(release), _) => Selection::Release(release),
                    (None, id) => Selection::Id(id.unwrap_or_default()),
                };
                (sourcemaps::Command::Delete(selection), api.into())
            }
        }
    }
}

/// clap's message for `error`, with the usage of the deepest command named in `args` when
/// clap left it out (an invalid value, say), so every mistake shows how it is done right.
fn with_usage(error: &clap::Error, args: &[OsString]) -> String {
    let text = error.render().to_string();
    if text.contains("Usage:") {
        return text;
    }
    let mut command = Cli::command();
    command.build();
    let mut meant = &command;
    for arg in args.iter().skip(1).filter_map(|arg| arg.to_str()) {
        if let Some(sub) = meant.find_subcommand(arg) {
            meant = sub;
        }
    }
    let usage = meant.clone().render_usage().to_string();
    match text.split_once("\nFor more information") {
        Some((head, tail)) => format!("{head}\n{usage}\n\nFor more information{tail}"),
        None => format!("{text}\n{usage}\n"),
    }
}

fn public_key(value: &str) -> Result<shared::config::PublicKey, String> {
    shared::config::PublicKey::parse(value)
}

fn not_empty(value: &str) -> Result<String, String> {
    if value.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn sourcemaps(args: &[&str]) -> Result<(sourcemaps::Command, Connection), clap::Error> {
        let cli =
            Cli::try_parse_from(["frontmon-admin", "sourcemaps"].iter().chain(args).copied())?;
        match cli.command {
            Some(Command::Sourcemaps { command }) => Ok(command.into_parts()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_declaration_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_lines() {
        let (command, connection) = sourcemaps(&[
            "upload",
            "--release",
            "1.2",
            "--url-prefix=~/static/js/",
            "--api",
            "http://p:9",
            "dist",
        ])
        .unwrap();
        assert_eq!(
            command,
            sourcemaps::Command::Upload {
                release: Some("1.2".into()),
                url_prefix: "~/static/js/".into(),
                dir: "dist".into(),
            }
        );
        assert_eq!(connection.api.as_deref(), Some("http://p:9"));
        let (command, _) = sourcemaps(&["upload", "dist"]).unwrap();
        assert!(matches!(
            command,
            sourcemaps::Command::Upload { release: None, ref url_prefix, .. } if url_prefix == "~"
        ));
        let (command, _) = sourcemaps(&["list", "--debug-id", "x"]).unwrap();
        assert_eq!(
            command,
            sourcemaps::Command::List(Selection::DebugId("x".into()))
        );
        let (command, _) = sourcemaps(&["delete", "--id", "7"]).unwrap();
        assert_eq!(command, sourcemaps::Command::Delete(Selection::Id(7)));
        for bad in [
            &[][..],
            &["upload"],
            &["upload", "a", "b"],
            &["upload", "--release"],
            &["upload", "--release", "", "dist"],
            &["upload", "--release", "1", "--release", "2", "dist"],
            &["upload", "--bogus", "1", "dist"],
            &["upload", "--id", "1", "dist"],
            &["list"],
            &["list", "--release", "1", "--debug-id", "x"],
            &["delete", "--debug-id", "x"],
            &["delete", "--id", "x"],
            &["frobnicate"],
        ] {
            assert!(sourcemaps(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn every_mistake_shows_the_usage_of_its_command() {
        for (args, usage) in [
            (
                &["replay", "nowhere"][..],
                "Usage: frontmon-admin replay [OPTIONS] <SOURCE>",
            ),
            (
                &["replay", "processor", "--limit", "x"],
                "Usage: frontmon-admin replay",
            ),
            (
                &["sourcemaps", "delete", "--id", "x"],
                "Usage: frontmon-admin sourcemaps delete",
            ),
            (
                &["sourcemaps", "upload"],
                "Usage: frontmon-admin sourcemaps upload",
            ),
            (&["frobnicate"], "Usage: frontmon-admin [OPTIONS] [COMMAND]"),
        ] {
            let args: Vec<OsString> = ["frontmon-admin"]
                .iter()
                .chain(args)
                .map(OsString::from)
                .collect();
            let error = Cli::try_parse_from(&args).unwrap_err();
            let text = with_usage(&error, &args);
            assert!(text.contains(usage), "{args:?}: {text}");
            assert_eq!(text.matches("Usage:").count(), 1, "{text}");
        }
    }

    #[test]
    fn replay_and_the_configuration() {
        let cli = Cli::try_parse_from([
            "frontmon-admin",
            "replay",
            "unroutable",
            "--limit",
            "100",
            "--config",
            "x.toml",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Replay {
                source: Source::Unroutable,
                limit: Some(100)
            })
        ));
        assert_eq!(cli.config, Some(PathBuf::from("x.toml")));
        for bad in [
            &["replay"][..],
            &["replay", "nowhere"],
            &["replay", "processor", "--limit", "many"],
            &["queues", "extra"],
        ] {
            let args = ["frontmon-admin"].iter().chain(bad).copied();
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?} was accepted");
        }
    }
}
