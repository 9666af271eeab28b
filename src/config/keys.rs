//! Signing keys: where they live (local, KMS direct, KMS envelope) and how
//! they rotate.

use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

use super::settings::{Setting, setting as s};
use super::{ConfigError, RawSettings};

/// Where the signing keys live (`PORTCULLIS_KMS_MODE`; docs/KEYS.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyConfig {
    /// Generated on first start; private parts sealed in the database with
    /// `<data_dir>/master.key` (the embedded default).
    Local,
    /// Every signature is a KMS `Sign` call; private keys never leave KMS.
    KmsDirect {
        /// `PORTCULLIS_KMS_KEY_ID_ES256`: an `ECC_NIST_P256` `SIGN_VERIFY` key.
        es256_key_id: String,
        /// `PORTCULLIS_KMS_KEY_ID_RS256`: an `RSA_2048` (or larger)
        /// `SIGN_VERIFY` key.
        rs256_key_id: String,
        /// `PORTCULLIS_KMS_WRAPPING_KEY_ID` (optional here): the
        /// `SYMMETRIC_DEFAULT` key that seals TOTP secrets; without it they
        /// are sealed with `<data_dir>/master.key`.
        wrapping_key_id: Option<String>,
    },
    /// Key pairs generated locally, the private parts wrapped by KMS
    /// `Encrypt` and unwrapped into memory at start and at rotation.
    KmsEnvelope {
        /// `PORTCULLIS_KMS_WRAPPING_KEY_ID`: a `SYMMETRIC_DEFAULT`
        /// `ENCRYPT_DECRYPT` key.
        wrapping_key_id: String,
    },
}

/// Where the master key of local signing keys comes from (docs/KEYS.md,
/// docs/OPERATIONS.md "Several instances"). Only the local mode has one.
#[derive(Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `<data_dir>/master.key`, created (0600) on first start: the default.
    DataDir,
    /// `PORTCULLIS_MASTER_KEY_FILE`: a file read at start, never created
    /// or changed by portcullis.
    File(PathBuf),
    /// `PORTCULLIS_MASTER_KEY`: the key itself, as configured (base64 of
    /// 32 bytes; decoded and checked when the key ring opens).
    Inline(Zeroizing<String>),
}

impl std::fmt::Debug for MasterKeySource {
    /// Never prints an inline key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DataDir => f.write_str("DataDir"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Inline(_) => f.write_str("Inline([redacted])"),
        }
    }
}

/// When new keys start signing and how long old ones stay published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRotation {
    /// How long a new key is published as `next` before it signs
    /// (`PORTCULLIS_KEY_ROTATION_PREPUBLISH_SECS`).
    pub prepublish: Duration,
    /// How often each instance reloads keys from the database
    /// (`PORTCULLIS_KEY_REFRESH_SECS`).
    pub refresh_interval: Duration,
    /// The longest lifetime of any JWT we sign: a retired key stays in the
    /// JWK Set this long after it stopped signing
    /// (`PORTCULLIS_MAX_TOKEN_TTL_SECS`). Token endpoints must not issue
    /// JWTs that live longer.
    pub max_token_ttl: Duration,
}

impl KeyRotation {
    /// `max-age` for the JWK Set: short enough that a relying party sees a
    /// `next` key well before it signs (half of what is left of the
    /// pre-publication period once every instance has refreshed), at most
    /// five minutes.
    pub fn jwks_max_age(&self) -> Duration {
        let margin = self.prepublish.saturating_sub(self.refresh_interval) / 2;
        margin.min(Duration::from_mins(5))
    }
}
/// Reads where the keys live, how they rotate and where the master key of
/// local keys comes from.
pub(super) fn parse_keys(
    raw: &RawSettings,
) -> Result<(KeyConfig, KeyRotation, MasterKeySource), ConfigError> {
    Ok((
        parse_key_config(raw)?,
        parse_key_rotation(raw)?,
        parse_master_key(raw)?,
    ))
}

/// `PORTCULLIS_MASTER_KEY_FILE` or `PORTCULLIS_MASTER_KEY` (at most one;
/// set but empty is an error, not "unset": an unfilled secret must not
/// fall back to a new key under the data directory).
fn parse_master_key(raw: &RawSettings) -> Result<MasterKeySource, ConfigError> {
    let given = |setting: &Setting| -> Result<Option<String>, ConfigError> {
        match raw.text(setting).map(str::trim) {
            None => Ok(None),
            Some("") => Err(ConfigError::new(
                setting.env,
                "is set but empty; unset it to keep the key under the data directory",
            )),
            Some(v) => Ok(Some(v.to_owned())),
        }
    };
    match (given(&s::MASTER_KEY_FILE)?, given(&s::MASTER_KEY)?) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            s::MASTER_KEY.env,
            "PORTCULLIS_MASTER_KEY_FILE is set too; give the master key one way",
        )),
        (Some(path), None) => Ok(MasterKeySource::File(PathBuf::from(path))),
        (None, Some(key)) => Ok(MasterKeySource::Inline(Zeroizing::new(key))),
        (None, None) => Ok(MasterKeySource::DataDir),
    }
}

fn parse_key_config(raw: &RawSettings) -> Result<KeyConfig, ConfigError> {
    let present = |setting: &Setting| {
        raw.text(setting)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let required = |setting: &Setting, mode: &str| {
        present(setting).ok_or_else(|| {
            ConfigError::new(
                setting.env,
                format!("required when PORTCULLIS_KMS_MODE={mode}"),
            )
        })
    };
    let unused = |settings: &[Setting], mode: &str| match settings
        .iter()
        .find(|setting| present(setting).is_some())
    {
        Some(setting) => Err(ConfigError::new(
            setting.env,
            format!("is set but PORTCULLIS_KMS_MODE is {mode}, which does not use it"),
        )),
        None => Ok(()),
    };
    let mode = present(&s::KMS_MODE).map(|m| m.to_ascii_lowercase());
    let keys = match mode.as_deref() {
        None | Some("local") => {
            unused(
                &[
                    s::KMS_KEY_ID_ES256,
                    s::KMS_KEY_ID_RS256,
                    s::KMS_WRAPPING_KEY_ID,
                ],
                "local",
            )?;
            KeyConfig::Local
        }
        Some("direct") => {
            unused(&[s::MASTER_KEY_FILE, s::MASTER_KEY], "direct")?;
            KeyConfig::KmsDirect {
                es256_key_id: required(&s::KMS_KEY_ID_ES256, "direct")?,
                rs256_key_id: required(&s::KMS_KEY_ID_RS256, "direct")?,
                wrapping_key_id: present(&s::KMS_WRAPPING_KEY_ID),
            }
        }
        Some("envelope") => {
            unused(
                &[
                    s::KMS_KEY_ID_ES256,
                    s::KMS_KEY_ID_RS256,
                    s::MASTER_KEY_FILE,
                    s::MASTER_KEY,
                ],
                "envelope",
            )?;
            KeyConfig::KmsEnvelope {
                wrapping_key_id: required(&s::KMS_WRAPPING_KEY_ID, "envelope")?,
            }
        }
        Some(other) => {
            return Err(ConfigError::new(
                s::KMS_MODE.env,
                format!("expected direct or envelope (or unset for local keys), got {other:?}"),
            ));
        }
    };
    Ok(keys)
}

fn parse_key_rotation(raw: &RawSettings) -> Result<KeyRotation, ConfigError> {
    let refresh: u64 = raw.number(&s::KEY_REFRESH_SECS)?;
    let prepublish: u64 = raw.number(&s::KEY_ROTATION_PREPUBLISH_SECS)?;
    if prepublish < refresh {
        return Err(ConfigError::new(
            s::KEY_ROTATION_PREPUBLISH_SECS.env,
            format!(
                "must be at least PORTCULLIS_KEY_REFRESH_SECS ({refresh}), so that every instance \
                 publishes a new key before any signs with it"
            ),
        ));
    }
    let max_token_ttl: u64 = raw.number(&s::MAX_TOKEN_TTL_SECS)?;
    Ok(KeyRotation {
        prepublish: Duration::from_secs(prepublish),
        refresh_interval: Duration::from_secs(refresh),
        max_token_ttl: Duration::from_secs(max_token_ttl),
    })
}
