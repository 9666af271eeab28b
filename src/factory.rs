//! Factory: the only place that picks adapters, from configuration
//! (README, "Configuration"). Tests swap parts through
//! [`Overrides`], as Hydra's driver options do.

use std::sync::Arc;

use crate::adapters::archive::{S3ObjectStore, s3 as archive_s3};
use crate::adapters::argon2::{Argon2Hasher, Argon2Params};
use crate::adapters::cache::CachedStore;
use crate::adapters::db::{self, SeaStore};
use crate::adapters::events::{
    ClickHouseEventReader, ClickHouseEventSink, FileEventReader, FileEventSink,
};
use crate::adapters::jwks_fetch::{HttpJwksFetcher, JwksCachePolicy};
use crate::adapters::keys::{
    KeyBackend, KeyRing, KmsDirectSigner, KmsEnvelopeSigner, LocalSigner, MasterKey, kms,
};
use crate::adapters::outbound::{HardenedOutbound, OutboundLimits};
use crate::adapters::sqs::SqsAlertQueue;
use crate::adapters::system::{OsRng, SystemClock};
use crate::app::alerts::AlertFanout;
use crate::app::archive::Archive;
use crate::app::fanout::{DeliveringSink, Fanout};
use crate::app::ssf::SignalFanout;
use crate::config::{Config, EventConfig, KeyConfig, MasterKeySource};
use crate::http::session::SessionKey;
use crate::ports::{
    AlertQueue, ArchivedHours, Clock, EventReader, EventSink, KeyProvider, Mailer, OutboundHttp,
    PasswordHasher, Rng, SecretBox, Store, ThrottlePolicy, WebAuthn,
};
use crate::protocol::interaction::InteractionSettings;
use crate::protocol::token::{GrantRegistry, TokenSettings};
use crate::state::{AppState, Services};

/// Why the adapters could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FactoryError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] db::ConnectError),
    /// The password hasher could not be configured.
    #[error("password hasher: {0}")]
    Password(String),
    /// The HTTP client for `jwks_uri` could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
    /// The signing keys could not be opened (KMS unreachable, a key that
    /// does not unseal, ...).
    #[error("signing keys ({mode} mode): {source}")]
    Keys {
        /// `local`, `kms_direct` or `kms_envelope`.
        mode: &'static str,
        /// The cause.
        source: crate::ports::KeyError,
    },
    /// The event sink could not start (event directory or spool).
    #[error("events: {0}")]
    Events(String),
    /// The session key (`<data_dir>/session.key`) could not be opened.
    #[error("session key: {0}")]
    SessionKey(String),
    /// The mail transport could not be built (`PORTCULLIS_SMTP_URL`,
    /// `PORTCULLIS_MAIL_FROM`).
    #[error("mail: {0}")]
    Mail(String),
    /// The secret box or the WebAuthn relying party could not be built.
    #[error("multi-factor sign-in: {0}")]
    Mfa(String),
}

/// Parts a caller (a test, a benchmark) supplies instead of the configured
/// adapters.
#[derive(Default, Clone)]
pub struct Overrides {
    /// A clock (tests use a fixed one).
    pub clock: Option<Arc<dyn Clock>>,
    /// A random source.
    pub rng: Option<Arc<dyn Rng>>,
    /// A password hasher (tests use cheap parameters).
    pub passwords: Option<Arc<dyn PasswordHasher>>,
    /// An event sink (tests record events with `testing::MemoryEventSink`).
    pub events: Option<Arc<dyn EventSink>>,
    /// Run migrations regardless of `migrate_on_start`.
    pub force_migrate: bool,
    /// A key provider instead of the configured one.
    pub keys: Option<Arc<dyn KeyProvider>>,
    /// A store instead of the configured database (tests count the
    /// statements it runs); still wrapped in the client cache.
    pub store: Option<Arc<dyn Store>>,
    /// The KMS client for the KMS modes (tests point it at the emulator
    /// with retries off); by default one from the standard AWS settings.
    pub kms: Option<aws_sdk_kms::Client>,
    /// A mail transport instead of the configured one (tests inject one
    /// that fails or counts).
    pub mailer: Option<Arc<dyn Mailer>>,
    /// The S3 client of the event archive (tests point it at the
    /// emulator); by default one from the standard AWS settings.
    pub s3: Option<aws_sdk_s3::Client>,
    /// The SQS client of the security-alert queue (tests point it at the
    /// emulator, or at a proxy they stop); by default one from the
    /// standard AWS settings.
    pub sqs: Option<aws_sdk_sqs::Client>,
}

/// Opens the store configured by `config`, migrating it (under the
/// migration lock) when `migrate` is true, else refusing it when its schema
/// is behind (`PORTCULLIS_MIGRATE_ON_START=false`: `portcullis migrate`
/// does it).
pub async fn build_store(config: &Config, migrate: bool) -> Result<SeaStore, FactoryError> {
    let conn = db::connect(&config.database_url).await?;
    if migrate {
        db::migrate(&conn).await?;
    } else {
        db::check_schema(&conn).await?;
    }
    Ok(SeaStore::new(conn))
}

/// Builds the password hasher with production (OWASP) parameters.
pub fn build_password_hasher(config: &Config) -> Result<Arc<dyn PasswordHasher>, FactoryError> {
    let hasher = Argon2Hasher::new(Argon2Params::OWASP, config.password_hash_concurrency)
        .map_err(|e| FactoryError::Password(e.to_string()))?;
    Ok(Arc::new(hasher))
}

/// The authorization interaction's settings, from configuration.
pub fn interaction_settings(config: &Config) -> InteractionSettings {
    let a = &config.auth;
    InteractionSettings {
        require_verified_email: config.self_service.require_verified_email,
        issuer: config.issuer.clone(),
        code_ttl: a.code_ttl,
        session_idle: a.session_idle,
        session_max: a.session_max,
        pkce_allow_plain: a.pkce_allow_plain,
        user_throttle: ThrottlePolicy {
            max_failures: a.login_max_failures,
            window: a.login_failure_window,
            lockout: a.login_lockout,
        },
        account_throttle: ThrottlePolicy {
            max_failures: a.login_account_max_failures,
            window: a.login_failure_window,
            lockout: a.login_lockout,
        },
        ip_throttle: ThrottlePolicy {
            max_failures: a.login_ip_max_failures,
            window: a.login_failure_window,
            lockout: a.login_lockout,
        },
        first_party_offline_without_consent: a.first_party_offline_without_consent,
        par_lifetime: config.par.lifetime,
        require_pushed: config.par.require,
        request_uri_external: config.par.request_uri_external,
    }
}

/// The token endpoint's settings, from configuration; the DPoP nonce key
/// (RFC 9449 §8, when `PORTCULLIS_DPOP_NONCE` is on) is derived from the
/// session key, which every instance serving the same clients shares.
pub fn token_settings(config: &Config, session_key: &SessionKey) -> TokenSettings {
    let t = &config.tokens;
    TokenSettings {
        dpop: crate::protocol::dpop::DpopSettings {
            window: t.dpop_proof_window,
            nonce_key: t.dpop_nonce.then(|| {
                crate::protocol::dpop::NonceKey::new(
                    session_key.derive("portcullis dpop nonce key v1"),
                )
            }),
        },
        issuer: config.issuer.clone(),
        token_endpoint: config.endpoint(crate::protocol::endpoints::Endpoint::Token.path()),
        access_token_audience: t
            .access_token_audience
            .clone()
            .unwrap_or_else(|| config.issuer.clone()),
        access_ttl: t.access_ttl,
        id_ttl: t.id_ttl,
        refresh_ttl: t.refresh_ttl,
        refresh_absolute_ttl: t.refresh_absolute_ttl,
        refresh_grace: t.refresh_grace,
        access_token_alg: t.access_token_alg,
        max_jwt_ttl: chrono::Duration::from_std(config.key_rotation.max_token_ttl)
            .unwrap_or(chrono::Duration::days(1)),
    }
}

/// Whether `config` seals anything with the master key: the local signing
/// keys, or the TOTP secrets when no KMS wrapping key is configured.
pub fn needs_master_key(config: &Config) -> bool {
    matches!(
        config.keys,
        KeyConfig::Local
            | KeyConfig::KmsDirect {
                wrapping_key_id: None,
                ..
            }
    )
}

/// Opens the master key (`PORTCULLIS_MASTER_KEY_FILE`,
/// `PORTCULLIS_MASTER_KEY`, or `<data_dir>/master.key`, created on first
/// start). [`build`] opens it once and gives it to the signing keys and the
/// secret box.
pub fn open_master_key(config: &Config) -> Result<Arc<MasterKey>, FactoryError> {
    let key = match &config.master_key {
        MasterKeySource::DataDir => MasterKey::open(&config.data_dir),
        MasterKeySource::File(path) => MasterKey::open_file(path),
        MasterKeySource::Inline(text) => {
            MasterKey::from_base64(text, crate::config::setting::MASTER_KEY.env)
        }
    };
    key.map(Arc::new).map_err(|e| FactoryError::Keys {
        mode: key_mode(&config.keys),
        source: e.into(),
    })
}

fn key_mode(keys: &KeyConfig) -> &'static str {
    match keys {
        KeyConfig::Local => crate::adapters::keys::local::BACKEND,
        KeyConfig::KmsDirect { .. } => crate::adapters::keys::kms_direct::BACKEND,
        KeyConfig::KmsEnvelope { .. } => crate::adapters::keys::kms_envelope::BACKEND,
    }
}

/// Opens the signing keys configured by `config` (docs/KEYS.md). In the KMS
/// modes this calls KMS, and fails when it cannot be reached.
pub async fn build_key_ring(
    config: &Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    kms: Option<aws_sdk_kms::Client>,
) -> Result<KeyRing, FactoryError> {
    build_key_ring_with(config, store, clock, kms, None).await
}

/// [`build_key_ring`] with the master key opened already (`master`; opened
/// here when `None` and the local keys need it).
async fn build_key_ring_with(
    config: &Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    kms: Option<aws_sdk_kms::Client>,
    master: Option<Arc<MasterKey>>,
) -> Result<KeyRing, FactoryError> {
    let backend: Arc<dyn KeyBackend> = match &config.keys {
        KeyConfig::Local => {
            let master = match master {
                Some(m) => m,
                None => open_master_key(config)?,
            };
            Arc::new(LocalSigner::new(master))
        }
        KeyConfig::KmsDirect {
            es256_key_id,
            rs256_key_id,
            ..
        } => {
            let client = match kms {
                Some(c) => c,
                None => kms::client_from_environment().await,
            };
            Arc::new(KmsDirectSigner::new(client, es256_key_id, rs256_key_id))
        }
        KeyConfig::KmsEnvelope { wrapping_key_id } => {
            let client = match kms {
                Some(c) => c,
                None => kms::client_from_environment().await,
            };
            Arc::new(KmsEnvelopeSigner::new(client, wrapping_key_id))
        }
    };
    let mode = backend.name();
    KeyRing::open(backend, store, clock, config.key_rotation)
        .await
        .map_err(|source| FactoryError::Keys { mode, source })
}

/// Builds the configured event sink: ClickHouse (with its spool) when
/// `PORTCULLIS_CLICKHOUSE_URL` is set, JSON Lines files otherwise. Starts
/// its writer task, so it needs a tokio runtime; never waits for ClickHouse.
/// Without the archive, a ClickHouse sink whose retention waits for the
/// archive (`PORTCULLIS_EVENTS_RETENTION_REQUIRES_ARCHIVE`) drops nothing:
/// only [`build`] (`serve`) gives it one.
pub fn build_event_sink(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn EventSink>, FactoryError> {
    build_event_sink_with_archive(config, clock, None)
}

/// [`build_event_sink`] with the archive ClickHouse retention asks
/// before it drops a month.
pub fn build_event_sink_with_archive(
    config: &Config,
    clock: Arc<dyn Clock>,
    archive: Option<Arc<dyn ArchivedHours>>,
) -> Result<Arc<dyn EventSink>, FactoryError> {
    Ok(match &config.events {
        EventConfig::Files { dir } => {
            tracing::info!(dir = %dir.display(), "events go to JSON Lines files");
            Arc::new(
                FileEventSink::start(dir, &config.event_pipeline)
                    .map_err(|e| FactoryError::Events(format!("{}: {e}", dir.display())))?,
            )
        }
        EventConfig::ClickHouse(ch) => {
            tracing::info!(
                url = %ch.url,
                database = %ch.database,
                spool = %ch.spool_dir.display(),
                "events go to ClickHouse"
            );
            Arc::new(
                ClickHouseEventSink::start_with_archive(ch, &config.event_pipeline, clock, archive)
                    .map_err(|e| FactoryError::Events(e.to_string()))?,
            )
        }
    })
}

/// Builds the security-alert queue when `PORTCULLIS_ALERTS_SQS_QUEUE_URL`
/// is set (the only adapter: Amazon SQS, through `client` or one from
/// the standard AWS settings); `None` otherwise. Connects to nothing yet.
pub async fn build_alert_queue(
    config: &Config,
    client: Option<aws_sdk_sqs::Client>,
) -> Option<Arc<dyn AlertQueue>> {
    let url = config.alerts.sqs_queue_url.as_deref()?;
    let client = match client {
        Some(c) => c,
        None => crate::adapters::sqs::client_from_environment().await,
    };
    tracing::info!(queue = %url, "security alerts go to SQS");
    Some(Arc::new(SqsAlertQueue::new(client, url)))
}

/// `events`, wrapped so that events that must leave the server become
/// deliveries in the outbox of `store` (`app::fanout`): the Shared Signals
/// SETs of the streams that carry them (always), and the security alerts
/// when an alert queue is configured (`app::alerts`).
pub fn build_delivering_sink(
    config: &Config,
    events: Arc<dyn EventSink>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> Arc<dyn EventSink> {
    let mut fanouts: Vec<Arc<dyn Fanout>> = vec![Arc::new(SignalFanout)];
    if let Some(url) = &config.alerts.sqs_queue_url {
        fanouts.push(Arc::new(AlertFanout {
            queue_url: url.clone(),
        }));
    }
    Arc::new(DeliveringSink::start(events, store, clock, fanouts))
}

/// Builds the reader of the configured event store, for `portcullis
/// events tail|stats`: the ClickHouse table when
/// `PORTCULLIS_CLICKHOUSE_URL` is set, the JSON Lines files otherwise.
/// Connects on first use.
pub fn build_event_reader(config: &Config) -> Arc<dyn EventReader> {
    match &config.events {
        EventConfig::Files { dir } => Arc::new(FileEventReader::new(dir)),
        EventConfig::ClickHouse(ch) => Arc::new(ClickHouseEventReader::new(ch)),
    }
}

/// Opens the event archive configured by `config` (`PORTCULLIS_ARCHIVE_S3_*`;
/// `None` without a bucket) through `s3`, or an S3 client from the
/// standard AWS settings. Connects on first use.
pub async fn build_archive(
    config: &Config,
    s3: Option<aws_sdk_s3::Client>,
) -> Option<Arc<Archive>> {
    let settings = config.archive.as_ref()?;
    let client = match s3 {
        Some(c) => c,
        None => archive_s3::client_from_environment().await,
    };
    let store = Arc::new(S3ObjectStore::new(client, &settings.bucket));
    Some(Arc::new(Archive::new(store, &settings.prefix)))
}

/// Builds the one outbound HTTP client (`adapters::outbound`): every request
/// to a URL a client registered goes through it.
pub fn build_outbound(config: &Config) -> Result<Arc<dyn OutboundHttp>, FactoryError> {
    let o = &config.outbound;
    let client = HardenedOutbound::new(OutboundLimits {
        allow_insecure: o.allow_insecure,
        connect_timeout: o.connect_timeout,
        timeout: o.timeout,
        max_response_bytes: o.max_response_bytes,
    })
    .map_err(|e| FactoryError::Http(e.to_string()))?;
    Ok(Arc::new(client))
}

/// Builds the configured mail transport: SMTP when `PORTCULLIS_SMTP_URL`
/// is set, `.eml` files in the outbox directory otherwise (the only place
/// that picks one). Connects to nothing yet.
pub fn build_mailer(config: &Config) -> Result<Arc<dyn Mailer>, FactoryError> {
    use crate::adapters::mail::{Sender, file::FileMailer, smtp::SmtpMailer};
    use crate::config::MailTransport;
    let settings = &config.self_service;
    let sender = Sender::parse(&settings.mail_from).map_err(FactoryError::Mail)?;
    Ok(match &settings.transport {
        MailTransport::Files(dir) => Arc::new(FileMailer::new(dir, sender)),
        MailTransport::Smtp(url) => Arc::new(SmtpMailer::new(url, sender).map_err(|e| {
            FactoryError::Mail(format!("{}: {e}", crate::config::setting::SMTP_URL.env))
        })?),
    })
}

/// Builds what seals TOTP secrets at rest: the same protection as the
/// signing keys (docs/MFA.md). Local keys: the master key; KMS envelope:
/// KMS under `PORTCULLIS_KMS_WRAPPING_KEY_ID`; KMS direct: that wrapping
/// key when it is set, else the master key under the data directory.
/// `master`: the master key [`build`] opened (opened here when `None` and
/// needed).
pub async fn build_secret_box(
    config: &Config,
    kms: Option<aws_sdk_kms::Client>,
    master: Option<Arc<MasterKey>>,
) -> Result<Arc<dyn SecretBox>, FactoryError> {
    use crate::adapters::secrets::{KmsBox, MasterKeyBox};
    let wrapping_key = match &config.keys {
        KeyConfig::KmsEnvelope { wrapping_key_id }
        | KeyConfig::KmsDirect {
            wrapping_key_id: Some(wrapping_key_id),
            ..
        } => Some(wrapping_key_id),
        KeyConfig::Local | KeyConfig::KmsDirect { .. } => None,
    };
    let secrets: Arc<dyn SecretBox> = if let Some(id) = wrapping_key {
        let client = match kms {
            Some(c) => c,
            None => kms::client_from_environment().await,
        };
        Arc::new(KmsBox::new(client, id))
    } else {
        let master = match master {
            Some(m) => m,
            None => open_master_key(config)?,
        };
        Arc::new(MasterKeyBox::new(master))
    };
    tracing::debug!(protection = secrets.protection(), "TOTP secrets are sealed");
    Ok(secrets)
}

/// Builds the WebAuthn relying party from `PORTCULLIS_WEBAUTHN_RP_ID` and
/// the issuer's origin.
pub fn build_webauthn(config: &Config) -> Result<Arc<dyn WebAuthn>, FactoryError> {
    crate::adapters::webauthn::WebauthnRs::new(&config.mfa)
        .map(|w| Arc::new(w) as Arc<dyn WebAuthn>)
        .map_err(FactoryError::Mfa)
}

/// Opens (or creates) `<data_dir>/session.key`, the key of session cookies
/// and CSRF tokens, kept like the master key (0600).
pub fn build_session_key(config: &Config) -> Result<Arc<SessionKey>, FactoryError> {
    use crate::adapters::keys::local;
    // PORTCULLIS_SESSION_KEY_FILE: the operator's file, never created.
    let (path, bytes) = if let Some(path) = &config.session_key_file {
        (path.clone(), local::read_secret_file(path))
    } else {
        let path = config.data_dir.join(local::SESSION_KEY_FILE);
        let bytes = local::open_secret(&path, local::SecretKind::SessionKey);
        (path, bytes)
    };
    let bytes = bytes.map_err(|e| FactoryError::SessionKey(e.to_string()))?;
    SessionKey::new(bytes)
        .map(Arc::new)
        .ok_or_else(|| FactoryError::SessionKey(format!("{}: too short", path.display())))
}

/// Builds the application state from configuration.
pub async fn build(config: Config, overrides: Overrides) -> Result<AppState, FactoryError> {
    let db: Arc<dyn Store> = match overrides.store {
        Some(s) => s,
        None => Arc::new(
            build_store(&config, config.migrate_on_start || overrides.force_migrate).await?,
        ),
    };
    // Clients are read on every token request: keep them in memory for a
    // short time (docs/SCALING.md).
    let store: Arc<dyn Store> = Arc::new(CachedStore::new(db, config.client_cache_ttl));
    let passwords = match overrides.passwords {
        Some(p) => p,
        None => build_password_hasher(&config)?,
    };
    let interaction = Arc::new(interaction_settings(&config));
    let session_key = build_session_key(&config)?;
    let tokens = Arc::new(token_settings(&config, &session_key));
    let outbound = build_outbound(&config)?;
    let client_jwks = Arc::new(HttpJwksFetcher::new(
        outbound.clone(),
        JwksCachePolicy {
            ttl: config.outbound.jwks_cache_ttl,
            refetch_floor: config.outbound.jwks_refetch_floor,
        },
    ));
    let clock: Arc<dyn Clock> = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
    // The master key is opened once, for the signing keys and the secrets.
    let master = if needs_master_key(&config) {
        Some(open_master_key(&config)?)
    } else {
        None
    };
    let secrets = build_secret_box(&config, overrides.kms.clone(), master.clone()).await?;
    let webauthn = build_webauthn(&config)?;
    let keys: Arc<dyn KeyProvider> = match overrides.keys {
        Some(k) => k,
        None => Arc::new(
            build_key_ring_with(&config, store.clone(), clock.clone(), overrides.kms, master)
                .await?,
        ),
    };
    let archive = build_archive(&config, overrides.s3).await;
    let events = match overrides.events {
        Some(e) => e,
        None => build_event_sink_with_archive(
            &config,
            clock.clone(),
            archive.clone().map(|a| a as Arc<dyn ArchivedHours>),
        )?,
    };
    let events = build_delivering_sink(&config, events, store.clone(), clock.clone());
    let alerts = build_alert_queue(&config, overrides.sqs).await;
    let event_reader = build_event_reader(&config);
    Ok(AppState::new(Services {
        archive,
        secrets,
        webauthn,
        mail_wake: Arc::new(tokio::sync::Notify::new()),
        event_reader,
        session_key,
        interaction,
        tokens,
        grants: Arc::new(GrantRegistry::standard()),
        client_jwks,
        outbound,
        config: Arc::new(config),
        store,
        clock,
        rng: overrides.rng.unwrap_or_else(|| Arc::new(OsRng)),
        passwords,
        keys,
        events,
        alerts,
    }))
}
