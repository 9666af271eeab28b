//! `portcullis user create|list|disable|enable|set-password|unlock`: the users.
//! The rules are in [`crate::app::operator`]; this module parses and prints.

use std::io::{BufRead, Write};

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use super::open_store;
use crate::adapters::system::SystemClock;
use crate::app::operator::{self, NewUser};
use crate::config::Config;
use crate::factory;

/// `user …`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user; the password is read from standard input.
    Create {
        /// Login name.
        #[arg(long)]
        username: String,
        /// E-mail address.
        #[arg(long)]
        email: String,
        /// Full name.
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input (one line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List users.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: they can no longer sign in; their sessions end and
    /// every token issued to them is revoked.
    Disable {
        /// Login name.
        username: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Login name.
        username: String,
    },
    /// Lift the sign-in locks of a user (after too many failed sign-ins),
    /// from every client address.
    Unlock {
        /// Login name.
        username: String,
    },
    /// Set a new password, read from standard input; the user's sessions end
    /// and every token issued to them is revoked.
    SetPassword {
        /// Login name.
        username: String,
        /// Read the password from standard input (one line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

fn read_password() -> anyhow::Result<zeroize::Zeroizing<String>> {
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let trimmed = line.trim_end_matches(['\n', '\r']).to_owned();
    Ok(zeroize::Zeroizing::new(trimmed))
}

/// Runs a `user` command.
pub async fn run(cmd: UserCmd, config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let clock = SystemClock;
    match cmd {
        UserCmd::Create {
            username,
            email,
            name,
            password_stdin: _,
            json,
        } => {
            let password = read_password()?;
            operator::check_password(&password)?;
            let hasher = factory::build_password_hasher(config)?;
            let user = operator::create_user(
                store.as_ref(),
                hasher.as_ref(),
                &clock,
                NewUser {
                    username,
                    email,
                    name,
                    password: password.to_string(),
                },
            )
            .await?;
            if json {
                println!(
                    "{}",
                    json!({ "id": user.id.as_str(), "username": user.username.as_str(), "email": user.email })
                );
            } else {
                println!("created user {} (sub {})", user.username, user.id);
            }
            Ok(())
        }
        UserCmd::List { json } => {
            let users = store.users().list_users().await?;
            if json {
                let v: Vec<_> = users
                    .iter()
                    .map(|u| json!({"id": u.id.as_str(), "username": u.username.as_str(), "email": u.email, "name": u.name, "disabled": u.disabled}))
                    .collect();
                println!("{}", serde_json::Value::from(v));
            } else {
                let mut out = std::io::stdout().lock();
                for u in &users {
                    let state = if u.disabled { "disabled" } else { "active" };
                    writeln!(out, "{}\t{}\t{}\t{}", u.username, u.email, state, u.id)?;
                }
            }
            Ok(())
        }
        UserCmd::Disable { username } => {
            operator::set_disabled(store.as_ref(), &clock, &username, true).await?;
            eprintln!(
                "disabled user {username}; their sessions ended and their tokens were revoked"
            );
            Ok(())
        }
        UserCmd::Enable { username } => {
            operator::set_disabled(store.as_ref(), &clock, &username, false).await?;
            eprintln!("enabled user {username}");
            Ok(())
        }
        UserCmd::Unlock { username } => {
            let cleared = operator::unlock_user(store.as_ref(), &username).await?;
            eprintln!("unlocked user {username} ({cleared} throttle entries cleared)");
            Ok(())
        }
        UserCmd::SetPassword {
            username,
            password_stdin: _,
        } => {
            let password = read_password()?;
            operator::check_password(&password)?;
            let hasher = factory::build_password_hasher(config)?;
            operator::set_password(
                store.as_ref(),
                hasher.as_ref(),
                &clock,
                &username,
                &password,
            )
            .await?;
            eprintln!(
                "password changed for {username}; their sessions ended and their tokens were revoked"
            );
            Ok(())
        }
    }
}
