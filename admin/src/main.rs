//! `frontmon-admin`: operator commands. See `frontmon-admin --help`.

// Printing the answer on stdout is this command's job.
#![allow(clippy::print_stdout)]

use anyhow::Context;
use clap::CommandFactory;

use admin::cli::{Cli, CollectorArgs, Command, KeysCommand, ProjectsCommand, UsersCommand};
use admin::projects::{self, NewProject};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Before the configuration is read: `--help` and usage errors need none.
    let cli = Cli::parse_or_exit();
    let config = cli.config_path();
    let Some(command) = cli.command else {
        Cli::command().print_help()?;
        return Ok(());
    };
    let settings = shared::config::Settings::load(config.as_deref()).context("configuration")?;
    match command {
        Command::Queues => {
            for (queue, count) in admin::queue_depths(&settings).await? {
                println!("{count:>10}  {queue}");
            }
        }
        Command::Replay { source, limit } => {
            let moved = admin::replay(&settings, source, limit).await?;
            println!("replayed {moved} message(s)");
        }
        Command::Sourcemaps { command } => {
            let (command, connection) = command.into_parts();
            let mut out = std::io::stdout().lock();
            let succeeded =
                admin::sourcemaps::run(&settings, &command, &connection, &mut out).await?;
            drop(out);
            // Some uploads failed: each said why on its line.
            if !succeeded {
                std::process::exit(1);
            }
        }
        Command::Projects {
            command: ProjectsCommand::List { collector },
        } => {
            let collector = collector_url(&settings, collector);
            let mut out = std::io::stdout().lock();
            projects::list(&settings, &collector, &mut out).await?;
        }
        Command::Projects {
            command:
                ProjectsCommand::Create {
                    name,
                    id,
                    origins,
                    rate_limit,
                    retention_days,
                    no_store_ip,
                    no_scrub,
                    scrub_emails,
                    scrub_field,
                    route,
                    collector,
                },
        } => {
            let project = projects::create(
                &settings,
                NewProject {
                    id,
                    name,
                    allowed_origins: origins,
                    rate_limit_per_minute: rate_limit,
                    retention_days,
                    store_ip: !no_store_ip,
                    scrub: !no_scrub,
                    scrub_emails,
                    scrub_fields: scrub_field,
                    routes: route,
                },
            )
            .await?;
            let key = project
                .newest_key()
                .map(|key| key.as_str())
                .unwrap_or_default();
            println!("created project {} ({})", project.id, project.name);
            println!("key {key}");
            let collector = collector_url(&settings, collector);
            println!("dsn {}", projects::dsn(&collector, key, project.id));
        }
        Command::Keys {
            command:
                KeysCommand::Add {
                    project,
                    label,
                    key,
                    collector,
                },
        } => {
            let key = projects::add_key(&settings, project, key, label.as_deref()).await?;
            let collector = collector_url(&settings, collector);
            println!("key {}", key.as_str());
            println!("dsn {}", projects::dsn(&collector, key.as_str(), project));
        }
        Command::Keys {
            command: KeysCommand::Revoke { project, key },
        } => {
            if projects::revoke_key(&settings, project, &key).await? {
                println!("revoked {key} of project {project}");
            } else {
                println!("{key} of project {project} was revoked already");
            }
        }
        Command::Users {
            command:
                UsersCommand::Create {
                    email,
                    admin,
                    project,
                },
        } => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let id = admin::users::create(&settings, &email, password, admin, &project).await?;
            println!("created user {id} ({email})");
        }
        Command::Erase { user, api } => {
            let erased = admin::erasure::erase(&settings, &user, &api.into()).await?;
            println!(
                "erased {} event(s) and {} issue user key(s); issue counts are kept",
                erased.events, erased.user_keys
            );
        }
    }
    Ok(())
}

fn collector_url(settings: &shared::config::Settings, args: CollectorArgs) -> String {
    args.collector_url
        .unwrap_or_else(|| projects::default_collector(settings))
}
