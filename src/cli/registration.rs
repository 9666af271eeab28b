//! `portcullis registration token create|list`: initial access tokens for
//! dynamic client registration (RFC 7591 §3, `PORTCULLIS_REGISTRATION=token`).
//! The rules are in [`crate::app::registration`], shared with the admin
//! API; this module parses and prints.

use clap::Subcommand;
use serde_json::json;

use super::open_store;
use crate::adapters::system::{OsRng, SystemClock};
use crate::app::registration::{self, InitialAccessTokenView};
use crate::config::Config;

/// `registration …`
#[derive(Debug, Subcommand)]
pub enum RegistrationCmd {
    /// Initial access tokens (RFC 7591 §3).
    #[command(subcommand)]
    Token(TokenCmd),
}

/// `registration token …`
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Make an initial access token; prints it once (only its hash is stored).
    Create {
        /// Lifetime: a number and a unit, s, m, h, d or w (at most 366 days).
        #[arg(long, default_value = "1d", value_name = "DURATION")]
        ttl: String,
        /// Registrations it allows (default: any number until it expires).
        #[arg(long, value_name = "N")]
        uses: Option<u32>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List initial access tokens (never the tokens themselves).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an initial access token (by the id `list` shows): it stops
    /// working at once.
    Revoke {
        /// The token's id.
        id: String,
    },
}

fn time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(
        || secs.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

fn uses(v: &InitialAccessTokenView) -> String {
    v.uses_left
        .map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

/// Runs a `registration` command.
pub async fn run(cmd: RegistrationCmd, config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match cmd {
        RegistrationCmd::Token(TokenCmd::Create { ttl, uses: n, json }) => {
            let ttl =
                crate::app::events::parse_since(&ttl).map_err(|e| anyhow::anyhow!("--ttl {e}"))?;
            let issued = registration::create_initial_access_token(
                store.as_ref(),
                &OsRng,
                &SystemClock,
                ttl,
                n,
            )
            .await?;
            if json {
                let mut v = serde_json::to_value(&issued.view)?;
                v["token"] = json!(issued.token);
                println!("{v}");
            } else {
                println!("id:          {}", issued.view.id);
                println!("token:       {}", issued.token);
                println!("expires_at:  {}", time(issued.view.expires_at));
                println!("uses_left:   {}", uses(&issued.view));
                eprintln!(
                    "\nThe token is shown only once and stored as a hash. Send it as \
                     `Authorization: Bearer <token>` to POST /register."
                );
            }
        }
        RegistrationCmd::Token(TokenCmd::Revoke { id }) => {
            registration::revoke_initial_access_token(store.as_ref(), &id).await?;
            println!("initial access token {id} revoked");
        }
        RegistrationCmd::Token(TokenCmd::List { json }) => {
            let list = registration::list_initial_access_tokens(store.as_ref()).await?;
            if json {
                println!("{}", serde_json::to_value(&list)?);
            } else {
                for v in &list {
                    println!(
                        "{}\tcreated {}\texpires {}\tuses left {}",
                        v.id,
                        time(v.created_at),
                        time(v.expires_at),
                        uses(v)
                    );
                }
            }
        }
    }
    Ok(())
}
