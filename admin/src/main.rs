//! `frontmon-admin`: operator commands. See `frontmon-admin help`.

use anyhow::Context;

const USAGE: &str = "usage:
  frontmon-admin [--config PATH] queues
      every queue of the topology and the messages waiting in it
  frontmon-admin [--config PATH] replay processor|alerter|unroutable [--limit N]
      move parked messages back: processor/alerter dead letters to their queue,
      unroutable events to the exchange (default: as many as are parked now)
";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = shared::config::Settings::load(shared::config::config_path().as_deref())
        .context("configuration")?;
    let mut args = std::env::args().skip(1).peekable();
    let mut words = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--config" {
            args.next();
        } else if !arg.starts_with("--config=") {
            words.push(arg);
        }
    }
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["queues"] => {
            for (queue, count) in admin::queue_depths(&settings).await? {
                println!("{count:>10}  {queue}");
            }
        }
        ["replay", source, rest @ ..] => {
            let source: admin::Source = source.parse().map_err(anyhow::Error::msg)?;
            let limit = match rest {
                [] => None,
                ["--limit", n] => Some(n.parse().context("--limit takes a number")?),
                _ => anyhow::bail!("{USAGE}"),
            };
            let moved = admin::replay(&settings, source, limit).await?;
            println!("replayed {moved} message(s)");
        }
        ["sourcemaps", rest @ ..] => {
            let (command, connection) = match admin::sourcemaps::parse(rest) {
                Ok(parsed) => parsed,
                Err(error) => {
                    eprintln!("{error}\n\n{USAGE}{}", admin::sourcemaps::USAGE);
                    std::process::exit(2);
                }
            };
            let mut out = std::io::stdout().lock();
            let succeeded =
                admin::sourcemaps::run(&settings, &command, &connection, &mut out).await?;
            drop(out);
            // Some uploads failed: each said why on its line.
            if !succeeded {
                std::process::exit(1);
            }
        }
        _ => {
            println!("{USAGE}{}", admin::sourcemaps::USAGE);
            if !matches!(words.first().map(String::as_str), Some("help") | None) {
                std::process::exit(2);
            }
        }
    }
    Ok(())
}
