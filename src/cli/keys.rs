//! `portcullis keys list|rotate|revoke`: the operator's view of the signing
//! keys (docs/KEYS.md). The rules are in [`crate::app::keys`], which the
//! admin API calls too.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use crate::adapters::system::{OsRng, SystemClock};
use crate::app::keys::{self as app_keys, KeyServices, Rotation};
use crate::config::Config;
use crate::domain::SigningKeyRecord;
use crate::domain::event::Event;
use crate::factory;
use crate::ports::{Clock, EventSink, JwsAlg, Store};

/// `keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// List the signing keys: state, algorithm, back end and dates.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start a rotation: a new key is published as `next` now and signs
    /// after PORTCULLIS_KEY_ROTATION_PREPUBLISH_SECS; the key it replaces
    /// is then retired and stays published for PORTCULLIS_MAX_TOKEN_TTL_SECS.
    Rotate {
        /// Only this algorithm (ES256, RS256 or PS256). Default: every
        /// algorithm of the configured mode.
        #[arg(long, value_parser = parse_alg)]
        alg: Option<JwsAlg>,
        /// KMS direct mode: the new KMS key (SIGN_VERIFY) to sign with.
        /// Needs --alg.
        #[arg(long, value_name = "ID", requires = "alg")]
        kms_key_id: Option<String>,
        /// Skip the pre-publication period (a compromised key): the new key
        /// signs as soon as the instances refresh. Relying parties that
        /// cached the JWK Set must fetch it again.
        #[arg(long)]
        immediately: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a compromised key: it leaves the JWK Set and every token it
    /// signed is refused from now on (this instance at once, running
    /// instances within PORTCULLIS_KEY_REFRESH_SECS). When it is the key
    /// that signs, a replacement (the `next` key, or a new one) signs
    /// first.
    Revoke {
        /// The key's `kid` (see `keys list`).
        kid: String,
        /// KMS direct mode: the KMS key (SIGN_VERIFY) that replaces the
        /// revoked one when it signs now and no `next` key is pending.
        #[arg(long, value_name = "ID")]
        kms_key_id: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_alg(s: &str) -> Result<JwsAlg, String> {
    s.parse()
}

fn key_json(k: &SigningKeyRecord) -> serde_json::Value {
    serde_json::to_value(app_keys::KeyView::from(k)).unwrap_or_default()
}

fn print_table(keys: &[SigningKeyRecord]) {
    let date = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339())
    };
    println!("KID\tALG\tSTATE\tBACKEND\tACTIVATES_AT\tEXPIRES_AT\tREVOKED_AT");
    for k in keys {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            k.kid,
            k.alg,
            k.state,
            k.backend,
            k.activates_at.to_rfc3339(),
            date(k.expires_at),
            date(k.revoked_at),
        );
    }
}

/// Runs a `keys` command.
pub async fn run(cmd: KeysCmd, config: &Config) -> anyhow::Result<()> {
    let store: Arc<dyn Store> =
        Arc::new(factory::build_store(config, config.migrate_on_start).await?);
    if let KeysCmd::List { json } = cmd {
        let keys = app_keys::list(store.as_ref()).await?;
        if json {
            let v: Vec<_> = keys.iter().map(key_json).collect();
            println!("{}", serde_json::Value::from(v));
        } else {
            print_table(&keys);
        }
        return Ok(());
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ring = factory::build_key_ring(config, store.clone(), clock.clone(), None).await?;
    // A revocation is a security alert when alerts are configured: queued
    // in the outbox, sent by the servers' delivery worker.
    let events = factory::build_delivering_sink(
        config,
        super::audit_sink(config, clock.clone()),
        store.clone(),
        clock.clone(),
    );
    let services = KeyServices {
        keys: &ring,
        store: store.as_ref(),
    };
    let audit = Audit {
        events: events.as_ref(),
        clock: clock.as_ref(),
    };
    let result = match cmd {
        KeysCmd::List { .. } => Ok(()),
        KeysCmd::Rotate {
            alg,
            kms_key_id,
            immediately,
            json,
        } => rotate(&services, &audit, alg, kms_key_id, immediately, json).await,
        KeysCmd::Revoke {
            kid,
            kms_key_id,
            json,
        } => revoke(&services, &audit, config, &kid, kms_key_id.as_deref(), json).await,
    };
    if let Err(e) = events.flush().await {
        eprintln!("warning: the admin_change event was not recorded: {e}");
    }
    result
}

async fn rotate(
    services: &KeyServices<'_>,
    audit: &Audit<'_>,
    alg: Option<JwsAlg>,
    kms_key_id: Option<String>,
    immediately: bool,
    json: bool,
) -> anyhow::Result<()> {
    let req = Rotation {
        alg,
        kms_key_id,
        immediately,
    };
    let rotated = app_keys::rotate(services, &req)
        .await
        .with_context(|| match alg {
            Some(alg) => format!("cannot rotate {alg}"),
            None => "cannot rotate".to_owned(),
        })?;
    for key in &rotated {
        audit.changed(app_keys::ACTION_ROTATED, &key.kid);
    }
    if json {
        let v: Vec<_> = rotated.iter().map(key_json).collect();
        println!("{}", serde_json::Value::from(v));
    } else {
        print_table(&rotated);
        eprintln!(
            "\nThe new keys are published now and sign from ACTIVATES_AT on; running \
             instances pick them up within PORTCULLIS_KEY_REFRESH_SECS."
        );
    }
    Ok(())
}

async fn revoke(
    services: &KeyServices<'_>,
    audit: &Audit<'_>,
    config: &Config,
    kid: &str,
    kms_key_id: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let done = app_keys::revoke(services, kid, kms_key_id)
        .await
        .with_context(|| format!("cannot revoke key {kid:?}"))?;
    audit.changed(app_keys::ACTION_REVOKED, &done.revoked.kid);
    if json {
        println!(
            "{}",
            json!({
                "revoked": key_json(&done.revoked),
                "replacement": done.replacement.as_ref().map(key_json),
            })
        );
        return Ok(());
    }
    let r = &done.revoked;
    println!(
        "revoked {} ({}) at {}: it is no longer published and every token it signed is \
         refused.",
        r.kid,
        r.alg,
        r.revoked_at.map_or_else(String::new, |t| t.to_rfc3339())
    );
    if let Some(n) = &done.replacement {
        println!("{} now signs {} (backend {}).", n.kid, n.alg, n.backend);
    }
    println!(
        "Running instances follow within PORTCULLIS_KEY_REFRESH_SECS ({} s). Relying parties \
         that cached the JWK Set keep trusting the key until they fetch it again (the JWK Set \
         is served with max-age {} s).",
        config.key_rotation.refresh_interval.as_secs(),
        config.key_rotation.jwks_max_age().as_secs()
    );
    Ok(())
}

/// Records the CLI's changes as `admin_change` events.
struct Audit<'a> {
    events: &'a dyn EventSink,
    clock: &'a dyn Clock,
}

impl Audit<'_> {
    /// The `admin_change` event of a change made from the command line:
    /// no acting client, `detail.initiator = cli`.
    fn changed(&self, action: &'static str, target: &str) {
        let stamp = crate::http::audit::event_stamp(&OsRng, self.clock.now());
        self.events
            .emit(Event::admin_change_by_cli(stamp, action, target));
    }
}
