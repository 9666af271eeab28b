//! Local keys (the embedded default): key pairs generated here, their
//! private parts sealed with AES-256-GCM under a master key kept in
//! `<data_dir>/master.key` (created 0600 on first start). The `kid` is the
//! additional authenticated data, so a sealed key moved to another row does
//! not open. No private key is ever written in the clear.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::{KeyBackend, NewKey, RawSigner, material};
use crate::domain::SigningKeyRecord;
use crate::ports::{JwsAlg, KeyError};

/// `signing_keys.backend` of local keys.
pub const BACKEND: &str = "local";
/// File name of the master key under the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";
/// Prefix of sealed keys: format version 1 (AES-256-GCM, 96-bit nonce).
const SEALED_PREFIX: &str = "aes256gcm.v1:";
const NONCE_LEN: usize = 12;

/// Why the master key could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// Reading or creating the file failed.
    #[error("master key {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The configured file (`PORTCULLIS_MASTER_KEY_FILE`) does not exist:
    /// portcullis never creates it.
    #[error(
        "master key {path} (PORTCULLIS_MASTER_KEY_FILE) does not exist; portcullis reads this \
         file but never creates it: write 32 random bytes in base64 to it (mode 0600)"
    )]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The file or setting does not hold a key.
    #[error("master key {origin}: expected 32 bytes in base64 on one line")]
    Malformed {
        /// Where the key came from: a file, or `PORTCULLIS_MASTER_KEY`.
        origin: String,
    },
}

impl From<MasterKeyError> for KeyError {
    fn from(e: MasterKeyError) -> Self {
        Self::Internal(e.to_string())
    }
}

/// The master key, opened once (Singleton per process, built by the
/// factory) and shared by the local signing keys and the secret box of
/// TOTP secrets (`adapters::secrets`). It lives only in `cipher` (its AES
/// key schedule and GHASH key, wiped when dropped: aes-gcm's `zeroize`
/// feature) and, briefly, in `Zeroizing` buffers while it is read or
/// created.
pub struct MasterKey {
    cipher: Aes256Gcm,
    /// Where the master key came from (a path, or the setting's name), for
    /// messages; never the key.
    origin: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Why a value sealed with the master key does not open.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Not in the sealed format (prefix, base64, length).
    #[error("not a value sealed with the master key")]
    Malformed,
    /// The authentication tag does not verify: another master key, another
    /// additional data (context), or a changed ciphertext.
    #[error("does not open with the master key {0}")]
    DoesNotOpen(String),
    /// The cipher refused to seal (does not happen with small inputs).
    #[error("sealing failed")]
    Seal,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MasterKeyError + '_ {
    move |source| MasterKeyError::Io {
        path: path.to_owned(),
        source,
    }
}

impl MasterKey {
    /// Opens `<data_dir>/master.key`, creating the directory and a new
    /// random key (mode 0600) when it does not exist yet.
    pub fn open(data_dir: &Path) -> Result<Self, MasterKeyError> {
        let path = data_dir.join(MASTER_KEY_FILE);
        let key = open_secret(&path, SecretKind::MasterKey)?;
        Self::from_key(&key, path.display().to_string())
    }

    /// Opens the master key kept in `path` (`PORTCULLIS_MASTER_KEY_FILE`):
    /// read only; a missing file is an error, never created.
    pub fn open_file(path: &Path) -> Result<Self, MasterKeyError> {
        let key = read_secret_file(path)?;
        Self::from_key(&key, path.display().to_string())
    }

    /// Uses the master key given as base64 text by the setting `setting`
    /// (`PORTCULLIS_MASTER_KEY`).
    pub fn from_base64(text: &str, setting: &str) -> Result<Self, MasterKeyError> {
        let key = decode_key(text).ok_or_else(|| MasterKeyError::Malformed {
            origin: setting.to_owned(),
        })?;
        Self::from_key(&key, setting.to_owned())
    }

    fn from_key(key: &[u8], origin: String) -> Result<Self, MasterKeyError> {
        let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| MasterKeyError::Malformed {
            origin: origin.clone(),
        })?;
        Ok(Self { cipher, origin })
    }

    /// Where the master key came from: its file, or the setting's name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Seals `plaintext` with AES-256-GCM (a random 96-bit nonce), `aad`
    /// as the additional authenticated data: `aes256gcm.v1:` then the
    /// base64 of nonce ‖ ciphertext ‖ tag. The one seal of the master key
    /// (private signing keys, TOTP secrets).
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0_u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| SealError::Seal)?;
        let mut blob = nonce.to_vec();
        blob.extend(ciphertext);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(blob)))
    }

    /// Opens what [`MasterKey::seal`] sealed with the same `aad`.
    pub fn open_sealed(&self, aad: &[u8], sealed: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let blob = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or(SealError::Malformed)?;
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| SealError::Malformed)?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::DoesNotOpen(self.origin.clone()))
    }
}

/// The local back end: signs in memory with keys sealed by the
/// [`MasterKey`] (the `kid` is the additional data).
pub struct LocalSigner {
    master: Arc<MasterKey>,
}

impl std::fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSigner")
            .field("master_key", &self.master.origin)
            .finish_non_exhaustive()
    }
}

impl LocalSigner {
    /// Signs with keys sealed by `master` (opened once, shared with the
    /// secret box).
    pub fn new(master: Arc<MasterKey>) -> Self {
        Self { master }
    }

    /// Opens `<data_dir>/master.key` ([`MasterKey::open`]).
    pub fn open(data_dir: &Path) -> Result<Self, MasterKeyError> {
        MasterKey::open(data_dir).map(|m| Self::new(Arc::new(m)))
    }

    /// Opens the master key kept in `path` ([`MasterKey::open_file`]).
    pub fn open_file(path: &Path) -> Result<Self, MasterKeyError> {
        MasterKey::open_file(path).map(|m| Self::new(Arc::new(m)))
    }

    /// Uses the master key given as base64 text ([`MasterKey::from_base64`]).
    pub fn from_base64(text: &str, setting: &str) -> Result<Self, MasterKeyError> {
        MasterKey::from_base64(text, setting).map(|m| Self::new(Arc::new(m)))
    }

    /// Where the master key came from: its file, or the setting's name.
    pub fn master_key_origin(&self) -> &str {
        &self.master.origin
    }

    fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<String, KeyError> {
        self.master
            .seal(kid.as_bytes(), plaintext)
            .map_err(|_| KeyError::Internal("sealing a private key failed".into()))
    }

    fn unseal(&self, kid: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.master
            .open_sealed(kid.as_bytes(), sealed)
            .map_err(|e| match e {
                SealError::DoesNotOpen(origin) => KeyError::Internal(format!(
                    "key {kid} does not open with {origin}: it was sealed with another master key \
                     (instances sharing a database must share the master key)"
                )),
                _ => KeyError::Internal(format!("key {kid}: not a sealed local key")),
            })
    }
}

/// Which secret a file under the data directory holds (for the log line
/// that announces a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// The master key of local signing keys ([`MASTER_KEY_FILE`]).
    MasterKey,
    /// The key of session cookies and CSRF tokens ([`SESSION_KEY_FILE`]).
    SessionKey,
}

impl SecretKind {
    /// What to tell the operator when a new key of this kind was created.
    fn created_message(self) -> &'static str {
        match self {
            Self::MasterKey => {
                "created a new master key; back it up: without it the signing keys and the TOTP secrets sealed with it cannot be opened"
            }
            Self::SessionKey => {
                "created a new session key (it signs session cookies and CSRF tokens); \
                 instances behind one load balancer must share it"
            }
        }
    }
}

/// Reads the 32-byte secret kept in `path` (base64 on one line), creating
/// its directory and a new random secret (mode 0600, race-free: see
/// [`create_key`]) when it does not exist yet. The master key (by default)
/// and the session key (`SESSION_KEY_FILE`) are kept this way.
pub fn open_secret(path: &Path, kind: SecretKind) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
    if let Some(dir) = path.parent() {
        crate::adapters::files::create_private_dir_all(dir).map_err(io(dir))?;
    }
    let key = match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            decode_key(&text).ok_or_else(|| MasterKeyError::Malformed {
                origin: path.display().to_string(),
            })?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key(path, kind)?,
        Err(e) => return Err(io(path)(e)),
    };
    warn_if_exposed(path);
    Ok(key)
}

/// Reads the 32-byte secret kept in `path` (base64 on one line), a file an
/// operator gave (`PORTCULLIS_MASTER_KEY_FILE`,
/// `PORTCULLIS_SESSION_KEY_FILE`): read only; a missing file is an error,
/// never created.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => Zeroizing::new(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(MasterKeyError::NotFound {
                path: path.to_owned(),
            });
        }
        Err(e) => return Err(io(path)(e)),
    };
    let key = decode_key(&text).ok_or_else(|| MasterKeyError::Malformed {
        origin: path.display().to_string(),
    })?;
    warn_if_exposed(path);
    Ok(key)
}

/// File name, under the data directory, of the key that signs session
/// cookies and CSRF tokens (`http::session`); instances behind one load
/// balancer share it, as they share the master key.
pub const SESSION_KEY_FILE: &str = "session.key";

fn decode_key(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let key = Zeroizing::new(STANDARD.decode(text.trim()).ok()?);
    (key.len() == 32).then_some(key)
}

/// Writes a new key to a temporary file (0600) and links it into place, so
/// that two processes starting at once end up with the same key.
fn create_key(path: &Path, kind: SecretKind) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
    let mut key = Zeroizing::new(vec![0_u8; 32]);
    rand::fill(key.as_mut_slice());
    let text = Zeroizing::new(format!("{}\n", STANDARD.encode(key.as_slice())));
    let tmp = path.with_extension(format!("tmp.{}", uuid::Uuid::new_v4().simple()));
    let written = crate::adapters::files::private_options()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "{}", kind.created_message());
            Ok(key)
        }
        // Another process won the race: use its key.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io(path))?);
            decode_key(&text).ok_or_else(|| MasterKeyError::Malformed {
                origin: path.display().to_string(),
            })
        }
        Err(e) => Err(io(path)(e)),
    }
}

#[cfg(unix)]
fn warn_if_exposed(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777), "the secret key is readable by other users; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_exposed(_path: &Path) {}

#[async_trait]
impl KeyBackend for LocalSigner {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn algs(&self) -> Vec<JwsAlg> {
        JwsAlg::ALL.to_vec()
    }

    async fn check(&self) -> Result<(), KeyError> {
        Ok(())
    }

    async fn configured_keys(&self) -> Result<Vec<NewKey>, KeyError> {
        Ok(Vec::new())
    }

    async fn create(&self, alg: JwsAlg, kms_key_id: Option<&str>) -> Result<NewKey, KeyError> {
        let generated = material::generate_in_process(alg, kms_key_id).await?;
        let sealed = self.seal(&generated.kid, &generated.private_pkcs8)?;
        Ok(NewKey {
            alg,
            kid: generated.kid,
            public_jwk: generated.public_jwk,
            private_key_sealed: Some(sealed),
            kms_key_id: None,
        })
    }

    async fn load(
        &self,
        record: &SigningKeyRecord,
        alg: JwsAlg,
    ) -> Result<Arc<dyn RawSigner>, KeyError> {
        let sealed = record.private_key_sealed.as_deref().ok_or_else(|| {
            KeyError::Internal(format!("local key {} has no private part", record.kid))
        })?;
        let der = self.unseal(&record.kid, sealed)?;
        material::in_memory_signer(alg, &der)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_binds_the_kid() {
        let dir = tempfile::tempdir().unwrap();
        let signer = LocalSigner::open(dir.path()).unwrap();
        let sealed = signer.seal("kid-1", b"secret").unwrap();
        assert!(!sealed.contains("secret"));
        assert_eq!(
            signer.unseal("kid-1", &sealed).unwrap().as_slice(),
            b"secret"
        );
        assert!(signer.unseal("kid-2", &sealed).is_err());
        // The same master key opens it again after a restart.
        let again = LocalSigner::open(dir.path()).unwrap();
        assert_eq!(
            again.unseal("kid-1", &sealed).unwrap().as_slice(),
            b"secret"
        );
        // Another master key does not.
        let other_dir = tempfile::tempdir().unwrap();
        let other = LocalSigner::open(other_dir.path()).unwrap();
        let err = other.unseal("kid-1", &sealed).unwrap_err().to_string();
        assert!(err.contains("another master key"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn master_key_is_created_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let signer = LocalSigner::open(&data).unwrap();
        let mode = std::fs::metadata(signer.master_key_origin())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(&data).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    /// Key material is wiped when dropped: the cipher holding the master
    /// key, and the buffers of the master key and of unsealed private keys.
    #[test]
    fn key_material_is_zeroized_on_drop() {
        fn zeroized_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        zeroized_on_drop::<Aes256Gcm>();
        zeroized_on_drop::<Zeroizing<Vec<u8>>>();
        let dir = tempfile::tempdir().unwrap();
        let signer = LocalSigner::open(dir.path()).unwrap();
        let sealed = signer.seal("kid-1", b"secret").unwrap();
        let opened: Zeroizing<Vec<u8>> = signer.unseal("kid-1", &sealed).unwrap();
        assert_eq!(opened.as_slice(), b"secret");
        let generated = material::generate(crate::ports::JwsAlg::Es256).unwrap();
        let _: &Zeroizing<Vec<u8>> = &generated.private_pkcs8;
    }

    #[test]
    fn a_malformed_master_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MASTER_KEY_FILE), "not a key\n").unwrap();
        let err = LocalSigner::open(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("master.key") && err.contains("32 bytes"),
            "{err}"
        );
    }

    #[test]
    fn a_master_key_from_a_file_or_the_setting_opens_what_the_other_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let default = LocalSigner::open(dir.path()).unwrap();
        let sealed = default.seal("kid-1", b"secret").unwrap();
        let path = dir.path().join(MASTER_KEY_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let from_file = LocalSigner::open_file(&path).unwrap();
        let from_env = LocalSigner::from_base64(text.trim(), "PORTCULLIS_MASTER_KEY").unwrap();
        assert_eq!(
            from_file.unseal("kid-1", &sealed).unwrap().as_slice(),
            b"secret"
        );
        assert_eq!(
            from_env.unseal("kid-1", &sealed).unwrap().as_slice(),
            b"secret"
        );
        let by_env = from_env.seal("kid-2", b"other").unwrap();
        assert_eq!(
            from_file.unseal("kid-2", &by_env).unwrap().as_slice(),
            b"other"
        );
        assert!(!format!("{from_env:?}").contains(text.trim()));
    }

    #[test]
    fn a_given_master_key_file_is_never_created_or_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets").join("master.key");
        let err = LocalSigner::open_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("PORTCULLIS_MASTER_KEY_FILE") && err.contains("never creates"),
            "{err}"
        );
        assert!(!path.exists() && !path.parent().unwrap().exists());
        // 16 bytes: the wrong length, refused and left as it is.
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "AAECAwQFBgcICQoLDA0ODw==\n").unwrap();
        let err = LocalSigner::open_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("32 bytes") && err.contains("master.key"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "AAECAwQFBgcICQoLDA0ODw==\n"
        );
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn a_master_key_setting_of_the_wrong_length_is_refused_without_echoing_it() {
        for text in ["AAECAwQFBgcICQoLDA0ODw==", "not base64 at all", ""] {
            let err = LocalSigner::from_base64(text, "PORTCULLIS_MASTER_KEY")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("PORTCULLIS_MASTER_KEY") && err.contains("32 bytes"),
                "{err}"
            );
            assert!(text.is_empty() || !err.contains(text), "{err}");
        }
    }

    /// The line announcing a new session key speaks of the session key, not
    /// of master.key (it used to say the same for both).
    #[test]
    fn each_new_secret_is_announced_for_what_it_is() {
        #[derive(Clone, Default)]
        struct Lines(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let dir = tempfile::tempdir().unwrap();
        tracing::subscriber::with_default(subscriber, || {
            open_secret(&dir.path().join(SESSION_KEY_FILE), SecretKind::SessionKey).unwrap();
        });
        let session = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert!(session.contains("new session key"), "{session}");
        assert!(!session.contains("master"), "{session}");
        lines.0.lock().unwrap().clear();
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            LocalSigner::open(dir.path()).unwrap();
        });
        let master = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert!(master.contains("new master key"), "{master}");
    }
}
