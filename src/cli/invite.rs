//! `portcullis user invite EMAIL [--ttl-secs N]`: an invitation to sign up
//! (`PORTCULLIS_SIGNUP=invite`, docs/ACCOUNT.md "Sign-up"). The rule is
//! [`crate::app::signup::invite`], shared with `POST
//! /admin/v1/invitations`. The link is only in the mail, never printed. The
//! command sits beside the other `user` commands ([`super::users`]) through
//! [`UserCommand`].

use clap::Subcommand;
use serde_json::json;

use super::{open_store, users};
use crate::adapters::system::{OsRng, SystemClock};
use crate::app::signup;
use crate::config::Config;

/// `user …`: the invitation, and every command of [`users::UserCmd`].
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Invite an e-mail address to sign up: the invitation link (single
    /// use) goes out by mail through the outbox; it is never printed.
    Invite {
        /// The address to invite.
        email: String,
        /// The link's lifetime in seconds (default 604800, seven days; at
        /// most 30 days).
        #[arg(long, value_name = "N")]
        ttl_secs: Option<i64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The other user commands.
    #[command(flatten)]
    Users(users::UserCmd),
}

/// Runs a `user` command.
pub async fn run(cmd: UserCommand, config: &Config) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Users(cmd) => users::run(cmd, config).await,
        UserCommand::Invite {
            email,
            ttl_secs,
            json,
        } => {
            let store = open_store(config).await?;
            let ttl =
                ttl_secs.map(|s| chrono::Duration::try_seconds(s).unwrap_or(chrono::Duration::MAX));
            let sent = signup::invite(
                store.as_ref(),
                &OsRng,
                &SystemClock,
                &config.self_service,
                &config.issuer,
                &email,
                ttl,
            )
            .await?;
            if json {
                println!(
                    "{}",
                    json!({"email": sent.email, "expires_at": sent.expires_at.timestamp()})
                );
            } else {
                println!(
                    "Invitation queued for {} (the link works once, until {} UTC). A running \
                     server sends it from the outbox.",
                    sent.email,
                    sent.expires_at.format("%Y-%m-%d %H:%M")
                );
            }
            Ok(())
        }
    }
}
