//! The command line: `serve`, `migrate`, and the operator commands.

pub mod events;

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::adapters::system::{OsRng, SystemClock};
use crate::config::Config;
use crate::domain::{Client, ClientId, ClientKind, RedirectUri};
use crate::factory::{self, Overrides};
use crate::operator::{self, NewClient, NewUser};
use crate::ports::Store;
use crate::startup::{App, shutdown_signal};

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
    Client(ClientCmd),
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage signing keys (list, rotate).
    #[command(subcommand)]
    Keys(crate::cli_keys::KeysCmd),
    /// Read grant and consent events (tail, stats).
    #[command(subcommand)]
    Events(events::EventsCmd),
    /// Probe the local server's `/healthz` (on the `PORTCULLIS_LISTEN`
    /// port, via loopback when it listens on all addresses); exit 0 when it
    /// answers 200, 1 otherwise. For container health checks.
    Healthcheck,
}

/// `client …`
#[derive(Debug, Subcommand)]
pub enum ClientCmd {
    /// Register a client; prints its id and (confidential clients) a secret shown once.
    Create(Box<ClientCreateArgs>),
    /// List clients.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        /// The client id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Issue a new secret (the old one stops working at once).
    RotateSecret {
        /// The client id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client.
    Delete {
        /// The client id.
        id: String,
    },
}

/// Arguments of `client create`.
#[derive(Debug, Args)]
pub struct ClientCreateArgs {
    /// Display name shown on the login and consent pages.
    #[arg(long)]
    pub name: String,
    /// A redirect URI (repeatable); compared by exact string match.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// A post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (native or browser app): no secret, PKCE required.
    #[arg(long)]
    pub public: bool,
    /// A grant type (repeatable): authorization_code, refresh_token, client_credentials.
    #[arg(long = "grant-type", value_name = "T")]
    pub grant_types: Vec<String>,
    /// A scope the client may request (repeatable).
    #[arg(long = "scope", value_name = "S")]
    pub scopes: Vec<String>,
    /// Token endpoint auth method: client_secret_basic (default), client_secret_post, private_key_jwt.
    #[arg(long)]
    pub auth_method: Option<String>,
    /// Skip the consent page (first-party application).
    #[arg(long)]
    pub first_party: bool,
    /// Require PKCE of this confidential client too (public clients always need it).
    #[arg(long)]
    pub require_pkce: bool,
    /// Allow http redirect URIs for non-loopback hosts (development only).
    #[arg(long)]
    pub allow_http: bool,
    /// JWK Set file with the client's public keys (private_key_jwt).
    #[arg(long, value_name = "FILE")]
    pub jwks: Option<PathBuf>,
    /// URL of the client's JWK Set (private_key_jwt).
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    /// ID token signing algorithm: RS256 (default), ES256, PS256.
    #[arg(long)]
    pub id_token_alg: Option<String>,
    /// Access-token lifetime in seconds (overrides the server default).
    #[arg(long, value_name = "SECS")]
    pub access_token_ttl: Option<i64>,
    /// ID-token lifetime in seconds.
    #[arg(long, value_name = "SECS")]
    pub id_token_ttl: Option<i64>,
    /// Refresh-token lifetime in seconds.
    #[arg(long, value_name = "SECS")]
    pub refresh_token_ttl: Option<i64>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

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
    /// Disable a user: they can no longer sign in.
    Disable {
        /// Login name.
        username: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Login name.
        username: String,
    },
    /// Set a new password, read from standard input.
    SetPassword {
        /// Login name.
        username: String,
        /// Read the password from standard input (one line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// Loads the configuration for `cli` from the process environment.
pub fn load_config(cli: &Cli) -> Result<Config, crate::config::ConfigError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    Config::load(cli.config.as_deref(), &env)
}

/// Runs a parsed command.
pub async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            factory::build_store(&config, true).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Client(cmd) => client(cmd, &config).await,
        Command::User(cmd) => user(cmd, &config).await,
        Command::Keys(cmd) => crate::cli_keys::run(cmd, &config).await,
        Command::Events(cmd) => events::run(cmd, &config).await,
        Command::Healthcheck => healthcheck(&config).await,
    }
}

/// The address `healthcheck` probes: the listen address, with an
/// unspecified host (`0.0.0.0`, `::`) replaced by loopback.
pub fn probe_addr(listen: std::net::SocketAddr) -> std::net::SocketAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    std::net::SocketAddr::new(ip, listen.port())
}

async fn healthcheck(config: &Config) -> anyhow::Result<()> {
    let healthz = crate::protocol::endpoints::Endpoint::Healthz.path();
    let url = format!("http://{}{healthz}", probe_addr(config.listen));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .no_proxy()
        .build()
        .context("cannot build an HTTP client")?;
    let resp = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("{url} is unreachable"))?;
    if !resp.status().is_success() {
        bail!("{url} answered {}", resp.status());
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (PORTCULLIS_LISTEN)", config.listen))?;
    let issuer = config.issuer.clone();
    let app = App::build(config, listener, Overrides::default()).await?;
    tracing::info!(addr = %app.local_addr()?, %issuer, database = app.state().store.backend_name(), "listening");
    app.run_until_stopped(shutdown_signal()).await
}

async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = factory::build_store(config, config.migrate_on_start).await?;
    Ok(Arc::new(store))
}

fn client_json(c: &Client, secret: Option<&str>) -> serde_json::Value {
    let mut v = json!({
        "client_id": c.id.as_str(),
        "client_name": c.name,
        "public": c.kind() == ClientKind::Public,
        "token_endpoint_auth_method": c.auth_method.as_str(),
        "redirect_uris": c.redirect_uris.iter().map(RedirectUri::as_str).collect::<Vec<_>>(),
        "post_logout_redirect_uris": c.post_logout_redirect_uris.iter().map(RedirectUri::as_str).collect::<Vec<_>>(),
        "grant_types": c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scope": c.scopes.to_string(),
        "first_party": c.first_party,
        "require_pkce": c.require_pkce,
        "created_at": c.created_at.to_rfc3339(),
    });
    if let Some(s) = secret {
        v["client_secret"] = json!(s);
    } else if c.kind() == ClientKind::Confidential && secret.is_none() {
        v["client_secret"] = serde_json::Value::Null;
    }
    v
}

fn print_client(c: &Client) {
    println!("client_id:      {}", c.id);
    println!("name:           {}", c.name);
    println!(
        "type:           {}",
        if c.kind() == ClientKind::Public {
            "public"
        } else {
            "confidential"
        }
    );
    println!("auth method:    {}", c.auth_method);
    println!(
        "grant types:    {}",
        c.grant_types
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("scope:          {}", c.scopes);
    for u in &c.redirect_uris {
        println!("redirect_uri:   {u}");
    }
    for u in &c.post_logout_redirect_uris {
        println!("post_logout:    {u}");
    }
    println!("first party:    {}", c.first_party);
}

async fn client_create(
    a: ClientCreateArgs,
    store: &dyn Store,
    config: &Config,
) -> anyhow::Result<()> {
    let (rng, clock) = (OsRng, SystemClock);
    let jwks = match &a.jwks {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read --jwks {}", p.display()))?,
        ),
        None => None,
    };
    let created = operator::create_client(
        store,
        &rng,
        &clock,
        NewClient {
            name: a.name,
            redirect_uris: a.redirect_uris,
            post_logout_redirect_uris: a.post_logout_redirect_uris,
            public: a.public,
            grant_types: a.grant_types,
            scopes: a.scopes,
            auth_method: a.auth_method,
            first_party: a.first_party,
            require_pkce: a.require_pkce,
            allow_http: a.allow_http || config.allow_http_redirect_uris,
            jwks,
            jwks_uri: a.jwks_uri,
            id_token_alg: a.id_token_alg,
            access_token_ttl_secs: a.access_token_ttl,
            id_token_ttl_secs: a.id_token_ttl,
            refresh_token_ttl_secs: a.refresh_token_ttl,
        },
    )
    .await?;
    if a.json {
        println!(
            "{}",
            client_json(&created.client, created.secret.as_deref())
        );
    } else {
        print_client(&created.client);
        if let Some(s) = &created.secret {
            println!("client_secret:  {s}");
            eprintln!("\nThe secret is shown only once and stored as a hash: keep it now.");
        }
    }
    Ok(())
}

async fn client(cmd: ClientCmd, config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let (rng, clock) = (OsRng, SystemClock);
    match cmd {
        ClientCmd::Create(a) => client_create(*a, store.as_ref(), config).await,
        ClientCmd::List { json } => {
            let clients = store.clients().list_clients().await?;
            if json {
                let v: Vec<_> = clients.iter().map(|c| client_json(c, None)).collect();
                println!("{}", serde_json::Value::from(v));
            } else {
                for c in &clients {
                    let kind = if c.kind() == ClientKind::Public {
                        "public"
                    } else {
                        "confidential"
                    };
                    println!("{}\t{}\t{}", c.id, kind, c.name);
                }
            }
            Ok(())
        }
        ClientCmd::Show { id, json } => {
            let cid = ClientId::parse(&id).context("not a valid client id")?;
            let Some(c) = store.clients().get_client(&cid).await? else {
                bail!("no client {id}")
            };
            if json {
                println!("{}", client_json(&c, None));
            } else {
                print_client(&c);
            }
            Ok(())
        }
        ClientCmd::RotateSecret { id, json } => {
            let secret = operator::rotate_client_secret(store.as_ref(), &rng, &clock, &id).await?;
            if json {
                println!("{}", json!({ "client_id": id, "client_secret": secret }));
            } else {
                println!("client_secret:  {secret}");
                eprintln!("\nThe old secret no longer works. The new one is shown only once.");
            }
            Ok(())
        }
        ClientCmd::Delete { id } => {
            let cid = ClientId::parse(&id).context("not a valid client id")?;
            if store.clients().delete_client(&cid).await? {
                eprintln!("deleted client {id}");
                Ok(())
            } else {
                bail!("no client {id}")
            }
        }
    }
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

async fn user(cmd: UserCmd, config: &Config) -> anyhow::Result<()> {
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
            eprintln!("disabled user {username}");
            Ok(())
        }
        UserCmd::Enable { username } => {
            operator::set_disabled(store.as_ref(), &clock, &username, false).await?;
            eprintln!("enabled user {username}");
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
            eprintln!("password changed for {username}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthcheck_probes_loopback_when_listening_everywhere() {
        let probe = |s: &str| probe_addr(s.parse().unwrap()).to_string();
        assert_eq!(probe("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(probe("[::]:8080"), "[::1]:8080");
        assert_eq!(probe("10.1.2.3:9000"), "10.1.2.3:9000");
    }
}
