//! argon2id password hashing on the blocking pool with bounded concurrency
//! (docs/SECURITY.md invariant 5).

use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use tokio::sync::Semaphore;
use zeroize::Zeroize;

use crate::ports::password::{PasswordError, PasswordHasher};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Parallelism.
    pub parallelism: u32,
}

impl Argon2Params {
    /// OWASP's first recommended argon2id configuration (m=19 MiB, t=2, p=1).
    pub const OWASP: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
    /// Cheap parameters for tests only.
    pub const TEST: Self = Self {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
}

/// [`PasswordHasher`] using argon2id.
pub struct Argon2Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    memory: Arc<WorkingMemory>,
    dummy_hash: String,
}

impl Argon2Hasher {
    /// Builds a hasher allowing `max_concurrent` hashes at once.
    pub fn new(params: Argon2Params, max_concurrent: usize) -> Result<Self, PasswordError> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| PasswordError::Internal(e.to_string()))?;
        let max_concurrent = max_concurrent.max(1);
        let memory = Arc::new(WorkingMemory::new(max_concurrent));
        // The dummy's buffer is not pooled: an idle server keeps no 19 MiB.
        let dummy_hash = hash_with(&params, "portcullis-dummy-password", &WorkingMemory::new(0))?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            memory,
            dummy_hash,
        })
    }
}

/// Allocations of at least this size are always served by glibc with a
/// mapping of their own and given back with `munmap` when freed: mallopt(3),
/// `M_MMAP_THRESHOLD`, whose dynamic value never exceeds
/// `DEFAULT_MMAP_THRESHOLD_MAX` (4 MiB × `sizeof(long)`: 32 MiB on 64-bit).
const ALWAYS_MAPPED_BYTES: usize = 32 * 1024 * 1024 + 4096;

/// The argon2 working memory (`count` blocks, 19 MiB with the OWASP
/// parameters) in an allocation glibc maps on its own. The argon2 crate's
/// `vec!` of exactly 19 MiB is, after the first free, served from the heap
/// of the calling thread's arena and kept there: one 19 MiB block per arena
/// (up to 8 per core) stays resident after sign-ins, which a bench showed
/// as 300 MiB. The capacity above `count` is address space only: pages
/// never touched are never resident.
fn working_memory(count: usize) -> Vec<Block> {
    let reserve = count.max(ALWAYS_MAPPED_BYTES / std::mem::size_of::<Block>() + 1);
    let mut blocks = Vec::with_capacity(reserve);
    blocks.resize(count, Block::default());
    blocks
}

/// Reusable argon2 working memory: at most one buffer per hashing permit,
/// so the memory that stays resident after sign-ins is bounded by
/// `PORTCULLIS_PASSWORD_HASH_CONCURRENCY` × `m_cost` and no hash pays for
/// faulting 19 MiB of fresh pages in (a fresh mapping per hash cost about a
/// quarter of the login throughput in scripts/bench). The blocks hold
/// values derived from the password: they are wiped (zeroize) as soon as a
/// hash is done, before the buffer goes back to the pool or is freed.
pub(crate) struct WorkingMemory {
    free: Mutex<Vec<Vec<Block>>>,
    keep: usize,
}

impl WorkingMemory {
    fn new(keep: usize) -> Self {
        Self {
            free: Mutex::new(Vec::with_capacity(keep)),
            keep,
        }
    }

    /// Runs `f` on `count` blocks of a pooled buffer (or a new one).
    fn with<R>(&self, count: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
        let pooled = self.lock().pop().filter(|b| b.len() >= count);
        let mut lease = Lease {
            pool: self,
            buffer: pooled.unwrap_or_else(|| working_memory(count)),
        };
        f(&mut lease.buffer[..count])
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn pooled(&self) -> usize {
        self.lock().len()
    }
}

/// A buffer on loan from [`WorkingMemory`]: wiped when dropped, also when
/// the hash panics, then given back to the pool (or freed when it is full).
struct Lease<'a> {
    pool: &'a WorkingMemory,
    buffer: Vec<Block>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.buffer.iter_mut().for_each(Zeroize::zeroize);
        let mut free = self.pool.lock();
        if free.len() < self.pool.keep {
            free.push(std::mem::take(&mut self.buffer));
        }
    }
}

/// The argon2 output for `password` under the given algorithm, version,
/// parameters and salt, computed in pooled [`WorkingMemory`].
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Salt<'_>,
    password: &[u8],
    memory: &WorkingMemory,
) -> Result<Output, argon2::password_hash::Error> {
    let mut salt_buf = [0u8; Salt::MAX_LENGTH];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let count = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    memory.with(count, |blocks| {
        Output::init_with(len, |out| {
            Ok(argon.hash_password_into_with_memory(password, salt_bytes, out, blocks)?)
        })
    })
}

/// A new PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), as the
/// argon2 crate's `hash_password` writes it.
fn hash_with(
    params: &Params,
    password: &str,
    memory: &WorkingMemory,
) -> Result<String, PasswordError> {
    let internal = |e: argon2::password_hash::Error| PasswordError::Internal(e.to_string());
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let output = compute(
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        salt.as_salt(),
        password.as_bytes(),
        memory,
    )
    .map_err(internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

fn malformed<E>(_: E) -> PasswordError {
    PasswordError::MalformedHash
}

/// Whether `password` matches the PHC string `stored`, with the algorithm,
/// version and parameters recorded in it (what the argon2 crate's
/// `verify_password` does, in pooled [`WorkingMemory`]). The outputs are compared
/// in constant time (`password_hash::Output`'s `PartialEq`).
fn verify_with(
    stored: &str,
    password: &str,
    memory: &WorkingMemory,
) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(stored).map_err(malformed)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(malformed)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(malformed)?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(malformed)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(PasswordError::MalformedHash);
    };
    let params = Params::new(
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        Some(expected.len()),
    )
    .map_err(|e| PasswordError::Internal(e.to_string()))?;
    Ok(compute(
        algorithm,
        version,
        params,
        salt,
        password.as_bytes(),
        memory,
    )
    .is_ok_and(|computed| computed == expected))
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| PasswordError::Internal(e.to_string()))?;
        let params = self.params.clone();
        let memory = Arc::clone(&self.memory);
        let password = zeroize::Zeroizing::new(password.to_owned());
        tokio::task::spawn_blocking(move || hash_with(&params, &password, &memory))
            .await
            .map_err(|e| PasswordError::Internal(e.to_string()))?
    }

    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| PasswordError::Internal(e.to_string()))?;
        let known = hash.is_some();
        let stored = hash.unwrap_or(&self.dummy_hash).to_owned();
        let memory = Arc::clone(&self.memory);
        let password = zeroize::Zeroizing::new(password.to_owned());
        tokio::task::spawn_blocking(move || Ok(verify_with(&stored, &password, &memory)? && known))
            .await
            .map_err(|e| PasswordError::Internal(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_argon2id_and_verifies() {
        let h = Argon2Hasher::new(Argon2Params::TEST, 2).unwrap();
        let hash = h.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(h.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!h.verify("wrong", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_runs_a_dummy_verification_and_fails() {
        let h = Argon2Hasher::new(Argon2Params::TEST, 2).unwrap();
        assert!(!h.verify("portcullis-dummy-password", None).await.unwrap());
    }

    fn argon(params: &Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
    }

    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Sign-ins on many threads of the blocking pool leave at most one
    /// working buffer per permit resident (glibc would otherwise keep one
    /// 19 MiB block per malloc arena, up to 8 per core: 300 MiB seen in a
    /// bench), and the pool never holds more buffers than permits.
    ///
    /// The resident set is the whole process's: `cargo test` runs the other
    /// tests in the same process, so the measurement runs in a process of
    /// its own (this test binary again, running only this test).
    #[test]
    fn hash_memory_stays_bounded_by_the_permits() {
        const ALONE: &str = "PORTCULLIS_TEST_RSS_ALONE";
        if std::env::var_os(ALONE).is_none() {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "adapters::argon2::tests::hash_memory_stays_bounded_by_the_permits",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(ALONE, "1")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{text}");
            assert!(text.contains("1 passed"), "the measurement ran: {text}");
            return;
        }
        let params = Params::new(19 * 1024, 1, 1, None).unwrap();
        let memory = Arc::new(WorkingMemory::new(1));
        let stored = hash_with(&params, "warm up", &WorkingMemory::new(0)).unwrap();
        let before = rss_kib();
        for i in 0..8 {
            let (p, stored, memory) = (params.clone(), stored.clone(), memory.clone());
            std::thread::spawn(move || {
                hash_with(&p, &format!("password {i}"), &memory).unwrap();
                assert!(!verify_with(&stored, "wrong", &memory).unwrap());
            })
            .join()
            .unwrap();
        }
        let grown_mib = rss_kib().saturating_sub(before) / 1024;
        assert!(grown_mib < 19 + 7, "resident set grew by {grown_mib} MiB");
        assert_eq!(memory.pooled(), 1);
        let two: Vec<_> = (0..2)
            .map(|_| {
                let (p, memory) = (params.clone(), memory.clone());
                std::thread::spawn(move || hash_with(&p, "x", &memory).unwrap())
            })
            .collect();
        for t in two {
            t.join().unwrap();
        }
        assert_eq!(memory.pooled(), 1, "never more buffers than permits");
    }

    /// Hashes made here verify with the argon2 crate's own verifier and the
    /// other way round (stored hashes stay valid across this change).
    #[test]
    fn hashes_are_standard_phc_strings() {
        use argon2::PasswordHasher as _;
        use argon2::PasswordVerifier as _;
        let params = Params::new(1024, 1, 1, None).unwrap();
        let memory = WorkingMemory::new(1);
        let ours = hash_with(&params, "pw one", &memory).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"pw one", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"pw two", &parsed)
                .is_err()
        );
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let theirs = argon(&params)
            .hash_password(b"pw two", &salt)
            .unwrap()
            .to_string();
        assert!(verify_with(&theirs, "pw two", &memory).unwrap());
        assert!(!verify_with(&theirs, "pw one", &memory).unwrap());
        assert!(matches!(
            verify_with("not a PHC string", "x", &memory),
            Err(PasswordError::MalformedHash)
        ));
    }

    /// Building a hasher (which computes the dummy hash) leaves no working
    /// buffer behind: the idle server stays small.
    #[test]
    fn a_new_hasher_holds_no_working_memory() {
        let h = Argon2Hasher::new(Argon2Params::OWASP, 2).unwrap();
        assert_eq!(h.memory.pooled(), 0);
    }

    /// A released buffer holds nothing derived from the password: the pooled
    /// one is all zeros once the hash is done.
    #[test]
    fn released_working_memory_is_wiped() {
        let params = Params::new(1024, 1, 1, None).unwrap();
        let memory = WorkingMemory::new(1);
        hash_with(&params, "a secret password", &memory).unwrap();
        let free = memory.lock();
        assert_eq!(free.len(), 1);
        let used = params.block_count();
        assert!(free[0].len() >= used);
        assert!(
            free[0].iter().all(|b| b.as_ref().iter().all(|w| *w == 0)),
            "a pooled argon2 buffer still holds the last hash's blocks"
        );
    }

    #[test]
    fn working_memory_is_wiped_when_the_hash_panics() {
        let memory = WorkingMemory::new(1);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            memory.with(8, |blocks| {
                for b in blocks.iter_mut() {
                    b.as_mut().fill(0xdead_beef);
                }
                panic!("hashing failed half-way");
            })
        }));
        assert!(unwound.is_err());
        let free = memory.lock();
        assert_eq!(free.len(), 1, "the buffer went back to the pool");
        assert!(
            free[0].iter().all(|b| b.as_ref().iter().all(|w| *w == 0)),
            "a buffer left by a panicking hash still holds its blocks"
        );
    }

    #[test]
    fn owasp_parameters_are_at_least_the_recommended_minimum() {
        let p = Argon2Params::OWASP;
        assert!(p.memory_kib >= 19 * 1024 && p.iterations >= 2);
    }
}
