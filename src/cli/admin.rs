//! `portcullis admin bootstrap`: the first admin client, whose
//! client-credentials tokens call the admin API (`/admin/v1`). The rule
//! (refuse when an admin client exists, unless `--force`) is
//! [`crate::app::clients::bootstrap_admin`]; this module parses and prints.

use clap::Subcommand;

use super::clients::{client_json, print_client};
use super::open_store;
use crate::adapters::system::{OsRng, SystemClock};
use crate::app::clients;
use crate::config::Config;

/// `admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Create the first admin client (client_credentials, scopes
    /// `admin:read admin:write`) and print its credentials once. Refuses
    /// when a client with an admin scope exists, unless --force.
    Bootstrap {
        /// Create another admin client even if one exists.
        #[arg(long)]
        force: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `admin` command.
pub async fn run(cmd: AdminCmd, config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match cmd {
        AdminCmd::Bootstrap { force, json } => {
            let created =
                clients::bootstrap_admin(store.as_ref(), &OsRng, &SystemClock, force).await?;
            if json {
                println!(
                    "{}",
                    client_json(&created.client, created.secret.as_deref())
                );
            } else {
                print_client(&created.client);
                if let Some(s) = &created.secret {
                    println!("client_secret:  {s}");
                }
                eprintln!(
                    "\nThe secret is shown only once and stored as a hash: keep it now.\n\
                     Get an admin token with the client-credentials grant at {}/token.",
                    config.issuer.trim_end_matches('/')
                );
            }
            Ok(())
        }
    }
}
