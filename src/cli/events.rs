//! `portcullis events tail|stats`: reads events back through the
//! [`EventReader`] port, from the store the factory picks (ClickHouse,
//! or in the embedded default the JSON Lines files).

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use chrono::Utc;
use clap::Subcommand;
use uuid::Uuid;

use crate::app::events as app_events;
use crate::config::Config;
use crate::domain::event::{Event, EventKind};
use crate::factory::build_event_reader;
use crate::ports::{EventQuery, EventReader, EventStats};

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
        /// Only events of this kind (e.g. token_issued, admin_change).
        #[arg(long, value_parser = parse_kind)]
        kind: Option<EventKind>,
        /// Only events of this client (client_id).
        #[arg(long = "client", value_name = "CLIENT_ID")]
        client_id: Option<String>,
        /// Only events about this subject (a user id).
        #[arg(long)]
        subject: Option<String>,
        /// Only events at or after: an RFC 3339 time, or a duration ago
        /// (24h, 7d, ...).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Only events before: an RFC 3339 time, or a duration ago.
        #[arg(long, value_name = "WHEN")]
        until: Option<String>,
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
    let reader = build_event_reader(config);
    match cmd {
        EventsCmd::Tail {
            n,
            follow,
            json,
            kind,
            client_id,
            subject,
            since,
            until,
        } => {
            let now = Utc::now();
            let when = |name: &str, v: Option<String>| {
                v.map(|v| {
                    app_events::parse_when(&v, now).map_err(|e| anyhow::anyhow!("--{name} {e}"))
                })
                .transpose()
            };
            let q = EventQuery {
                kind,
                client_id,
                subject,
                from: when("since", since)?,
                to: when("until", until)?,
                limit: n,
            };
            tail(reader.as_ref(), q, follow, json).await
        }
        EventsCmd::Stats { since, json } => {
            let window =
                app_events::parse_since(&since).map_err(|e| anyhow::anyhow!("--since {e}"))?;
            let now = Utc::now();
            let stats = app_events::stats(reader.as_ref(), now - window, now).await?;
            if json {
                println!("{}", serde_json::to_string(&stats)?);
            } else {
                print_stats(&stats);
            }
            Ok(())
        }
    }
}

async fn tail(
    reader: &dyn EventReader,
    q: EventQuery,
    follow: bool,
    json: bool,
) -> anyhow::Result<()> {
    let filtered = q
        != EventQuery {
            limit: q.limit,
            ..EventQuery::default()
        };
    let mut out = std::io::stdout().lock();
    // Position the follower first so that nothing falls between.
    let mut follower = if follow {
        Some(reader.follow().await?)
    } else {
        None
    };
    let recent = if filtered {
        // Newest first from the query; printed oldest first, like `tail`.
        let mut found = app_events::query(reader, q.clone()).await?;
        found.reverse();
        found
    } else {
        reader.recent(q.limit).await?
    };
    for e in &recent {
        print_event(&mut out, e, json)?;
    }
    out.flush()?;
    let Some(follower) = follower.as_mut() else {
        return Ok(());
    };
    // An event stored between positioning and reading the recent ones
    // comes from both: print it once.
    let mut shown: HashSet<Uuid> = recent.iter().map(Event::event_id).collect();
    loop {
        tokio::time::sleep(POLL).await;
        for e in follower.poll().await? {
            if !q.matches(&e) {
                continue;
            }
            if shown.is_empty() || !shown.remove(&e.event_id()) {
                print_event(&mut out, &e, json)?;
            }
        }
        out.flush()?;
    }
}

fn parse_kind(s: &str) -> Result<EventKind, String> {
    s.parse()
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
