//! `portcullis events tail|stats`: reads events back from ClickHouse
//! (deduplicated with `FINAL`) or, in the embedded default, from the JSON
//! Lines files.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use clap::Subcommand;
use uuid::Uuid;

use crate::adapters::events::{self, EventStats, clickhouse as ch, file};
use crate::config::{Config, EventConfig};
use crate::ports::Event;

/// `events …`
#[derive(Debug, Subcommand)]
pub enum EventsCmd {
    /// Print the most recent events, oldest first; with --follow, keep
    /// printing new ones as they arrive.
    Tail {
        /// How many recent events to print first.
        #[arg(short = 'n', long = "lines", default_value_t = 20, value_name = "N")]
        n: usize,
        /// Keep running and print new events.
        #[arg(short, long)]
        follow: bool,
        /// One JSON object per line (the stored schema).
        #[arg(long)]
        json: bool,
    },
    /// Counts by kind and by client, and failed logins by reason.
    Stats {
        /// Window: a number and a unit (s, m, h, d, w).
        #[arg(long, default_value = "24h", value_name = "DURATION")]
        since: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// How often `--follow` looks for new events.
const POLL: Duration = Duration::from_millis(500);
/// Most rows `--follow` reads from ClickHouse per poll.
const LIMIT: u64 = 1_000_000;
/// How long `--follow` remembers the ids it printed (a batch retried
/// within this time is not printed twice).
const KEEP_SEEN_SECS: u32 = 600;

fn print_event(out: &mut impl Write, e: &Event, json: bool) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, e)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{e}")?;
    }
    Ok(())
}

/// Runs an `events` command.
pub async fn run(cmd: EventsCmd, config: &Config) -> anyhow::Result<()> {
    match cmd {
        EventsCmd::Tail { n, follow, json } => tail(config, n, follow, json).await,
        EventsCmd::Stats { since, json } => {
            let window = events::parse_since(&since).map_err(|e| anyhow::anyhow!("--since {e}"))?;
            let since = Utc::now() - window;
            let stats =
                match &config.events {
                    EventConfig::Files { dir } => file::stats(dir, since)
                        .with_context(|| format!("cannot read events in {}", dir.display()))?,
                    EventConfig::ClickHouse(c) => ch::stats(&ch::client(c), &c.database, since)
                        .await
                        .with_context(|| format!("ClickHouse query failed ({})", c.url))?,
                };
            if json {
                println!("{}", serde_json::to_string(&stats)?);
            } else {
                print_stats(&stats);
            }
            Ok(())
        }
    }
}

async fn tail(config: &Config, n: usize, follow: bool, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match &config.events {
        EventConfig::Files { dir } => {
            // Position the follower first so nothing falls between.
            let mut follower = file::FileTail::at_end(dir)?;
            for e in file::recent(dir, n)? {
                print_event(&mut out, &e, json)?;
            }
            out.flush()?;
            if !follow {
                return Ok(());
            }
            loop {
                tokio::time::sleep(POLL).await;
                for e in follower.poll()? {
                    print_event(&mut out, &e, json)?;
                }
                out.flush()?;
            }
        }
        EventConfig::ClickHouse(c) => {
            let client = ch::client(c);
            let failed = || format!("ClickHouse query failed ({})", c.url);
            let start = ch::server_now(&client).await.with_context(failed)?;
            let recent = ch::recent(&client, &c.database, n as u64)
                .await
                .with_context(failed)?;
            for e in &recent {
                print_event(&mut out, e, json)?;
            }
            out.flush()?;
            if !follow {
                return Ok(());
            }
            // Follow by arrival (`inserted_at`, the server's clock, whole
            // seconds): re-read the last second each time and print the ids
            // not seen yet, which also hides a batch that was sent twice.
            let mut seen: VecDeque<(u32, Uuid)> = VecDeque::new();
            let mut seen_ids: HashSet<Uuid> = HashSet::new();
            let mut cursor = start;
            let known = ch::arrived_since(&client, &c.database, cursor.saturating_sub(1), LIMIT)
                .await
                .with_context(failed)?;
            for (at, e) in known {
                if seen_ids.insert(e.event_id()) {
                    seen.push_back((at, e.event_id()));
                }
            }
            loop {
                tokio::time::sleep(POLL).await;
                let rows =
                    match ch::arrived_since(&client, &c.database, cursor.saturating_sub(1), LIMIT)
                        .await
                    {
                        Ok(rows) => rows,
                        Err(e) => {
                            tracing::warn!(error = %e, "ClickHouse query failed; retrying");
                            continue;
                        }
                    };
                for (at, e) in rows {
                    cursor = cursor.max(at);
                    if seen_ids.insert(e.event_id()) {
                        seen.push_back((at, e.event_id()));
                        print_event(&mut out, &e, json)?;
                    }
                }
                out.flush()?;
                // Forget ids that arrived well before the window re-read.
                while seen
                    .front()
                    .is_some_and(|(at, _)| *at + KEEP_SEEN_SECS < cursor)
                {
                    if let Some((_, id)) = seen.pop_front() {
                        seen_ids.remove(&id);
                    }
                }
            }
        }
    }
}

fn print_stats(s: &EventStats) {
    println!(
        "events since {}: {}",
        s.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        s.total
    );
    let mut kinds: Vec<_> = s.by_kind.iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    println!("\nby kind:");
    for (k, n) in kinds {
        println!("  {k:<30} {n:>10}");
    }
    let mut clients: Vec<_> = s.by_client.iter().collect();
    clients.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(b.0)));
    println!("\nby client:{:>38} {:>10}", "total", "failures");
    for (c, n) in clients {
        println!("  {c:<40} {:>10} {:>10}", n.total, n.failures);
    }
    println!("\nfailed logins by reason:");
    for (r, n) in &s.failed_logins_by_reason {
        let r = if r.is_empty() { "(none)" } else { r.as_str() };
        println!("  {r:<30} {n:>10}");
    }
}
