//! DPoP (RFC 9449, OAuth 2.0 Demonstrating Proof of Possession): the one
//! home of proof verification, for the token endpoint (§5), the protected
//! resources (§7, through [`super::resource::validate_presented`]) and the
//! pushed authorization endpoint (§10.1, [`verify_proof`] with `POST` and
//! the issuer's `/par`).
//!
//! A proof is a JWS (§4.2) whose header names its own public key (`jwk`),
//! over claims that tie it to one HTTP request (`htm`, `htu`), one moment
//! (`iat`), one use (`jti`), and, at a resource, one access token (`ath`).
//! Checked here (§4.3, in this order; the RFC allows any):
//!
//! 1. exactly one `DPoP` header (item 1), a compact JWS (item 2);
//! 2. `typ` `dpop+jwt` (item 4); `alg` in [`ALGS`], never `none` or a MAC
//!    (item 5);
//! 3. `jwk` a public key (no private member, item 7) whose `kty` is the
//!    one of `alg`; the signature verifies with it (item 6);
//! 4. `jti` (bounded length), `htm` = the request method (item 8), `htu` =
//!    the request URI without query and fragment, compared after RFC 3986
//!    §6.2.2–6.2.3 normalization (item 9), built from the issuer and the
//!    endpoint path, never from the `Host` header;
//! 5. `iat` within the window (item 11): not older than
//!    `PORTCULLIS_DPOP_PROOF_WINDOW_SECS`, not later than now plus
//!    [`CLOCK_SKEW`];
//! 6. `ath` = base64url(SHA-256(access token)) at a resource (item 12);
//! 7. with `PORTCULLIS_DPOP_NONCE`, `nonce` = a nonce we issued (item 10,
//!    §8): stateless, [`nonce`] / `check_nonce`;
//! 8. replay (§11.1): each `jti` is used once per key while the proof
//!    could be accepted ([`record_use`]: one insert-once in the
//!    revoked-token table, as client assertions are).
//!
//! The key's JWK SHA-256 thumbprint (RFC 7638, [`thumbprint`]) is the
//! `jkt` that binds tokens (`cnf.jkt`, RFC 9449 §6.1), codes (`dpop_jkt`,
//! §10) and public clients' refresh tokens (§5).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{KeyInit as _, Mac as _};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::error::{ErrorCode, OAuthError};
use super::jwt;
use crate::domain::{ClientId, RevokedAccessToken};
use crate::ports::{JwsAlg, Store};

/// `dpop_signing_alg_values_supported` (RFC 9449 §5.1): the algorithms a
/// proof may be signed with, in the order discovery and the `algs`
/// challenge parameter (§7.1) list them. `none` and the MAC algorithms are
/// never accepted (§4.3 item 5: asymmetric only).
pub const ALGS: [JwsAlg; 3] = [JwsAlg::Es256, JwsAlg::Ps256, JwsAlg::Rs256];

/// The `typ` of a proof (RFC 9449 §4.2).
pub const TYP: &str = "dpop+jwt";

/// How far in the future a proof's `iat` may be (the client's clock may be
/// ahead of ours; RFC 9449 §11.1 "an acceptable window").
pub const CLOCK_SKEW: Duration = Duration::seconds(30);

/// The longest `jti` accepted, in bytes (RFC 9449 §4.2 wants enough
/// entropy, not a length; a bound keeps the work a bad proof costs small).
pub const MAX_JTI_LEN: usize = 256;

/// The longest RSA modulus of a proof's key, in base64url characters (4096
/// bits: 512 bytes).
const MAX_RSA_MODULUS_B64: usize = 683;

/// The members of a JWK that belong to a private key (RFC 7518 §6.2.2,
/// §6.3.2, §6.4.1): a proof's `jwk` must have none (RFC 9449 §4.3 item 7).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The label of the nonce MAC (a key derived for nonces only).
const NONCE_LABEL: &[u8] = b"portcullis dpop nonce v1\0";

/// The key of server nonces (RFC 9449 §8): 32 bytes derived from the
/// server's session key (`factory::token_settings`), so that every
/// instance sharing the session key accepts the others' nonces.
#[derive(Clone)]
pub struct NonceKey(Zeroizing<[u8; 32]>);

impl NonceKey {
    /// Wraps key material.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }
}

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

/// DPoP settings, from configuration.
#[derive(Debug, Clone)]
pub struct DpopSettings {
    /// `PORTCULLIS_DPOP_PROOF_WINDOW_SECS`: how old a proof's `iat` may be;
    /// also the lifetime of a nonce's time slot.
    pub window: Duration,
    /// `PORTCULLIS_DPOP_NONCE`: when set, every proof must carry a nonce
    /// we issued (§8); `None`: nonces are off.
    pub nonce_key: Option<NonceKey>,
}

impl Default for DpopSettings {
    fn default() -> Self {
        Self {
            window: Duration::seconds(60),
            nonce_key: None,
        }
    }
}

/// What the proof must be for: the request it came with.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// `htm`: the request method (`POST` at the token endpoint).
    pub method: &'a str,
    /// `htu`: the endpoint's URL (the issuer and the endpoint path).
    pub uri: &'a str,
    /// The access token presented with the proof (at a resource): `ath`
    /// must be its hash. `None` at the token endpoint.
    pub access_token: Option<&'a str>,
}

/// A proof that passed every check of §4.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 JWK SHA-256 thumbprint of its key (base64url, 43
    /// characters).
    pub jkt: String,
    /// Its `jti`.
    pub jti: String,
    /// Its `iat`.
    pub iat: DateTime<Utc>,
    /// Its `alg` (a FAPI 2.0 client may use only PS256 or ES256).
    pub alg: &'static str,
}

/// `invalid_dpop_proof` (RFC 9449 §5, §7.1).
pub fn invalid(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, description)
}

/// `use_dpop_nonce` (RFC 9449 §8, §9).
fn use_nonce(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::UseDpopNonce, description)
}

/// The pure checks of a request's `DPoP` header values (every value of
/// every `DPoP` field, in order; a value that is not text is given as an
/// empty string): `Ok(None)` when there is none, the checked proof, or
/// `invalid_dpop_proof` / `use_dpop_nonce`. The replay check is
/// [`record_use`].
pub fn check(
    headers: &[&str],
    expected: &Expected<'_>,
    settings: &DpopSettings,
    now: DateTime<Utc>,
) -> Result<Option<Proof>, OAuthError> {
    let proof = match headers {
        [] => return Ok(None),
        [one] => *one,
        // §4.3 item 1: "not more than one DPoP HTTP request header field".
        _ => return Err(invalid("send exactly one DPoP header")),
    };
    // §4.3 item 2: a single, well-formed JWT (our one JWS reader; it bounds
    // the size and refuses a JWE).
    let (header, claims) =
        jwt::split_compact(proof.trim()).ok_or_else(|| invalid("the DPoP proof is not a JWS"))?;
    let (Value::Object(header), Value::Object(claims)) = (header, claims) else {
        return Err(invalid("the DPoP proof is not a JWS"));
    };
    // §4.3 item 4.
    if header.get("typ").and_then(Value::as_str) != Some(TYP) {
        return Err(invalid("the DPoP proof's typ must be dpop+jwt"));
    }
    // §4.3 item 5: asymmetric, supported, never none or a MAC.
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(|a| ALGS.into_iter().find(|x| x.as_str() == a))
        .ok_or_else(|| invalid("the DPoP proof's alg must be ES256, PS256 or RS256"))?;
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err(invalid("the DPoP proof has no jwk header"));
    };
    // §4.3 item 7.
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(invalid("the DPoP proof's jwk must be a public key"));
    }
    if jwk.get("kty").and_then(Value::as_str) != Some(alg.key_type()) {
        return Err(invalid("the DPoP proof's jwk does not fit its alg"));
    }
    // The proof's key is the sender's choice and is checked before any
    // token: an RSA modulus above 4096 bits or an exponent other than
    // 65537 would let anyone make every request cost a slow verification.
    if alg.key_type() == "RSA"
        && (jwk.get("e").and_then(Value::as_str) != Some("AQAB")
            || jwk
                .get("n")
                .and_then(Value::as_str)
                .is_none_or(|n| n.len() > MAX_RSA_MODULUS_B64))
    {
        return Err(invalid(
            "the DPoP proof's RSA key must have e=65537 and at most 4096 bits",
        ));
    }
    let jkt = thumbprint(jwk).ok_or_else(|| invalid("the DPoP proof's jwk is malformed"))?;
    // §4.3 item 6.
    verify_signature(proof.trim(), alg, jwk)?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    // §4.2: jti, htm, htu, iat are required.
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
        .ok_or_else(|| invalid("the DPoP proof needs a jti of at most 256 bytes"))?;
    // §4.3 item 8: the method, exactly (methods are case-sensitive, RFC
    // 9110 §9.1).
    if text("htm") != Some(expected.method) {
        return Err(invalid("the DPoP proof's htm is not the request method"));
    }
    // §4.3 item 9.
    let htu = text("htu").ok_or_else(|| invalid("the DPoP proof has no htu"))?;
    if !same_target(htu, expected.uri) {
        return Err(invalid("the DPoP proof's htu is not this endpoint"));
    }
    // §4.3 item 11, §11.1.
    let iat = claims
        .get("iat")
        .and_then(jwt::numeric_date)
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .ok_or_else(|| invalid("the DPoP proof needs a numeric iat"))?;
    if iat < now - settings.window {
        return Err(invalid("the DPoP proof is too old (iat)"));
    }
    if iat > now + CLOCK_SKEW {
        return Err(invalid("the DPoP proof was issued in the future (iat)"));
    }
    // §4.3 item 12 (the key match is the caller's: it knows the token).
    if let Some(token) = expected.access_token
        && text("ath") != Some(ath(token).as_str())
    {
        return Err(invalid(
            "the DPoP proof's ath is not the hash of the access token",
        ));
    }
    // §4.3 item 10, §8: last, so that a client is asked for a nonce only
    // for an otherwise good proof.
    if let Some(key) = &settings.nonce_key {
        match claims.get("nonce") {
            None => return Err(use_nonce("a DPoP nonce is required: use DPoP-Nonce")),
            Some(Value::String(n)) if check_nonce(key, settings.window, n, now) => {}
            Some(_) => {
                return Err(use_nonce(
                    "the DPoP nonce is not current: use the new DPoP-Nonce",
                ));
            }
        }
    }
    Ok(Some(Proof {
        jkt,
        jti: jti.to_owned(),
        iat,
        alg: alg.as_str(),
    }))
}

/// Verifies the proof's signature with its own `jwk` (josekit checks the
/// header's `alg` against the verifier too).
fn verify_signature(proof: &str, alg: JwsAlg, jwk: &Map<String, Value>) -> Result<(), OAuthError> {
    let bad = || invalid("the DPoP proof's signature does not verify with its jwk");
    let key = josekit::jwk::Jwk::from_map(jwk.clone()).map_err(|_| bad())?;
    let verified = match alg {
        JwsAlg::Es256 => josekit::jws::ES256
            .verifier_from_jwk(&key)
            .map(|v| josekit::jws::deserialize_compact(proof, &v)),
        JwsAlg::Ps256 => josekit::jws::PS256
            .verifier_from_jwk(&key)
            .map(|v| josekit::jws::deserialize_compact(proof, &v)),
        JwsAlg::Rs256 => josekit::jws::RS256
            .verifier_from_jwk(&key)
            .map(|v| josekit::jws::deserialize_compact(proof, &v)),
    };
    match verified {
        Ok(Ok(_)) => Ok(()),
        _ => Err(bad()),
    }
}

/// Remembers the proof's `jti` for its key until the proof could no longer
/// be accepted (its `iat` plus the window), in ONE unique insert
/// (docs/SECURITY.md invariant 15): of parallel requests carrying the
/// same proof exactly one inserts it; every other one is a replay (RFC
/// 9449 §11.1). `client` is the client the proof was used for (the row's
/// owner, for the operator's view).
pub async fn record_use(
    store: &dyn Store,
    proof: &Proof,
    client: &ClientId,
    settings: &DpopSettings,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    let first_use = store
        .revoked_tokens()
        .insert_revoked_token_once(&RevokedAccessToken {
            jti: replay_key(&proof.jkt, &proof.jti),
            client_id: client.clone(),
            revoked_at: now,
            expires_at: proof.iat + settings.window,
        })
        .await?;
    if first_use {
        Ok(())
    } else {
        Err(invalid("the DPoP proof was already used (jti)"))
    }
}

/// [`check`] and [`record_use`]: the whole verification of a request's
/// proof for a client (the token endpoint, `/par`). `Ok(None)`: the request
/// has no `DPoP` header.
pub async fn verify_proof(
    store: &dyn Store,
    settings: &DpopSettings,
    client: &ClientId,
    headers: &[&str],
    expected: &Expected<'_>,
    now: DateTime<Utc>,
) -> Result<Option<Proof>, OAuthError> {
    let Some(proof) = check(headers, expected, settings, now)? else {
        return Ok(None);
    };
    record_use(store, &proof, client, settings, now).await?;
    Ok(Some(proof))
}

/// The key under which a used proof is remembered in the revoked-token
/// table: `dpop:` and the unpadded base64url SHA-256 of the thumbprint, a
/// space and the `jti` (48 characters whatever the `jti`, within the
/// table's 64-character key; a thumbprint has no space, so distinct pairs
/// hash distinct inputs; the `:` keeps it apart from access-token `jti`s).
fn replay_key(jkt: &str, jti: &str) -> String {
    let digest = Sha256::new()
        .chain_update(jkt.as_bytes())
        .chain_update(b" ")
        .chain_update(jti.as_bytes())
        .finalize();
    format!("dpop:{}", URL_SAFE_NO_PAD.encode(digest))
}

/// A bound grant (a code with `dpop_jkt`, a public client's refresh token)
/// needs a proof of its key. No proof: `invalid_dpop_proof`; a proof of
/// another key: `invalid_grant` (RFC 9449 §5 and §10 say "reject" without
/// naming the code; the proof itself is valid, the grant is not for it, as
/// node-oidc-provider answers). `None` bound: anything goes.
pub fn require_key(
    bound: Option<&str>,
    proof: Option<&Proof>,
    what: &'static str,
) -> Result<(), OAuthError> {
    match (bound, proof) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            format!("the {what} is bound to a DPoP key: send a DPoP proof of that key"),
        )),
        (Some(jkt), Some(p)) if p.jkt == jkt => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant(format!(
            "the {what} is bound to another DPoP key"
        ))),
    }
}

/// The RFC 7638 JWK SHA-256 thumbprint of a public key: the required
/// members only (EC: `crv`, `kty`, `x`, `y`; RSA: `e`, `kty`, `n`), in
/// lexicographic order, no whitespace, SHA-256, base64url without
/// padding. `None` for another key type or a member that is missing or not
/// a string.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, name) in members.iter().enumerate() {
        let value = jwk.get(*name)?.as_str()?;
        if i > 0 {
            canonical.push(',');
        }
        // serde_json writes a JSON string with the escapes RFC 7638 §3.3
        // wants (none, for base64url text).
        canonical.push_str(&serde_json::to_string(name).ok()?);
        canonical.push(':');
        canonical.push_str(&serde_json::to_string(value).ok()?);
    }
    canonical.push('}');
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

/// `ath` (RFC 9449 §4.2): base64url of the SHA-256 of the access token's
/// ASCII text.
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// Whether `value` is a JWK SHA-256 thumbprint as `dpop_jkt` carries it
/// (RFC 9449 §10): 43 base64url characters, no padding, 32 bytes.
pub fn is_jkt(value: &str) -> bool {
    value.len() == 43
        && URL_SAFE_NO_PAD
            .decode(value)
            .is_ok_and(|bytes| bytes.len() == 32)
}

/// Whether the proof's `htu` names `expected` (RFC 9449 §4.3 item 9): both
/// parsed as absolute http(s) URLs, normalized as RFC 3986 §6.2.2–6.2.3 say
/// (case of scheme and host, default port, dot segments, an empty path as
/// `/`; the WHATWG parser of the `url` crate does this), without query and
/// fragment, then compared.
fn same_target(htu: &str, expected: &str) -> bool {
    fn normalized(s: &str) -> Option<String> {
        let mut u = url::Url::parse(s).ok()?;
        if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
            return None;
        }
        u.set_query(None);
        u.set_fragment(None);
        Some(u.into())
    }
    match (normalized(htu), normalized(expected)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The MAC of a nonce's time slot.
fn nonce_mac(key: &NonceKey, slot: i64) -> Option<[u8; 32]> {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&key.0[..]).ok()?;
    mac.update(NONCE_LABEL);
    mac.update(&slot.to_be_bytes());
    Some(mac.finalize().into_bytes().into())
}

/// The time slot of `now` for nonces `window` long.
fn slot(window: Duration, now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(window.num_seconds().max(1))
}

/// The current server nonce (RFC 9449 §8), when nonces are on: base64url
/// of the time slot (8 bytes, big-endian) and the first 16 bytes of its
/// HMAC-SHA-256 under the nonce key. Stateless: [`check`] accepts the
/// nonce of the current and of the previous slot, so a nonce lives one to
/// two windows. Sent in `DPoP-Nonce` on the responses of the token
/// endpoint and of `/userinfo`.
pub fn nonce(settings: &DpopSettings, now: DateTime<Utc>) -> Option<String> {
    let key = settings.nonce_key.as_ref()?;
    let slot = slot(settings.window, now);
    let mac = nonce_mac(key, slot)?;
    let mut bytes = slot.to_be_bytes().to_vec();
    bytes.extend_from_slice(&mac[..16]);
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `nonce` is one [`nonce`] gave in the current or the previous
/// time slot (the MAC compared in constant time).
fn check_nonce(key: &NonceKey, window: Duration, nonce: &str, now: DateTime<Utc>) -> bool {
    use subtle::ConstantTimeEq as _;
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
        return false;
    };
    if bytes.len() != 24 {
        return false;
    }
    let (slot_bytes, tag) = bytes.split_at(8);
    let Ok(slot_bytes) = <[u8; 8]>::try_from(slot_bytes) else {
        return false;
    };
    let given = i64::from_be_bytes(slot_bytes);
    let current = slot(window, now);
    if given != current && given != current - 1 {
        return false;
    }
    nonce_mac(key, given).is_some_and(|mac| bool::from(mac[..16].ct_eq(tag)))
}

/// The `algs` parameter of a `DPoP` challenge (RFC 9449 §7.1): [`ALGS`],
/// space-separated.
pub fn challenge_algs() -> String {
    ALGS.map(JwsAlg::as_str).join(" ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_rfc_7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn a_thumbprint_takes_the_required_members_only() {
        let base = json!({"kty": "EC", "crv": "P-256", "x": "abc", "y": "def"});
        let mut extra = base.clone();
        extra["kid"] = json!("k1");
        extra["use"] = json!("sig");
        let t = thumbprint(base.as_object().unwrap()).unwrap();
        assert_eq!(thumbprint(extra.as_object().unwrap()).unwrap(), t);
        assert_eq!(t.len(), 43);
        assert!(is_jkt(&t));
        let mut missing = base.clone();
        missing.as_object_mut().unwrap().remove("y");
        assert_eq!(thumbprint(missing.as_object().unwrap()), None);
        assert_eq!(
            thumbprint(json!({"kty": "oct", "k": "x"}).as_object().unwrap()),
            None
        );
        assert_eq!(
            thumbprint(
                json!({"kty": "EC", "crv": "P-256", "x": 1, "y": "d"})
                    .as_object()
                    .unwrap()
            ),
            None
        );
    }

    #[test]
    fn ath_is_the_rfc_9449_example() {
        // RFC 9449 §7.1: the access token of the example request and its
        // ath.
        assert_eq!(
            ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn dpop_jkt_is_43_base64url_characters() {
        assert!(is_jkt("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"));
        for bad in [
            "",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9X",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs=",
            "NzbLsXh8uDCcd+6MNwXF4W/7noWXFZAfHkxZsRGC9Xs",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs0",
        ] {
            assert!(!is_jkt(bad), "{bad}");
        }
    }

    #[test]
    fn htu_is_compared_after_normalization() {
        let want = "https://as.example/token";
        for (htu, ok) in [
            ("https://as.example/token", true),
            ("HTTPS://AS.EXAMPLE/token", true),
            ("https://as.example:443/token", true),
            ("https://as.example/token?x=1", true),
            ("https://as.example/token#frag", true),
            ("https://as.example/a/../token", true),
            ("https://as.example/Token", false),
            ("https://as.example/token/", false),
            ("http://as.example/token", false),
            ("https://as.example:8443/token", false),
            ("https://other.example/token", false),
            ("/token", false),
            ("urn:x:token", false),
            ("", false),
        ] {
            assert_eq!(same_target(htu, want), ok, "{htu}");
        }
        assert!(same_target(
            "http://127.0.0.1:8080/token",
            "http://127.0.0.1:8080/token"
        ));
        assert!(same_target("https://as.example", "https://as.example/"));
    }

    fn settings(nonces: bool) -> DpopSettings {
        DpopSettings {
            window: Duration::seconds(60),
            nonce_key: nonces.then(|| NonceKey::new([7; 32])),
        }
    }

    #[test]
    fn nonces_live_for_the_current_and_the_previous_slot() {
        let s = settings(true);
        let key = s.nonce_key.clone().unwrap();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let n = nonce(&s, t0).unwrap();
        assert_eq!(n.len(), 32);
        assert!(check_nonce(&key, s.window, &n, t0));
        assert!(check_nonce(&key, s.window, &n, t0 + Duration::seconds(60)));
        assert!(!check_nonce(
            &key,
            s.window,
            &n,
            t0 + Duration::seconds(120)
        ));
        assert!(
            !check_nonce(&key, s.window, &n, t0 - Duration::seconds(60)),
            "a nonce of the future"
        );
        let other = NonceKey::new([8; 32]);
        assert!(!check_nonce(&other, s.window, &n, t0), "another key");
        let mut bytes = URL_SAFE_NO_PAD.decode(&n).unwrap();
        bytes[23] ^= 1;
        assert!(!check_nonce(
            &key,
            s.window,
            &URL_SAFE_NO_PAD.encode(&bytes),
            t0
        ));
        for garbage in ["", "!!", "AAAA", &"A".repeat(32)] {
            assert!(!check_nonce(&key, s.window, garbage, t0), "{garbage}");
        }
        assert_eq!(nonce(&settings(false), t0), None, "off");
    }

    #[test]
    fn header_count_and_shape() {
        let s = settings(false);
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let e = Expected {
            method: "POST",
            uri: "https://as.example/token",
            access_token: None,
        };
        assert_eq!(check(&[], &e, &s, now).unwrap(), None);
        for headers in [vec!["a.b.c", "a.b.c"], vec![""], vec!["not a jwt"]] {
            assert_eq!(
                check(&headers, &e, &s, now).unwrap_err().code,
                ErrorCode::InvalidDpopProof,
                "{headers:?}"
            );
        }
    }

    #[test]
    fn a_bound_grant_needs_a_proof_of_its_key() {
        let p = Proof {
            jkt: "k1".into(),
            jti: "j".into(),
            iat: Utc::now(),
            alg: "ES256",
        };
        assert!(require_key(None, None, "code").is_ok());
        assert!(require_key(None, Some(&p), "code").is_ok());
        assert!(require_key(Some("k1"), Some(&p), "code").is_ok());
        assert_eq!(
            require_key(Some("k1"), None, "code").unwrap_err().code,
            ErrorCode::InvalidDpopProof
        );
        assert_eq!(
            require_key(Some("k2"), Some(&p), "code").unwrap_err().code,
            ErrorCode::InvalidGrant
        );
    }

    #[test]
    fn the_replay_key_fits_the_table_and_has_its_own_domain() {
        let a = replay_key("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "j1");
        let b = replay_key(
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
            &"j".repeat(256),
        );
        let c = replay_key("other", "j1");
        for k in [&a, &b, &c] {
            assert_eq!(k.len(), 48);
            assert!(k.starts_with("dpop:"));
        }
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn the_challenge_lists_the_algorithms() {
        assert_eq!(challenge_algs(), "ES256 PS256 RS256");
    }
}
