//! The second factors' rules (docs/MFA.md): TOTP verification (RFC 6238,
//! one step of drift, a step used once), recovery codes (single use, by
//! SHA-256), and whether a user owes a second factor. The login flow
//! (`protocol::interaction`) and the account page (`app::totp`) both call
//! these; throttling is the caller's (`interaction`).

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq as _;
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

use super::error::OAuthError;
use crate::domain::mfa::FactorKind;
use crate::domain::{TokenHash, UserId};
use crate::ports::{Repositories, Rng, SecretBox, SecretError};

/// Digits of a TOTP code (RFC 6238 default; what authenticator apps show).
pub const TOTP_DIGITS: usize = 6;
/// Seconds per TOTP time step (RFC 6238 §4.1 `X`, default 30).
pub const TOTP_STEP_SECS: i64 = 30;
/// Steps of clock drift accepted either side of now (RFC 6238 §5.2).
pub const TOTP_DRIFT_STEPS: i64 = 1;
/// Bytes of a TOTP secret (160 bits, RFC 4226 §4 R6 recommends this).
pub const TOTP_SECRET_LEN: usize = 20;
/// How many recovery codes a set holds.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// RFC 4648 base32 alphabet, lower-cased: the characters of a recovery
/// code (no 0, 1, 8 or 9 to confuse with o, l, b or g).
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// Characters of a recovery code (without dashes): 60 random bits.
const RECOVERY_CODE_CHARS: usize = 12;

/// The SecretBox context of a TOTP factor's secret: binds the sealed
/// secret to its row.
pub fn totp_context(factor_id: &str) -> String {
    format!("totp:{factor_id}")
}

/// The RFC 6238 time step of `now` (`T = floor((now - T0) / X)`, `T0` = 0).
pub fn time_step(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(TOTP_STEP_SECS)
}

/// RFC 6238 §4 (over RFC 4226 §5.3 HOTP, HMAC-SHA-1): the code of `secret`
/// at time step `step`, `digits` long. Pure; computed by `totp-rs`.
pub fn totp_code(secret: &[u8], step: u64, digits: usize) -> Zeroizing<String> {
    #[allow(clippy::cast_sign_loss)] // TOTP_STEP_SECS is a positive constant.
    let x = TOTP_STEP_SECS as u64;
    let totp = TOTP::new_unchecked(
        Algorithm::SHA1,
        digits,
        0,
        x,
        secret.to_vec(),
        None,
        String::new(),
    );
    Zeroizing::new(totp.generate(step.saturating_mul(x)))
}

/// The time step within [`TOTP_DRIFT_STEPS`] of `now_step` whose code is
/// `code` (spaces ignored), if any. Every candidate is compared in constant
/// time, and all are compared, so that timing says nothing about which
/// matched. Does not look at replay: see [`verify_totp`].
pub fn matching_step(secret: &[u8], code: &str, now_step: i64) -> Option<i64> {
    let code: Zeroizing<String> =
        Zeroizing::new(code.chars().filter(|c| !c.is_whitespace()).collect());
    if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut found = None;
    for step in (now_step - TOTP_DRIFT_STEPS)..=(now_step + TOTP_DRIFT_STEPS) {
        let Ok(counter) = u64::try_from(step) else {
            continue;
        };
        let expected = totp_code(secret, counter, TOTP_DIGITS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A secret that does not open is a server fault (or a KMS outage), never
/// the user's.
fn secret_error(e: SecretError) -> OAuthError {
    match e {
        SecretError::Unavailable(_) => OAuthError::temporarily_unavailable(e),
        SecretError::Invalid(_) => OAuthError::server_error(e),
    }
}

/// Whether `user` has a second factor that counts: a confirmed TOTP
/// authenticator or a passkey.
pub async fn has_second_factor(
    store: &dyn Repositories,
    user: &UserId,
) -> Result<bool, OAuthError> {
    Ok(enrolled(store, user).await?.any())
}

/// The kinds of confirmed second factor a user has: the one home of "which
/// factors count" (an unconfirmed TOTP enrolment does not).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enrolled {
    /// A passkey.
    pub passkey: bool,
    /// A confirmed TOTP authenticator.
    pub totp: bool,
}

impl Enrolled {
    /// Any second factor.
    pub fn any(self) -> bool {
        self.passkey || self.totp
    }

    /// The strongest class the user can reach: a passkey gives
    /// [`Acr::PhishingResistant`], TOTP [`Acr::TwoFactor`], nothing the
    /// password alone.
    pub fn reachable(self) -> crate::domain::mfa::Acr {
        use crate::domain::mfa::Acr;
        if self.passkey {
            Acr::PhishingResistant
        } else if self.totp {
            Acr::TwoFactor
        } else {
            Acr::OneFactor
        }
    }
}

/// Which confirmed second factors `user` has.
pub async fn enrolled(
    store: &dyn Repositories,
    user: &UserId,
) -> Result<Enrolled, crate::ports::StoreError> {
    let factors = store.factors().list_factors(user).await?;
    let has = |kind| {
        factors
            .iter()
            .any(|f| f.kind == kind && f.confirmed_at.is_some())
    };
    Ok(Enrolled {
        passkey: has(FactorKind::Passkey),
        totp: has(FactorKind::Totp),
    })
}

/// Verifies a TOTP `code` of `user` at `now` against their confirmed TOTP
/// factor: `true` when it matches a step within one of now and that step is
/// later than the last one accepted (claimed atomically, RFC 6238 §5.2), so
/// that a code is refused for the rest of its window and parallel
/// submissions of one code are accepted once.
pub async fn verify_totp(
    store: &dyn Repositories,
    secrets: &dyn SecretBox,
    user: &UserId,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool, OAuthError> {
    let factors = store.factors().list_factors(user).await?;
    let Some(factor) = factors
        .iter()
        .find(|f| f.kind == FactorKind::Totp && f.confirmed_at.is_some())
    else {
        return Ok(false);
    };
    let Some(sealed) = factor.secret_sealed.as_deref() else {
        return Err(OAuthError::server_error(format!(
            "TOTP factor {} has no secret",
            factor.id
        )));
    };
    let secret = secrets
        .open(&totp_context(&factor.id), sealed)
        .await
        .map_err(secret_error)?;
    let Some(step) = matching_step(&secret, code, time_step(now)) else {
        return Ok(false);
    };
    Ok(store
        .factors()
        .claim_totp_step(&factor.id, step, now)
        .await?)
}

/// A recovery code as typed, normalized: trimmed, lower-cased, spaces and
/// dashes dropped. Its SHA-256 is what is stored.
pub fn normalize_recovery_code(input: &str) -> Zeroizing<String> {
    Zeroizing::new(
        input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_lowercase)
            .collect(),
    )
}

/// Uses a recovery code of `user`: `true` once per code (one conditional
/// update in the store).
pub async fn use_recovery_code(
    store: &dyn Repositories,
    user: &UserId,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool, OAuthError> {
    let code = normalize_recovery_code(code);
    if code.len() != RECOVERY_CODE_CHARS || !code.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)) {
        return Ok(false);
    }
    Ok(store
        .factors()
        .use_recovery_code(user, &TokenHash::of(&code), now)
        .await?)
}

/// A new set of recovery codes: the codes to show once, and their hashes
/// to store.
pub struct RecoveryCodes {
    /// The codes, `xxxx-xxxx-xxxx` (lower-case base32), distinct.
    pub codes: Vec<Zeroizing<String>>,
    /// `TokenHash::of` each normalized code, in the same order.
    pub hashes: Vec<TokenHash>,
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryCodes")
            .field("count", &self.codes.len())
            .finish_non_exhaustive()
    }
}

/// Generates [`RECOVERY_CODE_COUNT`] distinct recovery codes from `rng`.
pub fn generate_recovery_codes(rng: &dyn Rng) -> RecoveryCodes {
    let mut out = RecoveryCodes {
        codes: Vec::with_capacity(RECOVERY_CODE_COUNT),
        hashes: Vec::with_capacity(RECOVERY_CODE_COUNT),
    };
    while out.codes.len() < RECOVERY_CODE_COUNT {
        let mut bytes = Zeroizing::new([0_u8; RECOVERY_CODE_CHARS]);
        rng.fill(bytes.as_mut_slice());
        // 256 is a multiple of 32: no bias.
        let raw: Zeroizing<String> = Zeroizing::new(
            bytes
                .iter()
                .map(|b| char::from(RECOVERY_ALPHABET[usize::from(b % 32)]))
                .collect(),
        );
        let hash = TokenHash::of(&raw);
        if out.hashes.contains(&hash) {
            continue;
        }
        let shown = Zeroizing::new(format!("{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12]));
        out.codes.push(shown);
        out.hashes.push(hash);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SeqRng;

    /// RFC 6238 Appendix B, SHA-1 rows: the seed is the ASCII string
    /// "12345678901234567890", 8 digits.
    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        let seed = b"12345678901234567890";
        for (time, expected) in [
            (59_u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(
                totp_code(seed, time / 30, 8).as_str(),
                expected,
                "T = {time}"
            );
        }
    }

    #[test]
    fn drift_of_one_step_either_side_is_accepted_not_two() {
        let secret = [0x5a_u8; TOTP_SECRET_LEN];
        let now = 1_000_000_i64;
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let step = now + offset;
            let code = totp_code(&secret, u64::try_from(step).unwrap(), TOTP_DIGITS);
            let got = matching_step(&secret, &code, now);
            assert_eq!(
                got,
                accepted.then_some(step),
                "offset {offset}, code {}",
                code.as_str()
            );
        }
    }

    #[test]
    fn malformed_codes_are_refused_and_spaces_ignored() {
        let secret = [1_u8; TOTP_SECRET_LEN];
        let code = totp_code(&secret, 42, TOTP_DIGITS);
        let spaced = format!(" {} {} ", &code[..3], &code[3..]);
        assert_eq!(matching_step(&secret, &spaced, 42), Some(42));
        let longer = format!("{}0", code.as_str());
        for bad in [
            "",
            "12345",
            "abcdef",
            "1234567",
            longer.as_str(),
            &code[..5],
        ] {
            assert_eq!(matching_step(&secret, bad, 42), None, "{bad:?}");
        }
        // Another secret's code does not match.
        assert_eq!(matching_step(&[2_u8; TOTP_SECRET_LEN], &code, 42), None);
    }

    #[test]
    fn time_steps_are_30_seconds() {
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        assert_eq!(time_step(at(0)), 0);
        assert_eq!(time_step(at(29)), 0);
        assert_eq!(time_step(at(30)), 1);
        assert_eq!(time_step(at(59)), 1);
        assert_eq!(time_step(at(1_111_111_109)), 37_037_036);
    }

    #[test]
    fn recovery_codes_are_ten_distinct_base32_codes() {
        let rng = SeqRng::default();
        let set = generate_recovery_codes(&rng);
        assert_eq!(set.codes.len(), RECOVERY_CODE_COUNT);
        assert_eq!(set.hashes.len(), RECOVERY_CODE_COUNT);
        let mut seen = std::collections::HashSet::new();
        for (code, hash) in set.codes.iter().zip(&set.hashes) {
            let parts: Vec<&str> = code.split('-').collect();
            assert_eq!(parts.len(), 3, "{}", code.as_str());
            for part in parts {
                assert_eq!(part.len(), 4);
                assert!(
                    part.bytes()
                        .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)),
                    "{}",
                    code.as_str()
                );
            }
            assert_eq!(&TokenHash::of(&normalize_recovery_code(code)), hash);
            assert!(seen.insert(code.to_string()));
        }
        assert!(!format!("{set:?}").contains(set.codes[0].as_str()));
    }

    #[test]
    fn recovery_codes_are_normalized() {
        for (typed, normalized) in [
            ("abcd-efgh-ijkl", "abcdefghijkl"),
            ("  ABCD-EFGH-IJKL\n", "abcdefghijkl"),
            ("abcd efgh ijkl", "abcdefghijkl"),
            ("ab-cd--ef gh-ij kl", "abcdefghijkl"),
            ("AbCdEfGhIjKl", "abcdefghijkl"),
        ] {
            assert_eq!(
                normalize_recovery_code(typed).as_str(),
                normalized,
                "{typed:?}"
            );
        }
    }

    #[test]
    fn the_context_names_the_factor() {
        assert_eq!(totp_context("f-1"), "totp:f-1");
    }
}
