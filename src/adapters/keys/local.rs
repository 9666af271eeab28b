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
    /// The file does not hold a key.
    #[error("master key {path}: expected 32 bytes in base64 on one line")]
    Malformed {
        /// The file.
        path: PathBuf,
    },
}

impl From<MasterKeyError> for KeyError {
    fn from(e: MasterKeyError) -> Self {
        Self::Internal(e.to_string())
    }
}

/// The local back end: signs in memory with keys sealed by the master key.
/// The master key lives only in `cipher` (its AES key schedule and GHASH
/// key, wiped when dropped: aes-gcm's `zeroize` feature) and, briefly, in
/// `Zeroizing` buffers while it is read or created.
pub struct LocalSigner {
    cipher: Aes256Gcm,
    path: PathBuf,
}

impl std::fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSigner")
            .field("master_key", &self.path)
            .finish_non_exhaustive()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MasterKeyError + '_ {
    move |source| MasterKeyError::Io {
        path: path.to_owned(),
        source,
    }
}

impl LocalSigner {
    /// Opens `<data_dir>/master.key`, creating the directory and a new
    /// random key (mode 0600) when it does not exist yet.
    pub fn open(data_dir: &Path) -> Result<Self, MasterKeyError> {
        let path = data_dir.join(MASTER_KEY_FILE);
        let key = open_secret(&path)?;
        let cipher = Aes256Gcm::new_from_slice(key.as_slice())
            .map_err(|_| MasterKeyError::Malformed { path: path.clone() })?;
        Ok(Self { cipher, path })
    }

    /// Where the master key is.
    pub fn master_key_path(&self) -> &Path {
        &self.path
    }

    fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<String, KeyError> {
        let mut nonce = [0_u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Internal("sealing a private key failed".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend(ciphertext);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(blob)))
    }

    fn unseal(&self, kid: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let blob = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or_else(|| KeyError::Internal(format!("key {kid}: not a sealed local key")))?;
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce)
            .map_err(|_| KeyError::Internal(format!("key {kid}: not a sealed local key")))?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: kid.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                KeyError::Internal(format!(
                    "key {kid} does not open with {}: it was sealed with another master key \
                     (instances sharing a database must share the master key)",
                    self.path.display()
                ))
            })
    }
}

/// Reads the 32-byte secret kept in `path` (base64 on one line), creating
/// its directory and a new random secret (mode 0600, race-free: see
/// [`create_key`]) when it does not exist yet. The master key and the
/// session key (`SESSION_KEY_FILE`) are kept this way.
pub fn open_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
    if let Some(dir) = path.parent() {
        crate::adapters::files::create_private_dir_all(dir).map_err(io(dir))?;
    }
    let key = match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            decode_key(&text).ok_or_else(|| MasterKeyError::Malformed {
                path: path.to_owned(),
            })?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key(path)?,
        Err(e) => return Err(io(path)(e)),
    };
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
fn create_key(path: &Path) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
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
            tracing::info!(path = %path.display(), "created a new secret key; back it up (master.key: without it the signing keys cannot be opened)");
            Ok(key)
        }
        // Another process won the race: use its key.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io(path))?);
            decode_key(&text).ok_or_else(|| MasterKeyError::Malformed {
                path: path.to_owned(),
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
        let mode = std::fs::metadata(signer.master_key_path())
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
}
