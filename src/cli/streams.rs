//! `portcullis stream list|status`: the Shared Signals streams receivers
//! created (docs/EVENTS.md, "Shared Signals"), and the transmitter's own
//! status change (SSF 1.0 §8.1.5: the receiver is told with a
//! stream-updated event). Never a receiver's authorization header.

use std::io::Write;

use clap::Subcommand;
use serde::Serialize;

use super::open_store;
use crate::adapters::system::{OsRng, SystemClock};
use crate::app::ssf::{SsfError, set_status_by_operator};
use crate::config::Config;
use crate::domain::ssf::{Stream, StreamStatus};
use crate::protocol::ssf::{MgmtError, events_delivered};

/// `stream …`
#[derive(Debug, Subcommand)]
pub enum StreamCmd {
    /// List the streams, by receiver.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Enable, pause or disable a stream; its receiver gets a
    /// stream-updated event.
    Status {
        /// The stream id.
        stream_id: String,
        /// `enabled`, `paused` (events held) or `disabled` (events dropped).
        status: String,
        /// Why (sent to the receiver).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// One row of the list.
#[derive(Debug, Serialize)]
pub struct StreamRow {
    /// `stream_id`.
    pub stream_id: String,
    /// The receiver's client id.
    pub client_id: String,
    /// Where SETs go.
    pub endpoint_url: String,
    /// `enabled`, `paused` or `disabled`.
    pub status: &'static str,
    /// Why.
    pub reason: Option<String>,
    /// The event types it carries.
    pub events_delivered: Vec<&'static str>,
    /// How many users it asked about.
    pub subjects: u64,
    /// Created (RFC 3339).
    pub created_at: String,
}

fn row(s: &Stream, subjects: u64) -> StreamRow {
    StreamRow {
        stream_id: s.id.clone(),
        client_id: s.client_id.as_str().to_owned(),
        endpoint_url: s.endpoint_url.clone(),
        status: s.status.as_str(),
        reason: s.reason.clone(),
        events_delivered: events_delivered(s),
        subjects,
        created_at: s.created_at.to_rfc3339(),
    }
}

/// Runs a `stream` command.
pub async fn run(cmd: StreamCmd, config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let mut out = std::io::stdout().lock();
    match cmd {
        StreamCmd::List { json } => {
            let mut rows = Vec::new();
            for s in store.streams().list_streams().await? {
                let n = store.streams().count_subjects(&s.id).await?;
                rows.push(row(&s, n));
            }
            if json {
                writeln!(out, "{}", serde_json::to_string(&rows)?)?;
            } else {
                for r in &rows {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}\t{} subject(s)\t{}",
                        r.stream_id,
                        r.client_id,
                        r.status,
                        r.endpoint_url,
                        r.subjects,
                        r.events_delivered.join(" ")
                    )?;
                }
            }
            Ok(())
        }
        StreamCmd::Status {
            stream_id,
            status,
            reason,
        } => {
            let Some(status) = StreamStatus::parse(&status) else {
                anyhow::bail!("status must be enabled, paused or disabled, not {status:?}");
            };
            if reason
                .as_deref()
                .is_some_and(|r| r.chars().count() > 256 || r.chars().any(char::is_control))
            {
                anyhow::bail!("--reason: at most 256 characters, no control characters");
            }
            match set_status_by_operator(
                store.as_ref(),
                &SystemClock,
                &OsRng,
                &stream_id,
                status,
                reason.as_deref(),
            )
            .await
            {
                Ok(before) => {
                    writeln!(
                        out,
                        "stream {stream_id}: {} -> {}",
                        before.as_str(),
                        status.as_str()
                    )?;
                    Ok(())
                }
                Err(SsfError::Refused(MgmtError::NotFound)) => {
                    anyhow::bail!("no stream {stream_id}")
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}
