//! The device authorization grant (RFC 8628): the rules of
//! `/device_authorization` (§3.1–3.2), the user code (§6.1) and the
//! verification pages (§3.3): enter the code, sign in (the hosted pages' one
//! sign-in, second factor included), confirm on a consent page, which is
//! never skipped (§5.4: a user code from someone else's device must not be
//! approved unseen).
//!
//! A sign-in for the device flow carries its user code in the login and
//! second-factor forms' `request` field ([`carried`], [`continuation`]), so
//! that `/login`, `/login/factor` and `/login/passkey` continue here.

use chrono::Duration;
use serde::Serialize;

use super::client_address::throttle_address;
use super::endpoints::Endpoint;
use super::error::{ErrorCode, OAuthError};
use super::interaction::{
    self, Credentials, Ctx, LiveSession, LoginMessage, NewSession, Offered, Origin, Report, SignIn,
    Step, session_acr,
};
use super::params::RawParams;
use super::registrar::ClientRegistrar;
use crate::domain::device::{
    DeviceAuthorization, DeviceDecision, DeviceStatus, USER_CODE_ALPHABET, USER_CODE_LEN, UserCode,
};
use crate::domain::{Client, GrantType, ScopeSet, TokenHash};
use crate::ports::{Clock, Reservation, Rng, Store, StoreError, ThrottlePolicy};

/// The interval increase of a `slow_down` (RFC 8628 §3.5).
pub const SLOW_DOWN_SECS: i64 = 5;

/// The name of the user code in a carried sign-in request.
const CARRIED_NAME: &str = "device_user_code";

/// How many user codes are drawn before giving up (a clash among
/// 20^8 codes is rare; three in a row means something is wrong).
const USER_CODE_DRAWS: usize = 3;

/// Settings of the device flow, from configuration.
#[derive(Debug, Clone)]
pub struct DeviceSettings {
    /// The issuer (the verification URI is under it).
    pub issuer: String,
    /// Lifetime of a device authorization (`PORTCULLIS_DEVICE_CODE_TTL_SECS`).
    pub code_ttl: Duration,
    /// The least time between polls (`PORTCULLIS_DEVICE_POLL_INTERVAL_SECS`).
    pub poll_interval: Duration,
    /// Wrong user codes per client address
    /// (`PORTCULLIS_DEVICE_USER_CODE_MAX_FAILURES` within the sign-in
    /// failure window, then the sign-in lockout).
    pub user_code_throttle: ThrottlePolicy,
}

/// The device authorization response (RFC 8628 §3.2).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeviceAuthorizationResponse {
    /// The device code (only its hash is stored).
    pub device_code: String,
    /// The user code, as shown: `XXXX-XXXX`.
    pub user_code: String,
    /// Where the user goes.
    pub verification_uri: String,
    /// The same with the user code (§3.3.1; still confirmed on a page).
    pub verification_uri_complete: String,
    /// Seconds until both codes expire.
    pub expires_in: i64,
    /// Seconds the device waits between polls.
    pub interval: i64,
}

/// A user code drawn uniformly from the §6.1 alphabet: rejection sampling
/// over random bytes (a byte of 240 or more is drawn again, so that each of
/// the 20 characters has probability 12/240).
pub fn generate_user_code(rng: &dyn Rng) -> UserCode {
    const LIMIT: u8 = 240; // 12 × 20
    #[allow(clippy::cast_possible_truncation)] // 20 fits a byte
    const BASE: u8 = USER_CODE_ALPHABET.len() as u8;
    let mut indexes = Vec::with_capacity(USER_CODE_LEN);
    while indexes.len() < USER_CODE_LEN {
        let mut buf = [0_u8; USER_CODE_LEN];
        let want = &mut buf[..USER_CODE_LEN - indexes.len()];
        rng.fill(want);
        indexes.extend(want.iter().filter(|b| **b < LIMIT).map(|b| b % BASE));
    }
    // Every index is below 20: the code is always built.
    UserCode::from_indexes(&indexes).unwrap_or_else(|| UserCode::from_stored("BBBBBBBB".into()))
}

/// The verification URI (§3.2): the issuer's `/device`.
pub fn verification_uri(issuer: &str) -> String {
    format!(
        "{}{}",
        issuer.trim_end_matches('/'),
        Endpoint::Device.path()
    )
}

/// The scope of a device authorization request, checked as `/authorize`
/// checks it: the same registrar rule (RFC 6749 §3.3: trimmed to the
/// client's scopes; nothing left, or none asked, is `invalid_scope`).
fn negotiate_scope(client: &Client, params: &RawParams) -> Result<ScopeSet, OAuthError> {
    if params.is_repeated("scope") {
        return Err(OAuthError::invalid_request("scope is repeated"));
    }
    let raw = params
        .get("scope")
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidScope, "scope is required"))?;
    let requested = ScopeSet::parse(raw)
        .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
    ClientRegistrar::new(client)
        .granted_scope(&requested)
        .ok_or_else(|| {
            OAuthError::new(
                ErrorCode::InvalidScope,
                "none of the requested scopes is allowed for this client",
            )
        })
}

/// The checks of a device authorization request (§3.1) by an
/// authenticated client: the grant type, then the scope.
pub fn validate(client: &Client, params: &RawParams) -> Result<ScopeSet, OAuthError> {
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client may not use the device authorization grant",
        ));
    }
    negotiate_scope(client, params)
}

/// `POST /device_authorization` (§3.1–3.2): a new pending authorization
/// with a fresh device code and user code.
pub async fn handle(
    store: &dyn Store,
    clock: &dyn Clock,
    rng: &dyn Rng,
    settings: &DeviceSettings,
    client: &Client,
    params: &RawParams,
) -> Result<DeviceAuthorizationResponse, OAuthError> {
    let scope = validate(client, params)?;
    // RFC 8707 §2: each `resource` must be one the client may ask for, as
    // at `/authorize`.
    let resources = crate::domain::resource::authorization_resources(
        &params.get_all("resource"),
        &client.allowed_resources,
    )
    .map_err(|e| OAuthError::invalid_target(e.to_string()))?;
    let now = clock.now();
    let device_code = rng.token();
    let interval = settings.poll_interval.num_seconds().max(1);
    for _ in 0..USER_CODE_DRAWS {
        let user_code = generate_user_code(rng);
        let rec = DeviceAuthorization {
            code_hash: TokenHash::of(&device_code),
            user_code: user_code.clone(),
            client_id: client.id.clone(),
            scope: scope.clone(),
            resources: resources.clone(),
            status: DeviceStatus::Pending,
            user_id: None,
            session_id: None,
            auth_time: None,
            amr: None,
            acr: None,
            interval_secs: interval,
            last_polled_at: None,
            created_at: now,
            expires_at: now + settings.code_ttl,
            decided_at: None,
        };
        match store.device_codes().insert_device_code(&rec).await {
            Ok(()) => {
                let uri = verification_uri(&settings.issuer);
                let shown = user_code.display();
                return Ok(DeviceAuthorizationResponse {
                    device_code,
                    verification_uri_complete: format!("{uri}?user_code={shown}"),
                    user_code: shown,
                    verification_uri: uri,
                    expires_in: settings.code_ttl.num_seconds(),
                    interval,
                });
            }
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(OAuthError::server_error("no free user code"))
}

/// The `request` value that carries a device sign-in through the login and
/// second-factor forms.
pub fn carried(code: &UserCode) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair(CARRIED_NAME, code.as_str())
        .finish()
}

/// The user code a carried `request` continues, if it is a device sign-in
/// (as typed: it is looked up again, with throttling).
pub fn continuation(request: &str) -> Option<String> {
    RawParams::parse(request.as_bytes())
        .get(CARRIED_NAME)
        .map(str::to_owned)
}

/// Why a user code was refused on `/device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeProblem {
    /// Not a code we issued (or malformed).
    Unknown,
    /// The code expired.
    Expired,
    /// The code was already approved, denied or used.
    Used,
    /// Too many wrong codes from this address.
    Locked,
}

impl CodeProblem {
    /// `detail.reason` of `device_user_code_failed`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Expired => "expired",
            Self::Used => "used",
            Self::Locked => "locked",
        }
    }

    /// Text for the user.
    pub fn text(self) -> &'static str {
        match self {
            Self::Unknown => {
                "That code is not right. Check the code shown on your device and try again."
            }
            Self::Expired => "That code has expired. Start again on your device to get a new code.",
            Self::Used => {
                "That code was already used. Start again on your device to get a new code."
            }
            Self::Locked => "Too many wrong codes from your network. Try again later.",
        }
    }
}

/// What happened on the device pages, for events and logs.
#[derive(Debug, Default)]
pub struct DeviceReport {
    /// The sign-in part (login events).
    pub interaction: Report,
    /// A user code was refused.
    pub code_failed: Option<CodeProblem>,
    /// The user approved (`true`) or denied (`false`).
    pub decided: Option<bool>,
}

/// What the device pages show.
#[derive(Debug)]
pub enum DevicePage {
    /// The code entry form (prefilled with what was typed).
    Entry {
        /// What the user typed.
        user_code: String,
        /// Why it was refused.
        problem: Option<CodeProblem>,
    },
    /// The sign-in form, carrying the code.
    Login {
        /// Application name.
        client_name: String,
        /// The carried code ([`carried`]).
        request: String,
        /// Pre-filled username.
        login_hint: Option<String>,
        /// A message, if this is a retry.
        message: Option<LoginMessage>,
    },
    /// The second-factor page, carrying the code.
    SecondFactor {
        /// Application name.
        client_name: String,
        /// The carried code.
        request: String,
        /// The factors offered.
        offered: Offered,
        /// A message, if this is a retry.
        message: Option<LoginMessage>,
    },
    /// The confirmation page (never skipped: §5.4).
    Consent {
        /// Application name.
        client_name: String,
        /// The code as shown (`XXXX-XXXX`), to compare with the device.
        user_code: String,
        /// The scopes asked.
        scopes: ScopeSet,
        /// The signed-in user's name.
        username: String,
    },
    /// The user cannot meet the client's `require_mfa` (no second factor).
    Unmet {
        /// Application name.
        client_name: String,
    },
    /// Approved: the user may return to the device.
    Approved {
        /// Application name.
        client_name: String,
    },
    /// Denied.
    Denied {
        /// Application name.
        client_name: String,
    },
}

/// A user code that was found pending, with its client.
pub struct Found {
    /// The authorization.
    pub rec: DeviceAuthorization,
    /// Its client.
    pub client: Client,
}

/// The throttle key of user-code entries from `ip` (IPv6: its /64).
pub fn throttle_key(ip: &str) -> String {
    format!("device:ip:{}", throttle_address(ip))
}

/// Looks up a typed user code (§3.3: case-insensitive, hyphen optional),
/// throttled per client address: an attempt is reserved before the lookup
/// (one atomic statement), a wrong code keeps it, a good one gives it back.
pub async fn find_user_code(
    ctx: &Ctx<'_>,
    settings: &DeviceSettings,
    input: &str,
    ip: &str,
    report: &mut DeviceReport,
) -> Result<Result<Found, CodeProblem>, OAuthError> {
    let now = ctx.clock.now();
    let key = throttle_key(ip);
    let answers = ctx
        .store
        .throttles()
        .reserve_attempts(&[(key.as_str(), settings.user_code_throttle)], now)
        .await?;
    if answers
        .iter()
        .any(|a| matches!(a, Reservation::Locked { .. }))
    {
        report.code_failed = Some(CodeProblem::Locked);
        return Ok(Err(CodeProblem::Locked));
    }
    let found = match UserCode::parse(input) {
        Some(code) => {
            ctx.store
                .device_codes()
                .device_code_by_user_code(&code)
                .await?
        }
        None => None,
    };
    let client = match &found {
        Some(rec) => ctx.store.clients().get_client(&rec.client_id).await?,
        None => None,
    };
    let problem = match (found, client) {
        (Some(rec), Some(client)) => {
            if rec.expires_at <= now {
                Err(CodeProblem::Expired)
            } else if rec.status != DeviceStatus::Pending {
                Err(CodeProblem::Used)
            } else {
                Ok(Found { rec, client })
            }
        }
        _ => Err(CodeProblem::Unknown),
    };
    match problem {
        Ok(found) => {
            ctx.store
                .throttles()
                .release_attempts(&[key.as_str()])
                .await?;
            report.interaction.client_id = Some(found.client.id.clone());
            Ok(Ok(found))
        }
        Err(p) => {
            report.code_failed = Some(p);
            Ok(Err(p))
        }
    }
}

fn login_page(found: &Found, hint: Option<String>, message: Option<LoginMessage>) -> DevicePage {
    DevicePage::Login {
        client_name: found.client.name.clone(),
        request: carried(&found.rec.user_code),
        login_hint: hint,
        message,
    }
}

async fn factor_page(
    ctx: &Ctx<'_>,
    found: &Found,
    live: &LiveSession,
    message: Option<LoginMessage>,
) -> Result<DevicePage, OAuthError> {
    Ok(DevicePage::SecondFactor {
        client_name: found.client.name.clone(),
        request: carried(&found.rec.user_code),
        offered: interaction::offered_factors(ctx, &live.user.id).await?,
        message,
    })
}

/// The step after a found code for `session`: sign in; a step-up when the
/// session is below the client's `require_mfa`; else the confirmation page
/// (always: an existing session never approves by itself).
async fn next_step(
    ctx: &Ctx<'_>,
    found: &Found,
    session: Option<&LiveSession>,
) -> Result<DevicePage, OAuthError> {
    let Some(s) = session else {
        return Ok(login_page(found, None, None));
    };
    let required = found.client.acr_floor();
    if session_acr(&s.session) < required {
        if interaction::reachable(ctx, &s.user.id).await? < required {
            return Ok(DevicePage::Unmet {
                client_name: found.client.name.clone(),
            });
        }
        return factor_page(ctx, found, s, None).await;
    }
    Ok(DevicePage::Consent {
        client_name: found.client.name.clone(),
        user_code: found.rec.user_code.display(),
        scopes: found.rec.scope.clone(),
        username: s.user.username.to_string(),
    })
}

/// `POST /device`: the code entry form was posted.
pub async fn enter(
    ctx: &Ctx<'_>,
    settings: &DeviceSettings,
    input: &str,
    ip: &str,
    session: Option<&LiveSession>,
    report: &mut DeviceReport,
) -> Result<DevicePage, OAuthError> {
    match find_user_code(ctx, settings, input, ip, report).await? {
        Ok(found) => next_step(ctx, &found, session).await,
        Err(problem) => Ok(DevicePage::Entry {
            user_code: input.chars().take(64).collect(),
            problem: Some(problem),
        }),
    }
}

fn entry(code: &str, problem: CodeProblem) -> DevicePage {
    DevicePage::Entry {
        user_code: code.chars().take(64).collect(),
        problem: Some(problem),
    }
}

/// The login form of a device sign-in was posted: the hosted pages' one
/// [`interaction::sign_in`], then the next step.
pub async fn login(
    ctx: &Ctx<'_>,
    settings: &DeviceSettings,
    code: &str,
    credentials: &Credentials<'_>,
    previous: Option<&LiveSession>,
    report: &mut DeviceReport,
) -> Result<(DevicePage, Option<NewSession>), OAuthError> {
    let found = match find_user_code(ctx, settings, code, credentials.ip, report).await? {
        Ok(found) => found,
        Err(problem) => return Ok((entry(code, problem), None)),
    };
    let required = found.client.acr_floor();
    let signed = interaction::sign_in(
        ctx,
        credentials,
        previous,
        None,
        required,
        &mut report.interaction,
    )
    .await?;
    match signed {
        SignIn::Started(live, new) => Ok((next_step(ctx, &found, Some(&live)).await?, Some(new))),
        SignIn::SecondFactorDue(live, new) => {
            Ok((factor_page(ctx, &found, &live, None).await?, Some(new)))
        }
        SignIn::Unmet => Ok((
            DevicePage::Unmet {
                client_name: found.client.name,
            },
            None,
        )),
        SignIn::Refused(message) => Ok((
            login_page(&found, Some(credentials.username.to_owned()), Some(message)),
            None,
        )),
    }
}

/// The second-factor page (or a passkey) of a device sign-in was posted:
/// [`interaction::second_factor`] or [`interaction::passkey_sign_in`], then
/// the next step. A live session that already meets the client gives no
/// factor (nothing is verified; the next step is shown).
pub async fn factor_login(
    ctx: &Ctx<'_>,
    settings: &DeviceSettings,
    code: &str,
    step: Step<'_>,
    origin: Origin<'_>,
    report: &mut DeviceReport,
) -> Result<(DevicePage, Option<NewSession>), OAuthError> {
    let found = match find_user_code(ctx, settings, code, origin.ip, report).await? {
        Ok(found) => found,
        Err(problem) => return Ok((entry(code, problem), None)),
    };
    let r = &mut report.interaction;
    match step {
        Step::SecondFactor(None, _) => Ok((
            login_page(&found, None, Some(LoginMessage::SignInExpired)),
            None,
        )),
        Step::SecondFactor(Some(s), proof) => {
            let due = s.session.second_factor_due;
            if !due && session_acr(&s.session) >= found.client.acr_floor() {
                return Ok((next_step(ctx, &found, Some(s)).await?, None));
            }
            match interaction::second_factor(ctx, s, proof, origin, r).await? {
                Ok((live, new)) => Ok((next_step(ctx, &found, Some(&live)).await?, Some(new))),
                Err(message) => Ok((factor_page(ctx, &found, s, Some(message)).await?, None)),
            }
        }
        Step::Passwordless {
            previous,
            handle,
            credential,
        } => {
            match interaction::passkey_sign_in(ctx, handle, credential, origin, previous, None, r)
                .await?
            {
                Ok((live, new)) => Ok((next_step(ctx, &found, Some(&live)).await?, Some(new))),
                Err(message) => Ok((login_page(&found, None, Some(message)), None)),
            }
        }
    }
}

/// `POST /device/consent`: the user approved or denied. The code is looked
/// up again (throttled), the session must meet the client, and the
/// decision is one conditional update of a pending, unexpired code.
pub async fn decide(
    ctx: &Ctx<'_>,
    settings: &DeviceSettings,
    code: &str,
    allow: bool,
    ip: &str,
    session: Option<&LiveSession>,
    report: &mut DeviceReport,
) -> Result<DevicePage, OAuthError> {
    let found = match find_user_code(ctx, settings, code, ip, report).await? {
        Ok(found) => found,
        Err(problem) => return Ok(entry(code, problem)),
    };
    let next = next_step(ctx, &found, session).await?;
    let (DevicePage::Consent { .. }, Some(s)) = (&next, session) else {
        // Signed out meanwhile, or below the client's requirement.
        return Ok(next);
    };
    let now = ctx.clock.now();
    let decision = DeviceDecision {
        approved: allow,
        user_id: s.user.id.clone(),
        session_id: s.session.id.clone(),
        auth_time: s.session.auth_time.unwrap_or(now),
        amr: s.session.amr.clone(),
        acr: Some(session_acr(&s.session).as_str().to_owned()),
        decided_at: now,
    };
    report.interaction.subject = Some(s.user.id.clone());
    report.interaction.session_id = Some(s.session.id.clone());
    let decided = ctx
        .store
        .device_codes()
        .decide_device_code(&found.rec.code_hash, &decision, now)
        .await?;
    if !decided {
        report.code_failed = Some(CodeProblem::Used);
        return Ok(entry(code, CodeProblem::Used));
    }
    report.decided = Some(allow);
    let client_name = found.client.name.clone();
    if !allow {
        return Ok(DevicePage::Denied { client_name });
    }
    interaction::record_consent(ctx, &s.user.id, &found.client.id, &found.rec.scope, now).await?;
    Ok(DevicePage::Approved { client_name })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Bytes from a fixed list, then repeating it.
    struct ListRng(Vec<u8>, AtomicUsize);

    impl Rng for ListRng {
        fn fill(&self, buf: &mut [u8]) {
            for b in buf {
                let i = self.1.fetch_add(1, Ordering::Relaxed);
                *b = self.0[i % self.0.len()];
            }
        }
    }

    #[test]
    fn user_codes_reject_bytes_that_would_bias_the_alphabet() {
        // 240..=255 are drawn again; 0 → B, 19 → Z, 20 → B, 239 → Z.
        let rng = ListRng(
            vec![240, 0, 255, 19, 20, 239, 250, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            AtomicUsize::new(0),
        );
        let code = generate_user_code(&rng);
        assert_eq!(code.as_str(), "BZBZCDFG");
    }

    #[test]
    fn user_codes_are_uniform_over_the_alphabet() {
        // Every byte value once: each letter comes from exactly 12 of them.
        let rng = ListRng((0..=255).collect(), AtomicUsize::new(0));
        let mut counts = [0_u32; 20];
        for _ in 0..30 {
            // 30 codes × 8 = 240 characters = one pass over 0..240.
            for b in generate_user_code(&rng).as_str().bytes() {
                let i = USER_CODE_ALPHABET.iter().position(|a| *a == b).unwrap();
                counts[i] += 1;
            }
        }
        assert!(counts.iter().all(|c| *c == 12), "{counts:?}");
    }

    #[test]
    fn the_carried_request_round_trips_and_is_not_an_authorization_request() {
        let code = UserCode::parse("bcdf-ghjk").unwrap();
        let request = carried(&code);
        assert_eq!(continuation(&request).as_deref(), Some("BCDFGHJK"));
        assert_eq!(continuation("client_id=c1&response_type=code"), None);
        assert_eq!(continuation(""), None);
    }

    #[test]
    fn verification_uri_is_under_the_issuer() {
        assert_eq!(
            verification_uri("https://id.example/"),
            "https://id.example/device"
        );
        assert_eq!(
            verification_uri("https://id.example/t1"),
            "https://id.example/t1/device"
        );
    }

    #[test]
    fn the_throttle_key_counts_ipv6_per_64() {
        assert_eq!(throttle_key("192.0.2.7"), "device:ip:192.0.2.7");
        assert_eq!(
            throttle_key("2001:db8:1:2:3:4:5:6"),
            "device:ip:2001:db8:1:2::/64"
        );
    }
}
