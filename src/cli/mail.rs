//! `portcullis mail list`: the outbox, newest first, as the operator needs
//! it to see a stuck mail (its attempts, its last error). Never the body: it
//! may hold a single-use link.

use std::io::Write;

use clap::Subcommand;
use serde::Serialize;

use super::open_store;
use crate::config::Config;
use crate::domain::OutboxMail;

/// `mail …`
#[derive(Debug, Subcommand)]
pub enum MailCmd {
    /// List queued and sent mail, newest first (never the body).
    List {
        /// Only mail not sent yet (waiting for a retry, or refused).
        #[arg(long)]
        unsent: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// One row of the list: every column but the body.
#[derive(Debug, Serialize)]
pub struct MailRow {
    /// Id.
    pub id: String,
    /// What it is for.
    pub kind: &'static str,
    /// The recipient.
    pub recipient: String,
    /// The subject.
    pub subject: String,
    /// Queued at (RFC 3339).
    pub created_at: String,
    /// Failed attempts.
    pub attempts: u32,
    /// Not tried again before (RFC 3339).
    pub next_attempt_at: String,
    /// Sent at, if sent.
    pub sent_at: Option<String>,
    /// The last error.
    pub last_error: Option<String>,
}

impl From<&OutboxMail> for MailRow {
    fn from(m: &OutboxMail) -> Self {
        Self {
            id: m.id.clone(),
            kind: m.kind.as_str(),
            recipient: m.recipient.clone(),
            subject: m.subject.clone(),
            created_at: m.created_at.to_rfc3339(),
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at.to_rfc3339(),
            sent_at: m.sent_at.map(|t| t.to_rfc3339()),
            last_error: m.last_error.clone(),
        }
    }
}

/// Runs a `mail` command.
pub async fn run(cmd: MailCmd, config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match cmd {
        MailCmd::List {
            unsent,
            limit,
            json,
        } => {
            let mails = store
                .outbox()
                .list_mail(unsent, limit.clamp(1, 10_000))
                .await?;
            let rows: Vec<MailRow> = mails.iter().map(MailRow::from).collect();
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string(&rows)?)?;
            } else {
                for r in &rows {
                    let status = r.sent_at.as_deref().map_or_else(
                        || format!("unsent, next attempt {}", r.next_attempt_at),
                        |t| format!("sent {t}"),
                    );
                    writeln!(
                        out,
                        "{}\t{}\t{}\tcreated {}\t{} attempt(s) failed\t{}{}",
                        r.id,
                        r.kind,
                        r.recipient,
                        r.created_at,
                        r.attempts,
                        status,
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
