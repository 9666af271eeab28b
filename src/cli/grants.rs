//! `portcullis grant list|revoke` and `portcullis consent revoke`: what
//! users granted clients. Revoking goes through the one grant-revocation
//! operation ([`crate::app::grants`], shared with the admin API): every
//! token of the grant stops working.

use std::io::Write;

use clap::Subcommand;

use super::open_store;
use crate::adapters::system::SystemClock;
use crate::app::grants::{self, Owner};
use crate::app::users::{self, UserRef};
use crate::config::Config;
use crate::protocol::admin::PageRequest;

/// `grant …`
#[derive(Debug, Subcommand)]
pub enum GrantCmd {
    /// List live grants of a user, of a client, or of both.
    List {
        /// Login name.
        #[arg(long, required_unless_present = "client")]
        user: Option<String>,
        /// Client id.
        #[arg(long)]
        client: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a grant and every token issued from it.
    Revoke {
        /// Grant id.
        grant_id: String,
    },
}

/// `consent …`
#[derive(Debug, Subcommand)]
pub enum ConsentCmd {
    /// Revoke a user's consent for a client and every grant of the user
    /// to that client: the next authorization asks again.
    Revoke {
        /// Login name.
        username: String,
        /// Client id.
        client_id: String,
    },
}

/// Runs a `grant` command.
pub async fn run(cmd: GrantCmd, config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let clock = SystemClock;
    match cmd {
        GrantCmd::List { user, client, json } => {
            let user_id = match &user {
                Some(u) => Some(users::find(store.as_ref(), UserRef::Username(u)).await?.id),
                None => None,
            };
            let owner = Owner::parse(
                user_id.as_ref().map(crate::domain::UserId::as_str),
                client.as_deref(),
            )?;
            let mut all = Vec::new();
            let mut page = PageRequest::parse(Some("500"), None)?;
            loop {
                let p = grants::list_grants(store.as_ref(), &owner, &page).await?;
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
                for g in &all {
                    writeln!(
                        out,
                        "{}\tclient {}\tuser {}\t{}\t{}",
                        g.grant_id,
                        g.client_id,
                        g.user_id,
                        g.scope,
                        g.created_at.to_rfc3339()
                    )?;
                }
            }
            Ok(())
        }
        GrantCmd::Revoke { grant_id } => {
            if grants::revoke_grant(store.as_ref(), &clock, &grant_id).await? {
                eprintln!("revoked grant {grant_id} and every token issued from it");
            } else {
                eprintln!("grant {grant_id} was revoked already");
            }
            Ok(())
        }
    }
}

/// Runs a `consent` command.
pub async fn run_consent(cmd: ConsentCmd, config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let clock = SystemClock;
    match cmd {
        ConsentCmd::Revoke {
            username,
            client_id,
        } => {
            let user = users::find(store.as_ref(), UserRef::Username(&username)).await?;
            let done = grants::revoke_consent(store.as_ref(), &clock, &user.id, &client_id).await?;
            eprintln!(
                "revoked the consent of {username} for {client_id} and {} grant(s)",
                done.grants
            );
            Ok(())
        }
    }
}
