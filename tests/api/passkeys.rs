//! Passkeys (issue 17, docs/MFA.md): registration on the account page,
//! the sign-in options endpoint, and the ceremony rules of
//! `protocol::passkey` (single use, expiry, origin, challenge, owner), on
//! both back ends.
//!
//! The browser and its authenticator are played by [`SoftAuthenticator`]: a
//! minimal ES256 authenticator written here from the WebAuthn Level 2
//! specification (§6.1 authenticator data, §6.5 attestation object with the
//! "none" format, §5.8.1 client data) over OpenSSL's P-256 ECDSA. It shares
//! no code with the server's adapter (webauthn-rs), so a server that builds
//! or reads the wire format wrongly fails here.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use portcullis::domain::event::{DetailKey, EventKind};
use portcullis::domain::mfa::{CeremonyKind, FactorKind, FactorUsed};
use portcullis::domain::{UserId, Username};
use portcullis::protocol::passkey;
use portcullis::testing::{FixedClock, MemoryEventSink};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::flow::{self, PASSWORD, hidden};
use crate::helpers::{Backend, TestApp, spawn_app_full, test_overrides};

// ---------------------------------------------------------------------------
// A software authenticator (WebAuthn Level 2), with the client's part.
// ---------------------------------------------------------------------------

/// Minimal CBOR (RFC 8949 §3) for the attestation object and COSE key.
mod cbor {
    fn head(out: &mut Vec<u8>, major: u8, len: u64) {
        let m = major << 5;
        if len < 24 {
            out.push(m | u8::try_from(len).unwrap());
        } else if len < 256 {
            out.push(m | 0x18);
            out.push(u8::try_from(len).unwrap());
        } else {
            out.push(m | 0x19);
            out.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
        }
    }
    pub fn int(out: &mut Vec<u8>, v: i64) {
        if v >= 0 {
            head(out, 0, v.unsigned_abs());
        } else {
            head(out, 1, (-1 - v).unsigned_abs());
        }
    }
    pub fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        head(out, 2, b.len() as u64);
        out.extend_from_slice(b);
    }
    pub fn text(out: &mut Vec<u8>, s: &str) {
        head(out, 3, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    pub fn map(out: &mut Vec<u8>, entries: usize) {
        head(out, 5, entries as u64);
    }
}

struct Credential {
    id: Vec<u8>,
    rp_id: String,
    key: PKey<Private>,
    user_handle: Vec<u8>,
    counter: u32,
}

/// What the authenticator and its browser do.
struct SoftAuthenticator {
    /// The origin the "browser" reports in the client data.
    origin: String,
    /// Sets the UV flag (a PIN or biometric was checked).
    user_verification: bool,
    /// Honors `excludeCredentials` (a real client does).
    honor_exclude: bool,
    credentials: Vec<Credential>,
}

fn b64(v: &Value) -> Vec<u8> {
    B64.decode(v.as_str().expect("a base64url string"))
        .expect("base64url")
}

impl SoftAuthenticator {
    fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            user_verification: true,
            honor_exclude: true,
            credentials: Vec::new(),
        }
    }

    fn client_data(&self, kind: &str, challenge: &Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge.as_str().unwrap(),
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    fn flags(&self, attested: bool) -> u8 {
        // §6.1: UP, UV, BE/BS clear (device bound), AT.
        let mut f = 0x01;
        if self.user_verification {
            f |= 0x04;
        }
        if attested {
            f |= 0x40;
        }
        f
    }

    /// `navigator.credentials.create({publicKey})`: the credential JSON.
    fn create(&mut self, public_key: &Value) -> Result<Value, &'static str> {
        let excluded: Vec<Vec<u8>> = public_key["excludeCredentials"]
            .as_array()
            .map(|a| a.iter().map(|c| b64(&c["id"])).collect())
            .unwrap_or_default();
        if self.honor_exclude && self.credentials.iter().any(|c| excluded.contains(&c.id)) {
            return Err("InvalidStateError");
        }
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let ec = EcKey::generate(&group).unwrap();
        let mut id = vec![0_u8; 32];
        openssl::rand::rand_bytes(&mut id).unwrap();
        self.credentials.push(Credential {
            id,
            rp_id: public_key["rp"]["id"].as_str().unwrap().to_owned(),
            key: PKey::from_ec_key(ec).unwrap(),
            user_handle: b64(&public_key["user"]["id"]),
            counter: 0,
        });
        Ok(self.attest(public_key, self.credentials.len() - 1))
    }

    /// The registration answer for credential `index` (a misbehaving
    /// client may offer an existing credential again).
    fn attest(&self, public_key: &Value, index: usize) -> Value {
        let cred = &self.credentials[index];
        let client_data = self.client_data("webauthn.create", &public_key["challenge"]);
        let ec = cred.key.ec_key().unwrap();
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
        ec.public_key()
            .affine_coordinates(&group, &mut x, &mut y, &mut BigNumContext::new().unwrap())
            .unwrap();

        // §5.8.5 COSE_Key: kty EC2, alg ES256, crv P-256, x, y.
        let mut cose = Vec::new();
        cbor::map(&mut cose, 5);
        cbor::int(&mut cose, 1);
        cbor::int(&mut cose, 2);
        cbor::int(&mut cose, 3);
        cbor::int(&mut cose, -7);
        cbor::int(&mut cose, -1);
        cbor::int(&mut cose, 1);
        cbor::int(&mut cose, -2);
        cbor::bytes(&mut cose, &x.to_vec_padded(32).unwrap());
        cbor::int(&mut cose, -3);
        cbor::bytes(&mut cose, &y.to_vec_padded(32).unwrap());

        // §6.1 authenticator data with §6.5.1 attested credential data.
        let mut auth_data = Sha256::digest(cred.rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags(true));
        auth_data.extend_from_slice(&0_u32.to_be_bytes());
        auth_data.extend_from_slice(&[0_u8; 16]); // AAGUID
        auth_data.extend_from_slice(&u16::try_from(cred.id.len()).unwrap().to_be_bytes());
        auth_data.extend_from_slice(&cred.id);
        auth_data.extend_from_slice(&cose);

        // §6.5.4 attestation object, §8.7 "none" format.
        let mut att = Vec::new();
        cbor::map(&mut att, 3);
        cbor::text(&mut att, "fmt");
        cbor::text(&mut att, "none");
        cbor::text(&mut att, "attStmt");
        cbor::map(&mut att, 0);
        cbor::text(&mut att, "authData");
        cbor::bytes(&mut att, &auth_data);

        json!({
            "id": B64.encode(&cred.id),
            "rawId": B64.encode(&cred.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(&client_data),
                "attestationObject": B64.encode(&att),
            },
            "extensions": {},
        })
    }

    /// `navigator.credentials.get({publicKey})` with the credential at
    /// `index` (any credential of this authenticator, whether allowed or
    /// not: a test may play a misbehaving client).
    fn get_with(&mut self, public_key: &Value, index: usize) -> Value {
        let client_data = self.client_data("webauthn.get", &public_key["challenge"]);
        let flags = self.flags(false);
        let cred = &mut self.credentials[index];
        assert_eq!(public_key["rpId"].as_str().unwrap(), cred.rp_id);
        cred.counter += 1;
        let mut auth_data = Sha256::digest(cred.rp_id.as_bytes()).to_vec();
        auth_data.push(flags);
        auth_data.extend_from_slice(&cred.counter.to_be_bytes());
        // §6.3.3 step 11: sign authenticatorData || SHA-256(clientDataJSON).
        let mut signer = Signer::new(MessageDigest::sha256(), &cred.key).unwrap();
        signer.update(&auth_data).unwrap();
        signer.update(&Sha256::digest(&client_data)).unwrap();
        let signature = signer.sign_to_vec().unwrap();
        json!({
            "id": B64.encode(&cred.id),
            "rawId": B64.encode(&cred.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(&client_data),
                "authenticatorData": B64.encode(&auth_data),
                "signature": B64.encode(&signature),
                "userHandle": B64.encode(&cred.user_handle),
            },
            "extensions": {},
        })
    }

    /// `navigator.credentials.get`: the first allowed credential, or (empty
    /// `allowCredentials`: discoverable) the first for the RP.
    fn get(&mut self, public_key: &Value) -> Value {
        let allowed: Vec<Vec<u8>> = public_key["allowCredentials"]
            .as_array()
            .map(|a| a.iter().map(|c| b64(&c["id"])).collect())
            .unwrap_or_default();
        let index = self
            .credentials
            .iter()
            .position(|c| allowed.is_empty() || allowed.contains(&c.id))
            .expect("a usable credential");
        self.get_with(public_key, index)
    }
}

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// A server whose WebAuthn RP is `localhost` at the server's port (browsers
/// refuse an IP address as the RP ID), with recorded events and a clock the
/// test moves.
async fn spawn(backend: Backend) -> (TestApp, Arc<MemoryEventSink>, Arc<FixedClock>) {
    let sink = Arc::new(MemoryEventSink::new());
    let clock = Arc::new(FixedClock::at(chrono::Utc::now()));
    let mut overrides = test_overrides();
    overrides.events = Some(sink.clone());
    overrides.clock = Some(clock.clone());
    let app = spawn_app_full(
        backend,
        |c| {
            let port = url::Url::parse(&c.issuer).unwrap().port().unwrap();
            c.mfa.rp_id = "localhost".into();
            c.mfa.rp_origin = format!("http://localhost:{port}");
            // Longer than a ceremony, so that an expired ceremony is seen
            // before the re-authentication rule.
            c.self_service.account_reauth = chrono::Duration::seconds(900);
        },
        overrides,
    )
    .await;
    (app, sink, clock)
}

fn origin(app: &TestApp) -> String {
    app.state.config.mfa.rp_origin.clone()
}

fn browser() -> reqwest::Client {
    crate::helpers::http_client()
}

/// The CSRF token of the browser's cookie (any hosted page gives it).
async fn csrf(app: &TestApp, http: &reqwest::Client) -> String {
    let html = http
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    hidden(&html, "csrf_token")
}

/// A browser signed in (just now) as a new user `username`.
async fn signed_in(app: &TestApp, username: &str) -> reqwest::Client {
    flow::user(app, username).await;
    let http = browser();
    let token = csrf(app, &http).await;
    let r = http
        .post(app.url("/account/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", username),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    http
}

async fn user_id(app: &TestApp, username: &str) -> UserId {
    app.state
        .store
        .users()
        .user_by_username(&Username::parse(username).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn passkeys_of(app: &TestApp, user: &UserId) -> Vec<portcullis::domain::mfa::Factor> {
    app.state
        .store
        .factors()
        .list_factors(user)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.kind == FactorKind::Passkey)
        .collect()
}

/// POSTs an options endpoint; the status, the Cache-Control and the JSON.
async fn options(
    app: &TestApp,
    http: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, Value) {
    let token = csrf(app, http).await;
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    let r = http.post(app.url(path)).form(&form).send().await.unwrap();
    let status = r.status();
    let cache = r
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "{path}: {ct}");
    (status, cache, r.json().await.unwrap())
}

/// Registration options for the signed-in browser.
async fn create_options(app: &TestApp, http: &reqwest::Client) -> Value {
    let (status, cache, body) = options(app, http, "/account/passkeys/options", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(cache, "no-store");
    assert_eq!(body["ceremony"], "create");
    body
}

/// Posts the registration form.
async fn post_register(
    app: &TestApp,
    http: &reqwest::Client,
    handle: &str,
    credential: &Value,
    name: &str,
) -> reqwest::Response {
    let token = csrf(app, http).await;
    let credential = credential.to_string();
    http.post(app.url("/account/passkeys"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("handle", handle),
            ("credential", credential.as_str()),
            ("name", name),
        ])
        .send()
        .await
        .unwrap()
}

/// Registers a passkey named `name` with `auth`; the response.
async fn register(
    app: &TestApp,
    http: &reqwest::Client,
    auth: &mut SoftAuthenticator,
    name: &str,
) -> reqwest::Response {
    let opts = create_options(app, http).await;
    let cred = auth.create(&opts["publicKey"]).unwrap();
    post_register(app, http, opts["handle"].as_str().unwrap(), &cred, name).await
}

/// Whether a registration succeeded: 303 to the security page, or (the
/// user's first factor) the page that shows the new recovery codes once.
async fn registered(r: reqwest::Response) -> bool {
    match r.status() {
        StatusCode::SEE_OTHER => location(&r) == "/account/security?done=passkey",
        StatusCode::OK => recovery_codes(&r.text().await.unwrap()).len() == 10,
        _ => false,
    }
}

/// The recovery codes a page shows (`xxxx-xxxx-xxxx`, base32 lower case).
fn recovery_codes(html: &str) -> Vec<String> {
    html.split("<code>")
        .skip(1)
        .map(|rest| rest[..rest.find("</code>").unwrap()].to_owned())
        .filter(|c| {
            c.len() == 14
                && c.split('-').count() == 3
                && c.chars()
                    .all(|ch| ch == '-' || matches!(ch, 'a'..='z' | '2'..='7'))
        })
        .collect()
}

fn location(r: &reqwest::Response) -> &str {
    r.headers()["location"].to_str().unwrap()
}

/// A passwordless ceremony started through the protocol.
async fn start(app: &TestApp, kind: CeremonyKind, user: Option<&UserId>) -> passkey::Started {
    let s = &app.state;
    passkey::start_authentication(
        s.store.as_ref(),
        s.webauthn.as_ref(),
        s.rng.as_ref(),
        kind,
        user,
        s.clock.now(),
    )
    .await
    .unwrap()
}

async fn verify(
    app: &TestApp,
    started: &passkey::Started,
    answer: &Value,
    kind: CeremonyKind,
    user: Option<&UserId>,
) -> Option<(UserId, FactorUsed)> {
    let s = &app.state;
    passkey::verify_authentication(
        s.store.as_ref(),
        s.webauthn.as_ref(),
        &started.handle,
        &answer.to_string(),
        kind,
        user,
        s.clock.now(),
    )
    .await
    .unwrap()
}

fn public_key(started: &passkey::Started) -> Value {
    let v: Value = serde_json::from_str(&started.options).unwrap();
    v["publicKey"].clone()
}

// ---------------------------------------------------------------------------
// Registration on the account page
// ---------------------------------------------------------------------------

both_backends!(
    registers_a_discoverable_passkey_with_user_verification,
    |backend| async move {
        let (app, sink, _) = spawn(backend).await;
        let http = signed_in(&app, "alice").await;
        let alice = user_id(&app, "alice").await;

        let opts = create_options(&app, &http).await;
        let pk = &opts["publicKey"];
        assert_eq!(pk["rp"]["id"], "localhost");
        assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(pk["authenticatorSelection"]["requireResidentKey"], true);
        assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
        assert!(B64.decode(pk["challenge"].as_str().unwrap()).unwrap().len() >= 16);
        assert!(opts["handle"].as_str().unwrap().len() >= 43);

        let mut auth = SoftAuthenticator::new(&origin(&app));
        let cred = auth.create(pk).unwrap();
        let r = post_register(
            &app,
            &http,
            opts["handle"].as_str().unwrap(),
            &cred,
            "  My key  ",
        )
        .await;
        // The first factor comes with recovery codes, shown once.
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let html = r.text().await.unwrap();
        let codes = recovery_codes(&html);
        assert_eq!(codes.len(), 10, "{html}");
        assert!(html.contains("/account/security?done=passkey"));
        let factors = app.state.store.factors();
        assert_eq!(factors.recovery_codes_left(&alice).await.unwrap(), 10);

        let keys = passkeys_of(&app, &alice).await;
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].name, "My key");
        assert!(keys[0].confirmed_at.is_some(), "a passkey counts at once");
        assert_eq!(keys[0].credential_id.as_deref(), cred["id"].as_str());
        let enrolled: Vec<_> = sink
            .of_kind(EventKind::MfaEnrolled)
            .iter()
            .map(|e| e.detail_value(DetailKey::Factor).unwrap().to_owned())
            .collect();
        assert_eq!(enrolled, ["passkey", "recovery_codes"]);

        // The second registration is offered with the first excluded, and a
        // blank name is "Passkey".
        let opts = create_options(&app, &http).await;
        let excluded = opts["publicKey"]["excludeCredentials"].as_array().unwrap();
        assert_eq!(excluded.len(), 1);
        assert_eq!(excluded[0]["id"], cred["id"]);
        let mut other = SoftAuthenticator::new(&origin(&app));
        let cred = other.create(&opts["publicKey"]).unwrap();
        let r = post_register(&app, &http, opts["handle"].as_str().unwrap(), &cred, " ").await;
        // Not the first factor: no new codes.
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/account/security?done=passkey");
        assert_eq!(factors.recovery_codes_left(&alice).await.unwrap(), 10);
        let mut names: Vec<String> = passkeys_of(&app, &alice)
            .await
            .into_iter()
            .map(|f| f.name)
            .collect();
        names.sort();
        assert_eq!(names, ["My key", "Passkey"]);
    }
);

both_backends!(
    a_registered_credential_is_not_registered_twice,
    |backend| async move {
        let (app, _, _) = spawn(backend).await;
        let http = signed_in(&app, "alice").await;
        let alice = user_id(&app, "alice").await;
        let mut auth = SoftAuthenticator::new(&origin(&app));
        assert!(registered(register(&app, &http, &mut auth, "one").await).await);

        // A well-behaved client refuses (excludeCredentials) ...
        let opts = create_options(&app, &http).await;
        assert_eq!(
            auth.create(&opts["publicKey"]).unwrap_err(),
            "InvalidStateError"
        );
        // ... one that offers the registered credential again is refused (an
        // excluded credential does not verify).
        let again = auth.attest(&opts["publicKey"], 0);
        let r = post_register(&app, &http, opts["handle"].as_str().unwrap(), &again, "two").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(passkeys_of(&app, &alice).await.len(), 1);

        // Nor can another user register it.
        let bob_http = signed_in(&app, "bob").await;
        let bob = user_id(&app, "bob").await;
        let opts = create_options(&app, &bob_http).await;
        let stolen = auth.attest(&opts["publicKey"], 0);
        let r = post_register(
            &app,
            &bob_http,
            opts["handle"].as_str().unwrap(),
            &stolen,
            "x",
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let html = r.text().await.unwrap();
        assert!(html.contains("already registered"), "{html}");
        assert!(passkeys_of(&app, &bob).await.is_empty());
        assert_eq!(passkeys_of(&app, &alice).await.len(), 1);
    }
);

both_backends!(
    a_registration_ceremony_is_answered_once,
    |backend| async move {
        let (app, _, _) = spawn(backend).await;
        let http = signed_in(&app, "alice").await;
        let alice = user_id(&app, "alice").await;
        let mut auth = SoftAuthenticator::new(&origin(&app));
        let opts = create_options(&app, &http).await;
        let handle = opts["handle"].as_str().unwrap().to_owned();
        let cred = auth.create(&opts["publicKey"]).unwrap();
        assert!(registered(post_register(&app, &http, &handle, &cred, "one").await).await);
        // Replayed: the ceremony is gone.
        let r = post_register(&app, &http, &handle, &cred, "one").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(passkeys_of(&app, &alice).await.len(), 1);

        // Two answers to one ceremony at once (two new credentials): one wins.
        let opts = create_options(&app, &http).await;
        let handle = opts["handle"].as_str().unwrap().to_owned();
        let a = SoftAuthenticator::new(&origin(&app))
            .create(&opts["publicKey"])
            .unwrap();
        let b = SoftAuthenticator::new(&origin(&app))
            .create(&opts["publicKey"])
            .unwrap();
        let (ra, rb) = tokio::join!(
            post_register(&app, &http, &handle, &a, "a"),
            post_register(&app, &http, &handle, &b, "b"),
        );
        let (sa, sb) = (ra.status(), rb.status());
        let ok = usize::from(registered(ra).await) + usize::from(registered(rb).await);
        assert_eq!(ok, 1, "{sa:?} {sb:?}");
        assert_eq!(passkeys_of(&app, &alice).await.len(), 2);
    }
);

both_backends!(
    a_registration_answer_must_match_its_ceremony,
    |backend| async move {
        let (app, _, clock) = spawn(backend).await;
        let http = signed_in(&app, "alice").await;
        let alice = user_id(&app, "alice").await;

        // Another origin (a phishing page) is refused.
        let opts = create_options(&app, &http).await;
        let port = url::Url::parse(&origin(&app)).unwrap().port().unwrap();
        let mut phish = SoftAuthenticator::new(&format!("http://evil.localhost:{port}"));
        let cred = phish.create(&opts["publicKey"]).unwrap();
        let r = post_register(&app, &http, opts["handle"].as_str().unwrap(), &cred, "x").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let html = r.text().await.unwrap();
        assert!(html.contains("not accepted"), "{html}");

        // An answer to another ceremony's challenge is refused.
        let first = create_options(&app, &http).await;
        let second = create_options(&app, &http).await;
        let cred = SoftAuthenticator::new(&origin(&app))
            .create(&first["publicKey"])
            .unwrap();
        let r = post_register(&app, &http, second["handle"].as_str().unwrap(), &cred, "x").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);

        // Without user verification: refused.
        let opts = create_options(&app, &http).await;
        let mut no_uv = SoftAuthenticator::new(&origin(&app));
        no_uv.user_verification = false;
        let cred = no_uv.create(&opts["publicKey"]).unwrap();
        let r = post_register(&app, &http, opts["handle"].as_str().unwrap(), &cred, "x").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);

        // A malformed answer, an unknown handle: refused.
        let r = post_register(&app, &http, "no-such-handle", &json!({"id": 1}), "x").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);

        // After five minutes the ceremony has expired.
        let opts = create_options(&app, &http).await;
        let cred = SoftAuthenticator::new(&origin(&app))
            .create(&opts["publicKey"])
            .unwrap();
        clock.advance(chrono::Duration::seconds(301));
        let r = post_register(&app, &http, opts["handle"].as_str().unwrap(), &cred, "x").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(passkeys_of(&app, &alice).await.is_empty());

        // A name longer than 64 characters is refused, and nothing is stored.
        let http = signed_in(&app, "bob").await;
        let bob = user_id(&app, "bob").await;
        let opts = create_options(&app, &http).await;
        let cred = SoftAuthenticator::new(&origin(&app))
            .create(&opts["publicKey"])
            .unwrap();
        let long = "k".repeat(65);
        let r = post_register(&app, &http, opts["handle"].as_str().unwrap(), &cred, &long).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.text().await.unwrap().contains("64"));
        assert!(passkeys_of(&app, &bob).await.is_empty());
    }
);

both_backends!(a_user_has_at_most_ten_passkeys, |backend| async move {
    let (app, _, _) = spawn(backend).await;
    let http = signed_in(&app, "alice").await;
    let alice = user_id(&app, "alice").await;
    for i in 0..10 {
        let mut auth = SoftAuthenticator::new(&origin(&app));
        assert!(registered(register(&app, &http, &mut auth, &format!("key {i}")).await).await);
    }
    let (status, cache, body) = options(&app, &http, "/account/passkeys/options", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(cache, "no-store");
    assert!(body["error"].as_str().unwrap().contains("10"), "{body}");
    assert_eq!(passkeys_of(&app, &alice).await.len(), 10);
});

both_backends!(
    registration_needs_a_recent_sign_in_and_csrf,
    |backend| async move {
        let (app, _, clock) = spawn(backend).await;

        // No session: 403 JSON.
        let anon = browser();
        let (status, _, body) = options(&app, &anon, "/account/passkeys/options", &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            body["error"].as_str().unwrap().contains("Sign in"),
            "{body}"
        );

        // No CSRF token: 403 JSON, no ceremony.
        let http = signed_in(&app, "alice").await;
        let r = http
            .post(app.url("/account/passkeys/options"))
            .form(&[("csrf_token", "wrong")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].is_string());

        // A sign-in older than PORTCULLIS_ACCOUNT_REAUTH_SECS: 403 JSON asking
        // to sign in again; the form post shows the re-authentication page.
        let opts = create_options(&app, &http).await;
        let cred = SoftAuthenticator::new(&origin(&app))
            .create(&opts["publicKey"])
            .unwrap();
        clock.advance(chrono::Duration::seconds(
            app.state.config.self_service.account_reauth.num_seconds() + 1,
        ));
        let (status, _, body) = options(&app, &http, "/account/passkeys/options", &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            body["error"].as_str().unwrap().contains("sign in again"),
            "{body}"
        );
        let r = post_register(&app, &http, opts["handle"].as_str().unwrap(), &cred, "x").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains("sign in again"));
        assert!(
            passkeys_of(&app, &user_id(&app, "alice").await)
                .await
                .is_empty()
        );
    }
);

both_backends!(
    a_passkey_is_removed_by_its_owner_only,
    |backend| async move {
        let (app, sink, _) = spawn(backend).await;
        let http = signed_in(&app, "alice").await;
        let alice = user_id(&app, "alice").await;
        let mut auth = SoftAuthenticator::new(&origin(&app));
        assert!(registered(register(&app, &http, &mut auth, "one").await).await);
        let id = passkeys_of(&app, &alice).await[0].id.clone();

        // Bob cannot remove it.
        let bob = signed_in(&app, "bob").await;
        let token = csrf(&app, &bob).await;
        let r = bob
            .post(app.url("/account/passkeys/remove"))
            .form(&[("csrf_token", token.as_str()), ("id", id.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(passkeys_of(&app, &alice).await.len(), 1);

        // Without the CSRF token nothing happens.
        let r = http
            .post(app.url("/account/passkeys/remove"))
            .form(&[("csrf_token", "nope"), ("id", id.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(passkeys_of(&app, &alice).await.len(), 1);

        let token = csrf(&app, &http).await;
        let r = http
            .post(app.url("/account/passkeys/remove"))
            .form(&[("csrf_token", token.as_str()), ("id", id.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/account/security?done=passkey_removed");
        assert!(passkeys_of(&app, &alice).await.is_empty());
        let removed = sink.of_kind(EventKind::MfaRemoved);
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].detail_value(DetailKey::Factor), Some("passkey"));
        assert_eq!(removed[0].detail_value(DetailKey::Via), Some("account"));

        // Its credential no longer signs in.
        let started = start(&app, CeremonyKind::Passwordless, None).await;
        let answer = auth.get(&public_key(&started));
        assert!(
            verify(&app, &started, &answer, CeremonyKind::Passwordless, None)
                .await
                .is_none()
        );
    }
);

// ---------------------------------------------------------------------------
// Sign-in ceremonies
// ---------------------------------------------------------------------------

both_backends!(
    a_passwordless_sign_in_names_the_user,
    |backend| async move {
        let (app, _, clock) = spawn(backend).await;
        let http = signed_in(&app, "alice").await;
        let alice = user_id(&app, "alice").await;
        let mut auth = SoftAuthenticator::new(&origin(&app));
        assert!(registered(register(&app, &http, &mut auth, "one").await).await);

        // The endpoint: discoverable (no allowCredentials), UV required.
        let anon = browser();
        let (status, cache, body) = options(
            &app,
            &anon,
            "/login/passkey/options",
            &[("mode", "passwordless")],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(cache, "no-store");
        assert_eq!(body["ceremony"], "get");
        assert_eq!(body["publicKey"]["userVerification"], "required");
        assert_eq!(body["publicKey"]["rpId"], "localhost");
        assert!(
            body["publicKey"]["allowCredentials"]
                .as_array()
                .is_none_or(Vec::is_empty)
        );

        let started = start(&app, CeremonyKind::Passwordless, None).await;
        let answer = auth.get(&public_key(&started));
        let (signed_in_as, used) =
            verify(&app, &started, &answer, CeremonyKind::Passwordless, None)
                .await
                .expect("accepted");
        assert_eq!(signed_in_as, alice);
        assert_eq!(
            used,
            FactorUsed::Passkey {
                device_bound: true,
                user_verified: true
            }
        );
        let key = &passkeys_of(&app, &alice).await[0];
        assert!(key.last_used_at.is_some());
        assert!(key.credential.as_deref().unwrap().contains("\"counter\":1"));

        // Single use: the same answer again is refused.
        assert!(
            verify(&app, &started, &answer, CeremonyKind::Passwordless, None)
                .await
                .is_none()
        );

        // Parallel answers to one ceremony: exactly one is accepted.
        let started = start(&app, CeremonyKind::Passwordless, None).await;
        let answer = auth.get(&public_key(&started));
        let (a, b) = tokio::join!(
            verify(&app, &started, &answer, CeremonyKind::Passwordless, None),
            verify(&app, &started, &answer, CeremonyKind::Passwordless, None),
        );
        assert_eq!(usize::from(a.is_some()) + usize::from(b.is_some()), 1);

        // A ceremony of another kind does not serve.
        let started = start(&app, CeremonyKind::Passwordless, None).await;
        let answer = auth.get(&public_key(&started));
        assert!(
            verify(
                &app,
                &started,
                &answer,
                CeremonyKind::SecondFactor,
                Some(&alice)
            )
            .await
            .is_none()
        );

        // Expired after five minutes.
        let started = start(&app, CeremonyKind::Passwordless, None).await;
        let answer = auth.get(&public_key(&started));
        clock.advance(chrono::Duration::seconds(301));
        assert!(
            verify(&app, &started, &answer, CeremonyKind::Passwordless, None)
                .await
                .is_none()
        );

        // Another origin, or no user verification: refused.
        let started = start(&app, CeremonyKind::Passwordless, None).await;
        auth.origin = "http://localhost:1".into();
        let answer = auth.get(&public_key(&started));
        assert!(
            verify(&app, &started, &answer, CeremonyKind::Passwordless, None)
                .await
                .is_none()
        );
        auth.origin = origin(&app);
        auth.user_verification = false;
        let started = start(&app, CeremonyKind::Passwordless, None).await;
        let answer = auth.get(&public_key(&started));
        assert!(
            verify(&app, &started, &answer, CeremonyKind::Passwordless, None)
                .await
                .is_none()
        );

        // A user handle that is not the owner's: refused.
        auth.user_verification = true;
        let started = start(&app, CeremonyKind::Passwordless, None).await;
        let mut answer = auth.get(&public_key(&started));
        answer["response"]["userHandle"] = json!(B64.encode([7_u8; 16]));
        assert!(
            verify(&app, &started, &answer, CeremonyKind::Passwordless, None)
                .await
                .is_none()
        );
    }
);

both_backends!(
    a_second_factor_ceremony_takes_only_the_users_passkeys,
    |backend| async move {
        let (app, _, _) = spawn(backend).await;
        let alice_http = signed_in(&app, "alice").await;
        let bob_http = signed_in(&app, "bob").await;
        let alice = user_id(&app, "alice").await;
        let bob = user_id(&app, "bob").await;
        let mut alice_key = SoftAuthenticator::new(&origin(&app));
        let mut bob_key = SoftAuthenticator::new(&origin(&app));
        assert!(registered(register(&app, &alice_http, &mut alice_key, "a").await).await);
        assert!(registered(register(&app, &bob_http, &mut bob_key, "b").await).await);

        let started = start(&app, CeremonyKind::SecondFactor, Some(&alice)).await;
        let pk = public_key(&started);
        let allowed: Vec<&str> = pk["allowCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(allowed, [B64.encode(&alice_key.credentials[0].id)]);
        assert_eq!(pk["userVerification"], "required");

        // Bob's credential answers Alice's ceremony: refused.
        let answer = bob_key.get_with(&pk, 0);
        assert!(
            verify(
                &app,
                &started,
                &answer,
                CeremonyKind::SecondFactor,
                Some(&alice)
            )
            .await
            .is_none()
        );
        // Alice's ceremony does not serve Bob either.
        let started = start(&app, CeremonyKind::SecondFactor, Some(&alice)).await;
        let answer = alice_key.get(&public_key(&started));
        assert!(
            verify(
                &app,
                &started,
                &answer,
                CeremonyKind::SecondFactor,
                Some(&bob)
            )
            .await
            .is_none()
        );
        // Alice's own answer is accepted.
        let started = start(&app, CeremonyKind::SecondFactor, Some(&alice)).await;
        let answer = alice_key.get(&public_key(&started));
        let (signed_in_as, used) = verify(
            &app,
            &started,
            &answer,
            CeremonyKind::SecondFactor,
            Some(&alice),
        )
        .await
        .expect("accepted");
        assert_eq!(signed_in_as, alice);
        assert!(matches!(
            used,
            FactorUsed::Passkey {
                user_verified: true,
                ..
            }
        ));
    }
);

both_backends!(
    the_sign_in_options_endpoint_checks_csrf_and_mode,
    |backend| async move {
        let (app, _, _) = spawn(backend).await;
        let anon = browser();
        let token = csrf(&app, &anon).await;
        let post = |fields: Vec<(&'static str, String)>| {
            let anon = anon.clone();
            let url = app.url("/login/passkey/options");
            async move {
                let r = anon.post(url).form(&fields).send().await.unwrap();
                let status = r.status();
                let body: Value = r.json().await.unwrap();
                (status, body)
            }
        };
        let (status, body) = post(vec![
            ("csrf_token", "bad".into()),
            ("mode", "passwordless".into()),
        ])
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body["error"].is_string());
        let (status, body) = post(vec![
            ("csrf_token", token.clone()),
            ("mode", "sideways".into()),
        ])
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        // The second factor needs a pending sign-in (password given).
        let (status, body) = post(vec![
            ("csrf_token", token.clone()),
            ("mode", "second_factor".into()),
        ])
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("sign in"),
            "{body}"
        );
    }
);

both_backends!(
    the_script_is_served_like_the_other_assets,
    |backend| async move {
        let (app, _, _) = spawn(backend).await;
        let r = app
            .http
            .get(app.url("/static/passkey.js"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(r.headers()["cache-control"], "public, max-age=3600");
        let js = r.text().await.unwrap();
        for needle in [
            "data-passkey",
            "navigator.credentials",
            "data-passkey-error",
            "attestationObject",
            "userHandle",
        ] {
            assert!(js.contains(needle), "{needle}");
        }
    }
);

both_backends!(
    passkeys_are_off_for_an_ip_address_issuer,
    |backend| async move {
        // The default test issuer is http://127.0.0.1:PORT: browsers refuse an
        // IP address as the RP ID, so no ceremony starts, and the server runs.
        let app = crate::helpers::spawn_app(backend).await;
        let anon = browser();
        let (status, _, body) = options(
            &app,
            &anon,
            "/login/passkey/options",
            &[("mode", "passwordless")],
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("not available"),
            "{body}"
        );
    }
);
