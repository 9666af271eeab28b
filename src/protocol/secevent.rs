//! Security Event Tokens (RFC 8417) for the security alerts
//! (docs/EVENTS.md, "Security alerts"): the claims of a SET carrying one
//! high-severity event, and its JOSE header type. Signed through the
//! `KeyProvider` port (`Signer::sign_jwt`, the one signing path of logout
//! tokens and ID tokens too) by [`crate::app::alerts`].

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::domain::alert::AlertType;
use crate::domain::event::Event;
use crate::ports::JwsAlg;

/// The `typ` header of a SET (RFC 8417 §2.3: explicit typing, so that a
/// SET is never taken for another kind of JWT).
pub const SECEVENT_TYP: &str = "secevent+jwt";

/// The algorithm alerts are signed with: RS256 when it is one we sign
/// with (the one every JOSE library verifies), else the first we have.
pub fn alg(signing: &[JwsAlg]) -> JwsAlg {
    if signing.contains(&JwsAlg::Rs256) {
        JwsAlg::Rs256
    } else {
        signing.first().copied().unwrap_or(JwsAlg::Rs256)
    }
}

/// Signs `claims` as a SET (`typ` [`SECEVENT_TYP`], the algorithm of
/// [`alg`]): the one way the security alerts and the Shared Signals SETs
/// are signed.
pub async fn sign(
    keys: &dyn crate::ports::KeyProvider,
    claims: &Map<String, Value>,
) -> Result<String, crate::ports::KeyError> {
    keys.sign_jwt(alg(&keys.signing_algs()), SECEVENT_TYP, claims)
        .await
}

/// The envelope every SET of ours starts with (RFC 8417 §2.2): `iss`,
/// `iat` (`now`), `jti`, and `aud` when there is one. The security alerts
/// ([`set_claims`]) and the Shared Signals SETs (`protocol::ssf`) add
/// their events to it.
pub fn envelope(
    issuer: &str,
    audience: Option<&str>,
    jti: &str,
    now: DateTime<Utc>,
) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("iss".into(), json!(issuer));
    c.insert("iat".into(), json!(now.timestamp()));
    c.insert("jti".into(), json!(jti));
    if let Some(aud) = audience {
        c.insert("aud".into(), json!(aud));
    }
    c
}

/// The claims of the SET for `event` raising `alert` (RFC 8417 §2.2):
///
/// - `iss`: our issuer; `iat`: `now` (when the SET is made: it is signed
///   afresh at each attempt); `jti`: the alert's id (`app::alerts::delivery_id`:
///   the event id, or the lockout window's id of an `account-locked`
///   alert), the same at every attempt, so that a receiver can tell a
///   retry from a new alert;
/// - `aud`: when `audience` is configured;
/// - `toe` (time of event): when the event happened;
/// - `txn`: the request id of the request that caused it, when known;
/// - `events`: one member, the alert's event type URI, whose value is the
///   event as stored (docs/EVENTS.md field list; redacted, never a secret).
///
/// No `exp` (RFC 8417 §2.2 does not require one; the receiver is a queue).
pub fn set_claims(
    issuer: &str,
    audience: Option<&str>,
    jti: &str,
    alert: AlertType,
    event: &Event,
    now: DateTime<Utc>,
) -> Map<String, Value> {
    let mut c = envelope(issuer, audience, jti, now);
    c.insert("toe".into(), json!(event.occurred_at().timestamp()));
    if let Some(txn) = event.request_id() {
        c.insert("txn".into(), json!(txn));
    }
    let payload = serde_json::to_value(event).unwrap_or_else(|_| json!({}));
    let mut events = Map::new();
    events.insert(alert.uri(), payload);
    c.insert("events".into(), Value::Object(events));
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClientId;
    use crate::domain::event::EventStamp;

    fn event() -> Event {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Event::refresh_token_reuse_detected(
            EventStamp::new(at, [1; EventStamp::RANDOM_BYTES]),
            &ClientId::parse("app").unwrap(),
        )
    }

    /// RFC 8417 §2.2: `iss`, `iat`, `jti`, `events` always; `aud` only when
    /// configured; one event keyed by its type URI.
    #[test]
    fn claims_follow_rfc_8417() {
        let e = event();
        let now = DateTime::from_timestamp(1_700_000_060, 0).unwrap();
        let c = set_claims(
            "https://id.example",
            None,
            &e.event_id().to_string(),
            AlertType::RefreshTokenReuse,
            &e,
            now,
        );
        assert_eq!(c["iss"], "https://id.example");
        assert_eq!(c["iat"], 1_700_000_060);
        assert_eq!(c["toe"], 1_700_000_000);
        assert_eq!(c["jti"], e.event_id().to_string());
        assert!(!c.contains_key("aud"));
        assert!(!c.contains_key("exp"));
        let events = c["events"].as_object().unwrap();
        assert_eq!(events.len(), 1);
        let payload = &events["https://portcullis.dev/secevent/refresh-token-reuse"];
        assert_eq!(payload["kind"], "refresh_token_reuse_detected");
        assert_eq!(payload["client_id"], "app");
        let with_aud = set_claims(
            "https://id.example",
            Some("soc"),
            "an-alert-id",
            AlertType::RefreshTokenReuse,
            &e,
            now,
        );
        assert_eq!(with_aud["aud"], "soc");
    }

    #[test]
    fn alerts_prefer_rs256() {
        assert_eq!(alg(&[JwsAlg::Es256, JwsAlg::Rs256]), JwsAlg::Rs256);
        assert_eq!(alg(&[JwsAlg::Es256]), JwsAlg::Es256);
    }
}
