//! The command line: argument parsing and dispatch. One module per command
//! group: [`serve`] (and `healthcheck`), [`migrate`], [`clients`],
//! [`users`], [`sessions`], [`grants`], [`keys`], [`events`], [`registration`],
//! [`purge`], [`mail`], [`resources`]. The operator rules they share with the admin API are in
//! [`crate::app`].

pub mod admin;
pub mod clients;
pub mod deliveries;
pub mod events;
pub mod grants;
pub mod invite;
pub mod keys;
pub mod mail;
pub mod migrate;
pub mod purge;
pub mod registration;
pub mod resources;
pub mod serve;
pub mod sessions;
pub mod streams;
pub mod users;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};
use crate::factory;
use crate::ports::Store;

/// portcullis: an OAuth 2.0 / OpenID Connect authorization server.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./portcullis.toml if present.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(clients::ClientCmd),
    /// The admin API's credentials (`admin bootstrap`).
    #[command(subcommand)]
    Admin(admin::AdminCmd),
    /// Manage users.
    #[command(subcommand)]
    User(invite::UserCommand),
    /// A user's login sessions (list, end one, end all).
    #[command(subcommand)]
    Session(sessions::SessionCmd),
    /// Grants users gave clients (list, revoke).
    #[command(subcommand)]
    Grant(grants::GrantCmd),
    /// Consents users gave clients (revoke).
    #[command(subcommand)]
    Consent(grants::ConsentCmd),
    /// Manage signing keys (list, rotate, revoke).
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    /// Read grant and consent events (tail, stats).
    #[command(subcommand)]
    Events(events::EventsCmd),
    /// Dynamic client registration: initial access tokens (RFC 7591 §3).
    #[command(subcommand)]
    Registration(registration::RegistrationCmd),
    /// The mail outbox (list).
    #[command(subcommand)]
    Mail(mail::MailCmd),
    /// The outbox of outbound requests: back-channel logout tokens (list).
    #[command(subcommand)]
    Delivery(deliveries::DeliveryCmd),
    /// APIs registered for RFC 8707 resource indicators (create, list,
    /// show, update, delete).
    #[command(subcommand)]
    Resource(resources::ResourceCmd),
    /// Shared Signals streams receivers created (list; enable, pause or
    /// disable one: its receiver is told).
    #[command(subcommand)]
    Stream(streams::StreamCmd),
    /// Delete expired codes, revocations and assertion ids, ended sessions
    /// and stale sign-in throttle rows once, in bounded batches (`serve`
    /// does it every `PORTCULLIS_PURGE_INTERVAL_SECS`).
    Purge {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Probe the local server's `/healthz` (on the `PORTCULLIS_LISTEN`
    /// port, via loopback when it listens on all addresses); exit 0 when it
    /// answers 200, 1 otherwise. For container health checks.
    Healthcheck,
}

/// Loads the configuration for `cli` from the process environment.
pub fn load_config(cli: &Cli) -> Result<Config, crate::config::ConfigError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    Config::load(cli.config.as_deref(), &env)
}

/// Installs the process-wide logger: the configured filter and format for
/// `serve`; warnings only, compact, for the operator commands (their output
/// is the command's own).
pub fn init_logging(cli: &Cli, config: &Config) {
    let serving = matches!(cli.command, Command::Serve);
    let filter = if serving {
        config.log_filter.clone()
    } else {
        format!("warn,{}", config.log_filter.replace("info", "warn"))
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json if serving => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        _ => builder.compact().init(),
    }
}

/// Runs a parsed command.
pub async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => serve::serve(config).await,
        Command::Migrate => migrate::run(&config).await,
        Command::Client(cmd) => clients::run(cmd, &config).await,
        Command::Admin(cmd) => admin::run(cmd, &config).await,
        Command::User(cmd) => invite::run(cmd, &config).await,
        Command::Session(cmd) => sessions::run(cmd, &config).await,
        Command::Grant(cmd) => grants::run(cmd, &config).await,
        Command::Consent(cmd) => grants::run_consent(cmd, &config).await,
        Command::Keys(cmd) => keys::run(cmd, &config).await,
        Command::Events(cmd) => events::run(cmd, &config).await,
        Command::Registration(cmd) => registration::run(cmd, &config).await,
        Command::Mail(cmd) => mail::run(cmd, &config).await,
        Command::Delivery(cmd) => deliveries::run(cmd, &config).await,
        Command::Stream(cmd) => streams::run(cmd, &config).await,
        Command::Resource(cmd) => resources::run(cmd, &config).await,
        Command::Purge { json } => purge::run(&config, json).await,
        Command::Healthcheck => serve::healthcheck(&config).await,
    }
}

/// Opens the configured store for an operator command (migrating first when
/// `PORTCULLIS_MIGRATE_ON_START` says so).
async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = factory::build_store(config, config.migrate_on_start).await?;
    Ok(Arc::new(store))
}

/// The configured event sink of an operator command's `admin_change`
/// events. When it cannot be opened (the ClickHouse spool is held by a
/// server on this host, the event directory is not writable), the command
/// still runs (an emergency revocation must not wait on the audit trail),
/// the failure is reported on stderr, and a stand-in takes the events (so
/// that the alert wrapper around it still queues security alerts).
pub(crate) fn audit_sink(
    config: &Config,
    clock: Arc<dyn crate::ports::Clock>,
) -> Arc<dyn crate::ports::EventSink> {
    match factory::build_event_sink(config, clock) {
        Ok(sink) => sink,
        Err(e) => {
            eprintln!("warning: events cannot be recorded ({e}); the change is not audited");
            Arc::new(Unrecorded)
        }
    }
}

/// Stands in for an event sink that could not be opened.
struct Unrecorded;

#[async_trait::async_trait]
impl crate::ports::EventSink for Unrecorded {
    fn emit(&self, _event: crate::domain::event::Event) {}

    async fn flush(&self) -> Result<(), crate::ports::EventError> {
        Err(crate::ports::EventError::Closed)
    }

    fn stats(&self) -> crate::ports::SinkStats {
        crate::ports::SinkStats::default()
    }
}
