//! `portcullis user create|list|show|update|delete|disable|enable|set-password|unlock|factors|reset-mfa`:
//! the users, named by username (`factors` and `reset-mfa` take a username
//! or a user id). The rules are in [`crate::app::users`],
//! [`crate::app::operator`] and [`crate::app::mfa`] (shared with the admin
//! API); this module parses and prints.

use std::io::{BufRead, Write};

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use super::open_store;
use crate::adapters::system::{OsRng, SystemClock};
use crate::app::mfa;
use crate::app::operator::{self, NewUser, OperatorError};
use crate::app::users::{self, NameChange, UserRef, UserUpdate, UserView};
use crate::app::verification;
use crate::config::Config;
use crate::domain::event::Event;
use crate::domain::{User, UserId};
use crate::factory;
use crate::ports::{Clock, Store};
use crate::protocol::admin::PageRequest;

/// `user …`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user; the password is read from standard input. A
    /// verification link is mailed to their address.
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
    /// List users (all of them, page by page), optionally searched.
    List {
        /// Only users whose username or e-mail contains this text (any
        /// case; at most 128 characters).
        #[arg(long)]
        query: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a user (never the password hash).
    Show {
        /// Login name.
        username: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a user's e-mail address (it is then no longer verified, and
    /// a verification link is mailed to it) or name, or mark the address
    /// verified.
    Update {
        /// Login name.
        username: String,
        /// New e-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Mark the address (the current one, or the new `--email`)
        /// verified: you vouch for it; no link is sent.
        #[arg(long)]
        email_verified: bool,
        /// New full name.
        #[arg(long, conflicts_with = "clear_name")]
        name: Option<String>,
        /// Remove the full name.
        #[arg(long)]
        clear_name: bool,
    },
    /// Delete a user: their sessions end, every grant is revoked, their
    /// consents are deleted; events keep their id.
    Delete {
        /// Login name.
        username: String,
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
    /// List a user's second factors (kind, name, created, last used; never
    /// a secret) and how many recovery codes are left.
    Factors {
        /// Login name or user id.
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove every second factor and recovery code of a user (they lost
    /// their authenticator and their codes): they sign in with their
    /// password alone until they enrol again on the account page.
    ResetMfa {
        /// Login name or user id.
        user: String,
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
#[allow(clippy::too_many_lines)] // one arm per subcommand, read top to bottom
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
            operator::check_password(&password, &[&username, &email])?;
            let hasher = factory::build_password_hasher(config)?;
            let user = users::create(
                store.as_ref(),
                hasher.as_ref(),
                &clock,
                &verification::Sender::from_config(config, &OsRng),
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
                    json!({ "id": user.user_id, "username": user.username, "email": user.email })
                );
            } else {
                println!("created user {} (sub {})", user.username, user.user_id);
                eprintln!("a verification link was queued for {}", user.email);
            }
            Ok(())
        }
        UserCmd::List { query, json } => {
            let mut all = Vec::new();
            let mut page = PageRequest::parse(Some("500"), None)?;
            loop {
                let p = users::list(store.as_ref(), query.as_deref(), &page).await?;
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
                for u in &all {
                    let state = if u.disabled { "disabled" } else { "active" };
                    writeln!(out, "{}\t{}\t{}\t{}", u.username, u.email, state, u.user_id)?;
                }
            }
            Ok(())
        }
        UserCmd::Show { username, json } => {
            let user = users::find(store.as_ref(), UserRef::Username(&username)).await?;
            let view = UserView::from(&user);
            if json {
                println!("{}", serde_json::to_string(&view)?);
            } else {
                print_user(&view)?;
            }
            Ok(())
        }
        UserCmd::Update {
            username,
            email,
            email_verified,
            name,
            clear_name,
        } => {
            let updated = users::update(
                store.as_ref(),
                &clock,
                &verification::Sender::from_config(config, &OsRng),
                UserRef::Username(&username),
                UserUpdate {
                    email,
                    name: if clear_name {
                        Some(NameChange::Clear)
                    } else {
                        name.map(NameChange::Set)
                    },
                    disabled: None,
                    email_verified: email_verified.then_some(true),
                },
            )
            .await?;
            if updated.marked_verified {
                record_verified(config, &UserId::new(updated.user.user_id.clone())).await;
            }
            if updated.actions.is_empty() {
                eprintln!("user {username}: nothing changed");
            } else {
                eprintln!("updated user {username}");
            }
            if updated.link_sent {
                eprintln!("a verification link was queued for {}", updated.user.email);
            }
            Ok(())
        }
        UserCmd::Delete { username } => {
            let id = users::delete(store.as_ref(), &clock, UserRef::Username(&username)).await?;
            eprintln!(
                "deleted user {username} (sub {id}); their sessions ended, their tokens were revoked and their consents deleted"
            );
            Ok(())
        }
        UserCmd::Disable { username } => {
            operator::set_disabled(store.as_ref(), &clock, &username, true).await?;
            record_change(config, store, &username, "user_disabled").await;
            eprintln!(
                "disabled user {username}; their sessions ended and their tokens were revoked"
            );
            Ok(())
        }
        UserCmd::Enable { username } => {
            operator::set_disabled(store.as_ref(), &clock, &username, false).await?;
            record_change(config, store, &username, "user_enabled").await;
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
            operator::check_password(&password, &[&username])?;
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
        UserCmd::Factors { user, json } => {
            let user = named(store.as_ref(), &user).await?;
            let view = mfa::list(store.as_ref(), UserRef::Id(user.id.as_str())).await?;
            if json {
                println!("{}", serde_json::to_string(&view)?);
            } else {
                print_factors(&view)?;
            }
            Ok(())
        }
        UserCmd::ResetMfa { user } => {
            let user = named(store.as_ref(), &user).await?;
            let (id, removed) = mfa::reset(store.as_ref(), UserRef::Id(user.id.as_str())).await?;
            record_reset(config, store.clone(), &id, removed).await;
            eprintln!(
                "removed {removed} factors and every recovery code of {}; they sign in with \
                 their password alone until they enrol again",
                user.username.as_str()
            );
            Ok(())
        }
    }
}

/// The user `who` names: a username, or else a user id.
async fn named(store: &dyn Store, who: &str) -> anyhow::Result<User> {
    match users::find(store, UserRef::Username(who)).await {
        Ok(user) => Ok(user),
        Err(OperatorError::NotFound(_) | OperatorError::Invalid(_)) => {
            Ok(users::find(store, UserRef::Id(who)).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Records an operator's reset: `mfa_removed` (`factor` `all`, `via`
/// `operator`) when something went, and `admin_change`
/// (`user_factors_reset`, `initiator` `cli`). The change is made already:
/// a sink that cannot be opened is reported on stderr, never an error.
async fn record_reset(
    config: &Config,
    store: std::sync::Arc<dyn crate::ports::Store>,
    user: &UserId,
    removed: u64,
) {
    let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(SystemClock);
    // An operator's reset is a security alert when alerts are configured
    // (queued in the outbox), even when the event sink cannot be opened.
    let sink = factory::build_delivering_sink(
        config,
        super::audit_sink(config, clock.clone()),
        store,
        clock.clone(),
    );
    if removed > 0 {
        let stamp = crate::http::audit::event_stamp(&OsRng, clock.now());
        sink.emit(Event::mfa_removed(stamp, user, "all", "operator", removed));
    }
    let stamp = crate::http::audit::event_stamp(&OsRng, clock.now());
    sink.emit(Event::admin_change_by_cli(
        stamp,
        mfa::ACTION_RESET,
        user.as_str(),
    ));
    if let Err(e) = sink.flush().await {
        eprintln!("warning: the reset was not recorded in the events ({e})");
    }
}

/// Records an operator's change of `username` as `admin_change` (`action`,
/// `initiator` `cli`), as the admin API does: Shared Signals receivers
/// hear of a user disabled or enabled from the command line too (queued
/// in the shared outbox; `serve` sends them). The change is made already:
/// a sink that cannot be opened is reported on stderr, never an error.
async fn record_change(
    config: &Config,
    store: std::sync::Arc<dyn crate::ports::Store>,
    username: &str,
    action: &'static str,
) {
    let Ok(name) = crate::domain::Username::parse(username) else {
        return;
    };
    let Ok(Some(user)) = store.users().user_by_username(&name).await else {
        return;
    };
    let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(SystemClock);
    let sink = factory::build_delivering_sink(
        config,
        super::audit_sink(config, clock.clone()),
        store,
        clock.clone(),
    );
    let stamp = crate::http::audit::event_stamp(&OsRng, clock.now());
    sink.emit(Event::admin_change_by_cli(stamp, action, user.id.as_str()));
    if let Err(e) = sink.flush().await {
        eprintln!("warning: the change was not recorded in the events ({e})");
    }
}

fn print_factors(v: &mfa::FactorsView) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for f in &v.factors {
        writeln!(
            out,
            "{}\t{}\tcreated {}\tlast used {}\t{}",
            f.kind,
            f.name,
            f.created_at.to_rfc3339(),
            f.last_used_at
                .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339()),
            f.id
        )?;
    }
    if v.factors.is_empty() {
        writeln!(out, "no second factor")?;
    }
    writeln!(out, "recovery codes left: {}", v.recovery_codes_left)?;
    Ok(())
}

/// Records `email_verified` (`via` `operator`) in the configured event
/// sink. The change is made already: a sink that cannot be opened is
/// reported on stderr, never an error.
async fn record_verified(config: &Config, user: &UserId) {
    let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(SystemClock);
    match factory::build_event_sink(config, clock.clone()) {
        Ok(sink) => {
            let stamp = crate::http::audit::event_stamp(&OsRng, clock.now());
            sink.emit(Event::email_verified(stamp, user, "operator"));
            if let Err(e) = sink.flush().await {
                eprintln!("warning: the email_verified event was not recorded ({e})");
            }
        }
        Err(e) => eprintln!("warning: events cannot be recorded ({e}); the change is not audited"),
    }
}

fn print_user(u: &UserView) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "user_id\t{}", u.user_id)?;
    writeln!(out, "username\t{}", u.username)?;
    writeln!(
        out,
        "email\t{} ({})",
        u.email,
        if u.email_verified {
            "verified"
        } else {
            "not verified"
        }
    )?;
    writeln!(out, "name\t{}", u.name.as_deref().unwrap_or("-"))?;
    writeln!(
        out,
        "state\t{}",
        if u.disabled { "disabled" } else { "active" }
    )?;
    writeln!(out, "created_at\t{}", u.created_at.to_rfc3339())?;
    writeln!(out, "updated_at\t{}", u.updated_at.to_rfc3339())?;
    Ok(())
}
