//! `portcullis events tail|stats|archive|query`: reads events back
//! through the [`EventReader`] port, from the store the factory picks
//! (ClickHouse, or in the embedded default the JSON Lines files);
//! `archive` writes closed hours to the S3 archive and `query` reads the
//! archive back (`app::archive`).

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use chrono::Utc;
use clap::Subcommand;
use uuid::Uuid;

use crate::app::archive;
use crate::app::events as app_events;
use crate::config::Config;
use crate::domain::event::{Event, EventKind};
use crate::factory::{build_archive, build_event_reader};
use crate::ports::{EventQuery, EventReader, EventStats};

/// The filters `events tail` and `events query` share.
#[derive(Debug, Clone, clap::Args)]
pub struct Filters {
    /// Only events of this kind (e.g. token_issued, admin_change).
    #[arg(long, value_parser = parse_kind)]
    kind: Option<EventKind>,
    /// Only events of this client (client_id).
    #[arg(long = "client", value_name = "CLIENT_ID")]
    client_id: Option<String>,
    /// Only events about this subject (a user id).
    #[arg(long)]
    subject: Option<String>,
}

impl Filters {
    /// The query with these filters and no time bounds.
    fn query(self, limit: usize) -> EventQuery {
        EventQuery {
            kind: self.kind,
            client_id: self.client_id,
            subject: self.subject,
            limit,
            ..EventQuery::default()
        }
    }
}

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
        /// Which events.
        #[command(flatten)]
        filters: Filters,
        /// Only events at or after: an RFC 3339 time, or a duration ago
        /// (24h, 7d, ...).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Only events before: an RFC 3339 time, or a duration ago.
        #[arg(long, value_name = "WHEN")]
        until: Option<String>,
    },
    /// Archive closed hours of events to S3 as Parquet (docs/EVENTS.md,
    /// "Archive"): by default every closed hour (ended 5 minutes ago or
    /// more) not archived yet; hours already archived with the same events
    /// are left as they are.
    Archive {
        /// First hour: 2026-12-01T13 (UTC), a day (its first hour) or an
        /// RFC 3339 time.
        #[arg(long, value_name = "HOUR")]
        from: Option<String>,
        /// Last hour (included): 2026-12-01T13, a day (its last hour) or
        /// an RFC 3339 time.
        #[arg(long, value_name = "HOUR")]
        to: Option<String>,
        /// One JSON object per hour.
        #[arg(long)]
        json: bool,
    },
    /// Read archived events back from S3 (hours --from to --to, both
    /// included), oldest first.
    Query {
        /// First hour: 2026-12-01T13 (UTC), a day or an RFC 3339 time.
        #[arg(long, value_name = "HOUR")]
        from: String,
        /// Last hour (included).
        #[arg(long, value_name = "HOUR")]
        to: String,
        /// Which events.
        #[command(flatten)]
        filters: Filters,
        /// jsonl (the stored schema, one object per line) or csv.
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
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

/// The output of `events query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line, the stored schema.
    Jsonl,
    /// CSV (RFC 4180) with a header line; `scopes` space-separated,
    /// `details` a JSON object.
    Csv,
}

/// The archive configured by `config`, or why there is none.
async fn open_archive(config: &Config) -> anyhow::Result<std::sync::Arc<archive::Archive>> {
    build_archive(config, None).await.ok_or_else(|| {
        anyhow::anyhow!(
            "no event archive is configured: set {}",
            crate::config::setting::ARCHIVE_S3_BUCKET.env
        )
    })
}

fn hour_arg(name: &str, raw: &str, end: bool) -> anyhow::Result<chrono::DateTime<Utc>> {
    archive::parse_hour(raw, end).map_err(|e| anyhow::anyhow!("--{name} {e}"))
}

/// Runs an `events` command.
pub async fn run(cmd: EventsCmd, config: &Config) -> anyhow::Result<()> {
    let reader = build_event_reader(config);
    match cmd {
        EventsCmd::Archive { from, to, json } => {
            let from = from.map(|f| hour_arg("from", &f, false)).transpose()?;
            let to = to.map(|t| hour_arg("to", &t, true)).transpose()?;
            let archive = open_archive(config).await?;
            let done = archive::run(&archive, reader.as_ref(), from, to, Utc::now())
                .await
                .map_err(|e| anyhow::anyhow!("archive to {}: {e}", archive.location()))?;
            print_archived(&done, json)
        }
        EventsCmd::Query {
            from,
            to,
            filters,
            format,
        } => {
            let from = hour_arg("from", &from, false)?;
            let to = hour_arg("to", &to, true)?;
            let archive = open_archive(config).await?;
            let filter = filters.query(0);
            let events = archive::query(&archive, from, to, &filter)
                .await
                .map_err(|e| anyhow::anyhow!("archive at {}: {e}", archive.location()))?;
            print_archive_events(&events, format)
        }
        EventsCmd::Tail {
            n,
            follow,
            json,
            filters,
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
                from: when("since", since)?,
                to: when("until", until)?,
                ..filters.query(n)
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

fn print_archived(done: &[archive::HourReport], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let (mut archived, mut kept) = (0, 0);
    for r in done {
        let hour = r.hour.format("%Y-%m-%dT%H");
        if json {
            serde_json::to_writer(&mut out, r)?;
            writeln!(out)?;
        }
        match &r.result {
            archive::HourResult::Archived { rows, key } => {
                archived += 1;
                if !json {
                    writeln!(out, "{hour}  archived {rows} events  {key}")?;
                }
            }
            archive::HourResult::AlreadyArchived { rows } => {
                kept += 1;
                if !json {
                    writeln!(out, "{hour}  already archived ({rows} events)")?;
                }
            }
        }
    }
    if !json {
        writeln!(out, "{archived} hours archived, {kept} already archived")?;
    }
    Ok(())
}

/// One CSV field (RFC 4180 §2: quoted when it holds a comma, a quote or
/// a line break; quotes doubled). A field a spreadsheet would take for a
/// formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return:
/// a `User-Agent` or request id is the sender's choice) gets a leading `'`
/// (OWASP, "CSV Injection"), so that opening the export runs nothing.
fn csv_field(out: &mut impl Write, v: &str) -> std::io::Result<()> {
    let v: std::borrow::Cow<'_, str> = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}").into()
    } else {
        v.into()
    };
    if v.contains([',', '"', '\n', '\r']) {
        write!(out, "\"{}\"", v.replace('"', "\"\""))
    } else {
        write!(out, "{v}")
    }
}

/// The CSV columns of `events query --format csv`.
const CSV_COLUMNS: [&str; 14] = [
    "event_id",
    "occurred_at",
    "kind",
    "outcome",
    "client_id",
    "subject",
    "session_id",
    "scopes",
    "grant_type",
    "error_code",
    "ip",
    "user_agent",
    "request_id",
    "details",
];

fn print_archive_events(events: &[Event], format: Format) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match format {
        Format::Jsonl => {
            for e in events {
                print_event(&mut out, e, true)?;
            }
        }
        Format::Csv => {
            writeln!(out, "{}", CSV_COLUMNS.join(","))?;
            for e in events {
                let fields = [
                    e.event_id().to_string(),
                    e.occurred_at()
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    e.kind().as_str().to_owned(),
                    e.outcome_value().as_str().to_owned(),
                    e.client_id().unwrap_or_default().to_owned(),
                    e.subject_id().unwrap_or_default().to_owned(),
                    e.session_id().unwrap_or_default().to_owned(),
                    e.scope_list().join(" "),
                    e.grant_type_str().unwrap_or_default().to_owned(),
                    e.error_code().unwrap_or_default().to_owned(),
                    e.ip().map(|ip| ip.to_string()).unwrap_or_default(),
                    e.user_agent().unwrap_or_default().to_owned(),
                    e.request_id().unwrap_or_default().to_owned(),
                    serde_json::to_string(e.detail_map())?,
                ];
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        write!(out, ",")?;
                    }
                    csv_field(&mut out, f)?;
                }
                writeln!(out)?;
            }
        }
    }
    out.flush()?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::csv_field;

    fn field(v: &str) -> String {
        let mut out = Vec::new();
        csv_field(&mut out, v).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for bad in ["+1", "-1+2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(
                field(bad).trim_start_matches('"').starts_with('\''),
                "{bad}"
            );
        }
    }
}
