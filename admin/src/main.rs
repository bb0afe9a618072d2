//! `frontmon-admin`: operator commands. See `frontmon-admin --help`.

// Printing the answer on stdout is this command's job.
#![allow(clippy::print_stdout)]

use anyhow::Context;
use clap::CommandFactory;

use admin::cli::{Cli, Command, UsersCommand};

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
