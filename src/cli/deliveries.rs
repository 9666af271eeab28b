//! `portcullis delivery list`: the outbox of outbound requests
//! (back-channel logout tokens), newest first, as an operator needs it to
//! see a relying party that is down (attempts, next attempt, last error).
//! Never the payload's token: a logout token is signed at each attempt and
//! never stored.

use std::io::Write;

use clap::Subcommand;
use serde::Serialize;

use super::open_store;
use crate::config::Config;
use crate::ports::deliveries::{Delivery, DeliveryFilter};

/// `delivery …`
#[derive(Debug, Subcommand)]
pub enum DeliveryCmd {
    /// List queued, delivered and abandoned deliveries, newest first.
    List {
        /// Only those neither delivered nor abandoned (waiting for a retry).
        #[arg(long, conflicts_with = "abandoned")]
        pending: bool,
        /// Only those given up.
        #[arg(long)]
        abandoned: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// One row of the list.
#[derive(Debug, Serialize)]
pub struct DeliveryRow {
    /// Id (a logout token's `jti`).
    pub id: String,
    /// What it is (`backchannel_logout`).
    pub kind: String,
    /// The client it goes to.
    pub client_id: Option<String>,
    /// Where it goes.
    pub url: String,
    /// Queued at (RFC 3339).
    pub created_at: String,
    /// Failed attempts.
    pub attempts: u32,
    /// Not tried again before (RFC 3339).
    pub next_attempt_at: String,
    /// `pending`, `delivered` or `abandoned`.
    pub status: &'static str,
    /// Delivered or abandoned at (RFC 3339).
    pub done_at: Option<String>,
    /// The last error.
    pub last_error: Option<String>,
}

impl From<&Delivery> for DeliveryRow {
    fn from(d: &Delivery) -> Self {
        let (status, done_at) = match (d.delivered_at, d.abandoned_at) {
            (Some(t), _) => ("delivered", Some(t.to_rfc3339())),
            (None, Some(t)) => ("abandoned", Some(t.to_rfc3339())),
            (None, None) => ("pending", None),
        };
        Self {
            id: d.id.clone(),
            kind: d.kind.clone(),
            client_id: d.client_id.as_ref().map(|c| c.as_str().to_owned()),
            url: d.url.clone(),
            created_at: d.created_at.to_rfc3339(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at.to_rfc3339(),
            status,
            done_at,
            last_error: d.last_error.clone(),
        }
    }
}

/// Runs a `delivery` command.
pub async fn run(cmd: DeliveryCmd, config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match cmd {
        DeliveryCmd::List {
            pending,
            abandoned,
            limit,
            json,
        } => {
            let filter = if pending {
                DeliveryFilter::Pending
            } else if abandoned {
                DeliveryFilter::Abandoned
            } else {
                DeliveryFilter::All
            };
            let list = store
                .deliveries()
                .list_deliveries(filter, limit.clamp(1, 10_000))
                .await?;
            let rows: Vec<DeliveryRow> = list.iter().map(DeliveryRow::from).collect();
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string(&rows)?)?;
            } else {
                for r in &rows {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}\tcreated {}\t{} attempt(s) failed\t{}{}",
                        r.id,
                        r.kind,
                        r.client_id.as_deref().unwrap_or("-"),
                        r.url,
                        r.created_at,
                        r.attempts,
                        r.done_at.as_deref().map_or_else(
                            || format!("pending, next attempt {}", r.next_attempt_at),
                            |t| format!("{} {t}", r.status),
                        ),
                        r.last_error
                            .as_deref()
                            .map(|e| format!("\tlast error: {e}"))
                            .unwrap_or_default()
                    )?;
                }
            }
            Ok(())
        }
    }
}
