//! `portcullis session list|end|end-all`: a user's login sessions. Ending
//! one is a logout by the operator ([`crate::app::sessions`], shared with
//! the admin API): the session ends and the grants made in it are revoked,
//! except `offline_access` ones.

use std::io::Write;

use clap::Subcommand;

use super::open_store;
use crate::adapters::system::SystemClock;
use crate::app::sessions;
use crate::app::users::UserRef;
use crate::config::Config;
use crate::protocol::admin::PageRequest;

/// `session …`
#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// List a user's live sessions.
    List {
        /// Login name.
        username: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// End one session (its online grants are revoked).
    End {
        /// Session id (`sid`).
        session_id: String,
    },
    /// End every live session of a user.
    EndAll {
        /// Login name.
        username: String,
    },
}

/// Runs a `session` command.
pub async fn run(cmd: SessionCmd, config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let clock = SystemClock;
    let idle = config.auth.session_idle;
    match cmd {
        SessionCmd::List { username, json } => {
            let mut all = Vec::new();
            let mut page = PageRequest::parse(Some("500"), None)?;
            loop {
                let p = sessions::list(
                    store.as_ref(),
                    &clock,
                    idle,
                    UserRef::Username(&username),
                    &page,
                )
                .await?;
                all.extend(p.items);
                match p.next_cursor {
                    Some(c) => page = PageRequest::parse(Some("500"), Some(&c))?,
                    None => break,
                }
            }
            if json {
                println!("{}", serde_json::to_string(&all)?);
            } else {
                let mut out = std::io::stdout().lock();
                for s in &all {
                    writeln!(
                        out,
                        "{}\tcreated {}\tlast seen {}\texpires {}",
                        s.session_id,
                        s.created_at.to_rfc3339(),
                        s.last_seen_at.to_rfc3339(),
                        s.expires_at.to_rfc3339()
                    )?;
                }
            }
            Ok(())
        }
        SessionCmd::End { session_id } => {
            let ended = sessions::end(store.as_ref(), &clock, &session_id).await?;
            eprintln!(
                "ended session {} of user {}; its online grants were revoked",
                ended.session_id, ended.user_id
            );
            Ok(())
        }
        SessionCmd::EndAll { username } => {
            let (_, ended) =
                sessions::end_all(store.as_ref(), &clock, idle, UserRef::Username(&username))
                    .await?;
            println!("{}", ended.len());
            eprintln!("ended {} session(s) of user {username}", ended.len());
            Ok(())
        }
    }
}
