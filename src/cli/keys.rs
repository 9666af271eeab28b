//! `portcullis keys list|rotate`: the operator's view of the signing keys
//! (docs/KEYS.md).

use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use crate::adapters::system::SystemClock;
use crate::config::Config;
use crate::domain::SigningKeyRecord;
use crate::factory;
use crate::ports::{JwsAlg, Store};

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
}

fn parse_alg(s: &str) -> Result<JwsAlg, String> {
    s.parse()
}

fn key_json(k: &SigningKeyRecord) -> serde_json::Value {
    json!({
        "kid": k.kid,
        "alg": k.alg,
        "state": k.state.as_str(),
        "backend": k.backend,
        "kms_key_id": k.kms_key_id,
        "created_at": k.created_at.to_rfc3339(),
        "activates_at": k.activates_at.to_rfc3339(),
        "retired_at": k.retired_at.map(|t| t.to_rfc3339()),
        "expires_at": k.expires_at.map(|t| t.to_rfc3339()),
    })
}

fn print_table(keys: &[SigningKeyRecord]) {
    println!("KID\tALG\tSTATE\tBACKEND\tACTIVATES_AT\tEXPIRES_AT");
    for k in keys {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            k.kid,
            k.alg,
            k.state,
            k.backend,
            k.activates_at.to_rfc3339(),
            k.expires_at
                .map_or_else(|| "-".to_owned(), |t| t.to_rfc3339())
        );
    }
}

/// Runs a `keys` command.
pub async fn run(cmd: KeysCmd, config: &Config) -> anyhow::Result<()> {
    let store: Arc<dyn Store> =
        Arc::new(factory::build_store(config, config.migrate_on_start).await?);
    match cmd {
        KeysCmd::List { json } => {
            let keys = store.signing_keys().list_signing_keys().await?;
            if json {
                let v: Vec<_> = keys.iter().map(key_json).collect();
                println!("{}", serde_json::Value::from(v));
            } else {
                print_table(&keys);
            }
            Ok(())
        }
        KeysCmd::Rotate {
            alg,
            kms_key_id,
            immediately,
            json,
        } => {
            let ring = factory::build_key_ring(config, store, Arc::new(SystemClock), None).await?;
            let algs = match alg {
                Some(a) => vec![a],
                None => crate::ports::KeyProvider::signing_algs(&ring),
            };
            let mut rotated = Vec::new();
            for alg in algs {
                let key = ring
                    .rotate(alg, kms_key_id.as_deref(), immediately)
                    .await
                    .with_context(|| format!("cannot rotate {alg}"))?;
                rotated.push(key);
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
    }
}
