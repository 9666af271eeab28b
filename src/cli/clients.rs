//! `portcullis client create|list|show|update|rotate-secret|delete`: the OAuth
//! clients. The rules are in [`crate::app::operator`]; this module parses and
//! prints.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use super::open_store;
use crate::adapters::system::{OsRng, SystemClock};
use crate::app::client_metadata::ClientMetadata;
use crate::app::clients;
use crate::app::operator::{self, NewClient};
use crate::config::Config;
use crate::domain::{Client, ClientId, ClientKind, RedirectUri};
use crate::ports::Store;

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
    /// Issue a new secret; the old one keeps working for `--overlap`, then stops.
    RotateSecret {
        /// The client id.
        id: String,
        /// How long the old secret keeps working: seconds, or a number with
        /// s, m, h or d (`90s`, `15m`, `1h`, `7d`); at most 30 days. Default
        /// 0: it stops at once.
        #[arg(long, value_name = "DURATION", value_parser = parse_overlap, default_value = "0")]
        overlap: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a client's settings; its client id and secret stay. Only the
    /// options given change; the result must meet the rules of `client
    /// create` (nothing changes otherwise).
    Update(Box<ClientUpdateArgs>),
    /// Delete a client.
    Delete {
        /// The client id.
        id: String,
    },
}

/// Arguments of `client update` (the same names as `client create`; each
/// list option replaces the whole list).
#[derive(Debug, Args)]
pub struct ClientUpdateArgs {
    /// The client id.
    pub id: String,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// A redirect URI (repeatable): the new list, replacing the old one.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// A post-logout redirect URI (repeatable): the new list.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A grant type (repeatable): the new list.
    #[arg(long = "grant-type", value_name = "T")]
    pub grant_types: Vec<String>,
    /// A scope (repeatable): the new list.
    #[arg(long = "scope", value_name = "S")]
    pub scopes: Vec<String>,
    /// Token endpoint auth method: client_secret_basic, client_secret_post,
    /// private_key_jwt (a client stays public or confidential).
    #[arg(long)]
    pub auth_method: Option<String>,
    /// Skip the consent page (first-party application).
    #[arg(long, value_name = "BOOL")]
    pub first_party: Option<bool>,
    /// Require PKCE of this confidential client.
    #[arg(long, value_name = "BOOL")]
    pub require_pkce: Option<bool>,
    /// Require a second factor of every sign-in for this client (acr at
    /// least urn:portcullis:acr:2fa; docs/MFA.md).
    #[arg(long, value_name = "BOOL")]
    pub require_mfa: Option<bool>,
    /// Where logout tokens are POSTed (OpenID Connect Back-Channel Logout
    /// 1.0); an empty value removes it.
    #[arg(long, value_name = "URL")]
    pub backchannel_logout_uri: Option<String>,
    /// Logout tokens must carry `sid`.
    #[arg(long, value_name = "BOOL")]
    pub backchannel_logout_session_required: Option<bool>,
    /// A resource (RFC 8707) the client may ask tokens for (repeat; replaces
    /// the list); see `portcullis resource`.
    #[arg(long = "allowed-resource", value_name = "URI")]
    pub allowed_resources: Vec<String>,
    /// Accept authorization requests only through /par (RFC 9126 §6).
    #[arg(long, value_name = "BOOL")]
    pub require_par: Option<bool>,
    /// Require a DPoP proof at every token request (RFC 9449 §5.2).
    #[arg(long, value_name = "BOOL")]
    pub dpop_bound: Option<bool>,
    /// The security profile: fapi2 (docs/FAPI.md); an empty value removes it.
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// An external request_uri the client may send (repeat; replaces the
    /// list; an empty value clears it); used only with
    /// PORTCULLIS_REQUEST_URI_EXTERNAL=true.
    #[arg(long = "request-uri", value_name = "URL")]
    pub request_uris: Vec<String>,
    /// Register the client as a resource server (RFC 7662 §2.1): it may
    /// introspect tokens meant for it (its audience) or issued to it.
    /// `true` keeps the audience it has, else takes its client id.
    #[arg(long, value_name = "BOOL")]
    pub resource_server: Option<bool>,
    /// The resource server's audience: it is told about access tokens
    /// whose `aud` contains it (implies --resource-server true).
    #[arg(long, value_name = "VALUE")]
    pub audience: Option<String>,
    /// Allow new http redirect URIs for non-loopback hosts (development
    /// only; those already registered stay).
    #[arg(long)]
    pub allow_http: bool,
    /// JWK Set file with the client's public keys (replaces --jwks-uri).
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
    pub jwks: Option<PathBuf>,
    /// URL of the client's JWK Set (replaces --jwks).
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    /// ID token signing algorithm: RS256, ES256, PS256.
    #[arg(long)]
    pub id_token_alg: Option<String>,
    /// Access-token lifetime in seconds.
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

/// `--overlap`: whole seconds, or a number with `s`, `m`, `h` or `d`.
pub fn parse_overlap(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    let (digits, unit) = match raw.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&raw[..i], c),
        _ => (raw, 's'),
    };
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(format!("{raw:?}: the unit must be s, m, h or d")),
    };
    let n: i64 = digits
        .parse()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("{raw:?} is not a duration (e.g. 3600, 90s, 15m, 1h, 7d)"))?;
    let secs = n.saturating_mul(scale);
    if secs > clients::MAX_SECRET_OVERLAP_SECS {
        return Err(format!("{raw:?} is longer than 30 days"));
    }
    Ok(secs)
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
    /// Require a second factor of every sign-in for this client (acr at
    /// least urn:portcullis:acr:2fa; docs/MFA.md).
    #[arg(long)]
    pub require_mfa: bool,
    /// Where logout tokens are POSTed (OpenID Connect Back-Channel Logout 1.0).
    #[arg(long, value_name = "URL")]
    pub backchannel_logout_uri: Option<String>,
    /// Logout tokens must carry `sid`.
    #[arg(long)]
    pub backchannel_logout_session_required: bool,
    /// A resource (RFC 8707) the client may ask tokens for (repeat); see
    /// `portcullis resource`.
    #[arg(long = "allowed-resource", value_name = "URI")]
    pub allowed_resources: Vec<String>,
    /// Accept authorization requests only through /par (RFC 9126 §6).
    #[arg(long)]
    pub require_par: bool,
    /// Require a DPoP proof at every token request (RFC 9449 §5.2).
    #[arg(long)]
    pub dpop_bound: bool,
    /// The security profile: fapi2 (PAR, PKCE S256, private_key_jwt, DPoP,
    /// PS256/ES256; docs/FAPI.md).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// An external request_uri the client may send (repeatable; OpenID
    /// Connect Registration `request_uris`); used only with
    /// PORTCULLIS_REQUEST_URI_EXTERNAL=true.
    #[arg(long = "request-uri", value_name = "URL")]
    pub request_uris: Vec<String>,
    /// A resource server (an API): may call /introspect for tokens meant for it (RFC 7662 §2.1).
    #[arg(long)]
    pub resource_server: bool,
    /// The resource server's audience (default: its client id): it is told
    /// about access tokens whose `aud` contains it, and those issued to it.
    /// The server-wide audience (PORTCULLIS_ACCESS_TOKEN_AUDIENCE, default
    /// the issuer) reads every access token.
    #[arg(long, value_name = "VALUE", requires = "resource_server")]
    pub audience: Option<String>,
    /// Allow http redirect and post-logout redirect URIs for non-loopback
    /// hosts (development only). It does not touch --jwks-uri: an http or
    /// loopback/private jwks_uri needs PORTCULLIS_OUTBOUND_ALLOW_INSECURE.
    #[arg(long)]
    pub allow_http: bool,
    /// JWK Set file with the client's public keys (private_key_jwt).
    #[arg(long, value_name = "FILE")]
    pub jwks: Option<PathBuf>,
    /// URL of the client's JWK Set (private_key_jwt): https, not a literal
    /// loopback, private or link-local address (http and loopback/private
    /// only under PORTCULLIS_OUTBOUND_ALLOW_INSECURE, development only).
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

pub(super) fn client_json(c: &Client, secret: Option<&str>) -> serde_json::Value {
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
        "require_mfa": c.require_mfa,
        "resource_server": c.resource_audience.is_some(),
        "resource_audience": c.resource_audience,
        "backchannel_logout_uri": c.backchannel_logout_uri,
        "backchannel_logout_session_required": c.backchannel_logout_session_required,
        "allowed_resources": c.allowed_resources,
        "require_pushed_authorization_requests": c.require_pushed_authorization_requests,
        "dpop_bound_access_tokens": c.dpop_bound_access_tokens,
        "profile": c.profile.map(crate::domain::ClientProfile::as_str),
        "request_uris": c.request_uris,
        "created_at": c.created_at.to_rfc3339(),
    });
    if let Some(s) = secret {
        v["client_secret"] = json!(s);
    } else if c.kind() == ClientKind::Confidential && secret.is_none() {
        v["client_secret"] = serde_json::Value::Null;
    }
    v
}

pub(super) fn print_client(c: &Client) {
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
    match &c.resource_audience {
        Some(a) => println!("resource server: audience {a}"),
        None => println!("resource server: no"),
    }
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
            require_mfa: a.require_mfa,
            resource_server: a.resource_server,
            audience: a.audience,
            allow_http: a.allow_http || config.allow_http_redirect_uris,
            jwks,
            jwks_uri: a.jwks_uri,
            id_token_alg: a.id_token_alg,
            access_token_ttl_secs: a.access_token_ttl,
            id_token_ttl_secs: a.id_token_ttl,
            refresh_token_ttl_secs: a.refresh_token_ttl,
            backchannel_logout_uri: a.backchannel_logout_uri,
            backchannel_logout_session_required: a.backchannel_logout_session_required,
            allowed_resources: a.allowed_resources,
            require_pushed_authorization_requests: a.require_par,
            dpop_bound_access_tokens: a.dpop_bound,
            profile: a
                .profile
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(anyhow::Error::msg)?,
            request_uris: a.request_uris,
        },
        config.outbound.allow_insecure,
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

/// Runs a `client` command.
pub async fn run(cmd: ClientCmd, config: &Config) -> anyhow::Result<()> {
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
        ClientCmd::RotateSecret { id, overlap, json } => {
            let r =
                clients::rotate_client_secret(store.as_ref(), &rng, &clock, &id, overlap).await?;
            let until = r.previous_secret_expires_at;
            if json {
                println!(
                    "{}",
                    json!({
                        "client_id": id,
                        "client_secret": r.secret,
                        "previous_secret_expires_at": until.timestamp(),
                    })
                );
            } else {
                println!("client_secret:  {}", r.secret);
                if overlap > 0 {
                    eprintln!(
                        "\nThe old secret keeps working until {} ({}), then stops.",
                        until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        until.timestamp()
                    );
                } else {
                    eprintln!("\nThe old secret no longer works.");
                }
                eprintln!("The new secret is shown only once.");
            }
            Ok(())
        }
        ClientCmd::Update(a) => client_update(*a, store.as_ref(), config).await,
        ClientCmd::Delete { id } => {
            let revoked = clients::delete_client(store.as_ref(), &clock, &id).await?;
            eprintln!("deleted client {id}; {revoked} grant(s) revoked");
            Ok(())
        }
    }
}

async fn client_update(
    a: ClientUpdateArgs,
    store: &dyn Store,
    config: &Config,
) -> anyhow::Result<()> {
    let jwks = match &a.jwks {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read --jwks {}", p.display()))?;
            Some(serde_json::from_str(&text).context("--jwks is not JSON")?)
        }
        None => None,
    };
    let list = |v: Vec<String>| (!v.is_empty()).then_some(v);
    let patch = ClientMetadata {
        client_name: a.name,
        redirect_uris: list(a.redirect_uris),
        post_logout_redirect_uris: list(a.post_logout_redirect_uris),
        grant_types: list(a.grant_types),
        scope: list(a.scopes).map(|s| s.join(" ")),
        token_endpoint_auth_method: a.auth_method,
        jwks,
        jwks_uri: a.jwks_uri,
        id_token_signed_response_alg: a.id_token_alg,
        first_party: a.first_party,
        require_pkce: a.require_pkce,
        require_mfa: a.require_mfa,
        resource_server: a.resource_server.or(a.audience.as_ref().map(|_| true)),
        audience: a.audience,
        access_token_ttl: a.access_token_ttl,
        id_token_ttl: a.id_token_ttl,
        refresh_token_ttl: a.refresh_token_ttl,
        allow_http_redirect_uris: (a.allow_http || config.allow_http_redirect_uris).then_some(true),
        response_types: None,
        backchannel_logout_uri: a.backchannel_logout_uri,
        backchannel_logout_session_required: a.backchannel_logout_session_required,
        allowed_resources: list(a.allowed_resources),
        require_pushed_authorization_requests: a.require_par,
        dpop_bound_access_tokens: a.dpop_bound,
        profile: a.profile,
        // `--request-uri ''` clears the list.
        request_uris: if a.request_uris.iter().all(String::is_empty) && !a.request_uris.is_empty() {
            Some(Vec::new())
        } else {
            list(a.request_uris)
        },
    };
    let asked = ClientMetadata {
        allow_http_redirect_uris: None,
        ..patch.clone()
    };
    if asked == ClientMetadata::default() {
        bail!("nothing to change: give at least one option (see client update --help)");
    }
    let existing = clients::find_client(store, &a.id).await?;
    let c = clients::update_client(
        store,
        &SystemClock,
        &a.id,
        clients::patched(&existing, patch),
        config.outbound.allow_insecure,
    )
    .await?;
    if a.json {
        println!("{}", client_json(&c, None));
    } else {
        print_client(&c);
    }
    Ok(())
}
