//! The authorization interaction: the endpoint, the login form and the
//! consent form, as one state machine over the ports. Each step re-validates
//! the original request (carried in the forms), so a tampered form can do no
//! more than a fresh request could.

use chrono::{DateTime, Duration, Utc};

use super::authorize::{
    self, Authentication, AuthorizePolicy, ConsentPolicy, Next, PageError, Progress,
    ValidatedAuthorize, VerifiedRedirect,
};
use super::client_address::throttle_address;
use super::client_auth::ClientJwksFetcher;
use super::error::{ErrorCode, OAuthError};
use super::mfa::{has_second_factor, use_recovery_code, verify_totp};
use super::passkey;
use super::request::{self, Entry, Refusal, Resolved, Unresolved};
use crate::domain::mfa::{Acr, CeremonyKind, FactorUsed, acr_of, amr_after};
use crate::domain::{
    AuthorizationCode, Client, ClientId, Consent, Grant, ScopeSet, Session, TokenHash, User,
    UserId, Username,
};
use crate::ports::{
    Clock, KeyProvider, OutboundHttp, PasswordHasher, Reservation, Rng, SecretBox, Store,
    ThrottlePolicy, WebAuthn,
};

/// How long a sign-in counts as "just now" for the consent step that
/// follows it (`prompt=login`, `max_age`): the consent page must be
/// answered within this time (and within `max_age` when it is set,
/// [`sign_in_window`]), and before the session issued any code.
const FRESH_SIGN_IN_SECS: i64 = 600;

/// Settings the interaction needs.
#[derive(Debug, Clone)]
pub struct InteractionSettings {
    /// Issuer, for `iss` (RFC 9207).
    pub issuer: String,
    /// Authorization code lifetime.
    pub code_ttl: Duration,
    /// Session idle limit.
    pub session_idle: Duration,
    /// Session absolute limit.
    pub session_max: Duration,
    /// Accept PKCE plain.
    pub pkce_allow_plain: bool,
    /// Throttling per (account, client address):
    /// `PORTCULLIS_LOGIN_MAX_FAILURES`.
    pub user_throttle: ThrottlePolicy,
    /// Throttling per account from every address, at a higher threshold:
    /// `PORTCULLIS_LOGIN_ACCOUNT_MAX_FAILURES`.
    pub account_throttle: ThrottlePolicy,
    /// Per-address throttling.
    pub ip_throttle: ThrottlePolicy,
    /// First-party clients get `offline_access` without consent (the
    /// operator's explicit opt-out of OpenID Connect Core §11).
    pub first_party_offline_without_consent: bool,
    /// Refuse sign-in until the user's address is verified
    /// (`PORTCULLIS_REQUIRE_VERIFIED_EMAIL`).
    pub require_verified_email: bool,
    /// How long a `request_uri` from `/par` may be used
    /// (`PORTCULLIS_PAR_LIFETIME_SECS`, RFC 9126 §2.2).
    pub par_lifetime: Duration,
    /// Every client must push its authorization requests
    /// (`PORTCULLIS_REQUIRE_PAR`, RFC 9126 §6).
    pub require_pushed: bool,
    /// Fetch a `request_uri` that `/par` did not issue (https only,
    /// through the outbound client) as a request object
    /// (`PORTCULLIS_REQUEST_URI_EXTERNAL`, RFC 9101 §5.2).
    pub request_uri_external: bool,
}

/// The ports the interaction uses.
pub struct Ctx<'a> {
    /// Repositories.
    pub store: &'a dyn Store,
    /// Time.
    pub clock: &'a dyn Clock,
    /// Randomness.
    pub rng: &'a dyn Rng,
    /// Password verification.
    pub passwords: &'a dyn PasswordHasher,
    /// Our signing keys (to verify `id_token_hint`).
    pub keys: &'a dyn KeyProvider,
    /// Opens sealed TOTP secrets.
    pub secrets: &'a dyn SecretBox,
    /// The WebAuthn relying party (passkeys).
    pub webauthn: &'a dyn WebAuthn,
    /// Clients' JWK Sets (request objects signed with a `jwks_uri` key).
    pub client_jwks: &'a dyn ClientJwksFetcher,
    /// The outbound client (external `request_uri`s).
    pub outbound: &'a dyn OutboundHttp,
    /// Settings.
    pub settings: &'a InteractionSettings,
}

/// A live, authenticated session.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// The session (its `id` is the `sid` claim).
    pub session: Session,
    /// The signed-in user.
    pub user: User,
}

/// A message on the login page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMessage {
    /// Wrong username or password (never says which).
    BadCredentials,
    /// Too many failures for this account (shown for unknown accounts too).
    AccountLocked,
    /// Too many failures from this address.
    AddressThrottled,
    /// The account is disabled (shown only after a correct password).
    Disabled,
    /// The application asked for another account (`id_token_hint`).
    WrongAccount,
    /// The address is not verified and the operator requires it
    /// (`PORTCULLIS_REQUIRE_VERIFIED_EMAIL`; shown only after a correct
    /// password).
    EmailNotVerified,
    /// A wrong TOTP or recovery code (second-factor page).
    BadSecondFactor,
    /// The passkey answer did not verify (or the ceremony expired).
    PasskeyRefused,
    /// The sign-in in progress ended or expired: start again.
    SignInExpired,
}

impl LoginMessage {
    /// Text for the user.
    pub fn text(self) -> &'static str {
        match self {
            Self::BadCredentials => "Incorrect username or password.",
            Self::AccountLocked => "Too many failed attempts. Wait a few minutes, then try again.",
            Self::AddressThrottled => {
                "Too many sign-in attempts from your network. Try again later."
            }
            Self::Disabled => "This account is disabled. Contact your administrator.",
            Self::WrongAccount => {
                "The application asked for another account. Sign in with that account."
            }
            Self::EmailNotVerified => {
                "Verify your e-mail address first: follow the link in the mail we sent you."
            }
            Self::BadSecondFactor => {
                "That code is not right. Enter the current code from your authenticator app, or an unused recovery code."
            }
            Self::PasskeyRefused => "The passkey could not be verified. Try again.",
            Self::SignInExpired => "Your sign-in took too long. Sign in again.",
        }
    }
}

/// Why a sign-in failed, for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    /// No such user.
    UnknownUser,
    /// Wrong password.
    BadPassword,
    /// Locked by throttling.
    Locked,
    /// Disabled account.
    Disabled,
    /// The address is not verified and the operator requires it.
    EmailNotVerified,
    /// A wrong second factor (TOTP or recovery code, or a passkey that did
    /// not verify).
    BadSecondFactor,
    /// The user cannot meet the authentication the request or the client
    /// requires (no second factor).
    UnmetRequirements,
}

/// What the HTTP layer shows or sends.
#[derive(Debug)]
pub enum Outcome {
    /// An error page (400): no redirect is safe.
    Page(PageError),
    /// The login form.
    Login {
        /// Application name.
        client_name: String,
        /// The verified redirect URI (the page's CSP `form-action` allows it).
        redirect_uri: String,
        /// The carried request.
        request: String,
        /// Pre-filled username.
        login_hint: Option<String>,
        /// A message, if this is a retry.
        message: Option<LoginMessage>,
    },
    /// The second-factor page: the user passed the password (or holds a
    /// session below what the request requires) and gives a TOTP code, a
    /// recovery code or a passkey.
    SecondFactor {
        /// Application name.
        client_name: String,
        /// The verified redirect URI (the page's CSP `form-action` allows it).
        redirect_uri: String,
        /// The carried request.
        request: String,
        /// The factors the page offers.
        offered: Offered,
        /// The request requires [`Acr::PhishingResistant`]: only a passkey
        /// meets it, so the page offers nothing else.
        passkey_only: bool,
        /// A message, if this is a retry.
        message: Option<LoginMessage>,
    },
    /// The consent form.
    Consent {
        /// Application name.
        client_name: String,
        /// The verified redirect URI (the page's CSP `form-action` allows it).
        redirect_uri: String,
        /// The carried request.
        request: String,
        /// Scopes to list.
        scopes: ScopeSet,
        /// The signed-in user's name.
        username: String,
    },
    /// A response to the client (code or error).
    Respond {
        /// Where.
        redirect: VerifiedRedirect,
        /// What (already with `state` and `iss`).
        params: Vec<(&'static str, String)>,
    },
}

/// What happened, for events and logs.
#[derive(Debug, Default)]
pub struct Report {
    /// The client, when known.
    pub client_id: Option<ClientId>,
    /// The user, when known.
    pub subject: Option<UserId>,
    /// The session id (`sid`).
    pub session_id: Option<String>,
    /// A sign-in succeeded (completed: a pending first step is not one).
    pub login_succeeded: bool,
    /// The completed sign-in's methods (RFC 8176).
    pub amr: Vec<String>,
    /// The completed sign-in's class.
    pub acr: Option<Acr>,
    /// A sign-in failed, and why.
    pub login_failed: Option<LoginFailure>,
    /// Consent was given (`Ok`) or refused (`Err`), with the scopes asked.
    pub consent: Option<Result<ScopeSet, ScopeSet>>,
    /// A code was issued with these scopes.
    pub code_issued: Option<ScopeSet>,
    /// An error was sent to the client.
    pub error_sent: Option<ErrorCode>,
    /// A request object or a `request_uri` was refused, and why.
    pub refused: Option<Refusal>,
}

/// A new session to set in the cookie.
#[derive(Debug)]
pub struct NewSession {
    /// The cookie value (a 256-bit secret: only its hash is stored).
    pub cookie_value: String,
}

fn error_response(redirect: &VerifiedRedirect, issuer: &str, err: &OAuthError) -> Outcome {
    let params = redirect.response_params(
        issuer,
        vec![
            ("error", err.code.as_str().to_owned()),
            ("error_description", err.safe_description()),
        ],
    );
    Outcome::Respond {
        redirect: redirect.clone(),
        params,
    }
}

struct Checked {
    client: Client,
    validated: ValidatedAuthorize,
    /// The `sub` of a verified `id_token_hint`.
    hinted: Option<UserId>,
    /// What the interaction's forms carry (`protocol::request`).
    carried: String,
    /// The pushed request this is (RFC 9126), if any.
    pushed: Option<TokenHash>,
}

/// An error for the client at `redirect`. A pushed request's answer
/// completes it (one conditional update: at most one answer, code or
/// error); when another answer came first, an error page instead.
async fn respond_error(
    ctx: &Ctx<'_>,
    pushed: Option<&TokenHash>,
    redirect: &VerifiedRedirect,
    err: &OAuthError,
    report: &mut Report,
) -> Result<Outcome, OAuthError> {
    if let Some(hash) = pushed
        && !ctx
            .store
            .pushed_requests()
            .complete_pushed_request(hash, ctx.clock.now())
            .await?
    {
        report.refused = Some(Refusal::RequestUri("used"));
        return Ok(Outcome::Page(PageError::RequestUri));
    }
    report.error_sent = Some(err.code);
    Ok(error_response(redirect, &ctx.settings.issuer, err))
}

/// Reads the request (`protocol::request`: its query, a request object or
/// a pushed request) and checks it; `Err` is the outcome to show at once.
async fn check(
    ctx: &Ctx<'_>,
    request: &[u8],
    entry: Entry,
    report: &mut Report,
) -> Result<Result<Checked, Outcome>, OAuthError> {
    let resolved = match request::resolve(ctx, request, entry).await? {
        Ok(r) => r,
        Err(not) => {
            report.refused = not.refusal;
            report.client_id = not.client;
            return Ok(Err(match not.outcome {
                Unresolved::Page(page) => Outcome::Page(page),
                Unresolved::Redirect(redirect, err) => {
                    report.error_sent = Some(err.code);
                    error_response(&redirect, &ctx.settings.issuer, &err)
                }
            }));
        }
    };
    let Resolved {
        params,
        carried,
        client,
        pushed,
    } = resolved;
    let redirect = match authorize::verify_client_and_redirect(&params, client.as_ref()) {
        Ok(r) => r,
        Err(page) => return Ok(Err(Outcome::Page(page))),
    };
    let Some(client) = client else {
        return Ok(Err(Outcome::Page(PageError::UnknownClient)));
    };
    report.client_id = Some(client.id.clone());
    let policy = AuthorizePolicy {
        pkce_allow_plain: ctx.settings.pkce_allow_plain,
        require_pushed: ctx.settings.require_pushed,
    };
    match authorize::check_request(
        &params,
        &client,
        &redirect,
        policy,
        pushed.is_some(),
        ctx.keys,
        &ctx.settings.issuer,
    ) {
        Ok((validated, hinted)) => Ok(Ok(Checked {
            client,
            validated,
            hinted,
            carried,
            pushed,
        })),
        Err(e) => Ok(Err(respond_error(
            ctx,
            pushed.as_ref(),
            &e.redirect,
            &e.error,
            report,
        )
        .await?)),
    }
}

/// The session's authentication as [`authorize::decide`] needs it.
async fn authentication(
    ctx: &Ctx<'_>,
    c: &Checked,
    session: Option<&LiveSession>,
) -> Result<Option<Authentication>, OAuthError> {
    let Some((s, auth_time)) = session.and_then(|s| s.session.auth_time.map(|t| (s, t))) else {
        return Ok(None);
    };
    let acr = session_acr(&s.session);
    // The user's factors matter only for a step-up.
    let reachable = if acr < c.validated.acr.required() {
        reachable(ctx, &s.user.id).await?
    } else {
        acr
    };
    Ok(Some(Authentication {
        auth_time,
        // OpenID Connect Core §3.1.2.1: the signed-in user must be the one
        // the hint names; otherwise sign in (or login_required).
        matches_hint: c.hinted.as_ref().is_none_or(|h| *h == s.user.id),
        acr,
        reachable,
    }))
}

/// Runs the authorization request `request` (query or form body of
/// `/authorize`) for the session (if any). `Err` means a dependency failed
/// (a page with 500/503).
pub async fn authorize(
    ctx: &Ctx<'_>,
    request: &[u8],
    session: Option<&LiveSession>,
    progress: Progress,
    report: &mut Report,
) -> Result<Outcome, OAuthError> {
    match check(ctx, request, Entry::Authorize, report).await? {
        Ok(c) => proceed(ctx, c, session, progress, report).await,
        Err(outcome) => Ok(outcome),
    }
}

/// The checked request goes on: login, second factor, consent or the code.
async fn proceed(
    ctx: &Ctx<'_>,
    c: Checked,
    session: Option<&LiveSession>,
    progress: Progress,
    report: &mut Report,
) -> Result<Outcome, OAuthError> {
    let carried = c.carried.clone();
    let now = ctx.clock.now();
    let consent = match session {
        Some(s) => {
            ctx.store
                .consents()
                .get_consent(&s.user.id, &c.client.id)
                .await?
        }
        None => None,
    };
    let auth = authentication(ctx, &c, session).await?;
    if let Some(s) = session {
        report.subject = Some(s.user.id.clone());
        report.session_id = Some(s.session.id.clone());
    }
    let consent_policy = ConsentPolicy {
        first_party: c.client.first_party,
        first_party_offline_without_consent: ctx.settings.first_party_offline_without_consent,
    };
    let next = authorize::decide(
        &c.validated,
        auth,
        consent.as_ref().map(|c| &c.scopes),
        consent_policy,
        progress,
        now,
    );
    match next {
        Err(e) => respond_error(ctx, c.pushed.as_ref(), &c.validated.redirect, &e, report).await,
        Ok(Next::Login) => {
            let wrong_account = auth.is_some_and(|a| !a.matches_hint);
            let login_hint = match (c.validated.login_hint, &c.hinted) {
                (Some(h), _) => Some(h),
                (None, Some(sub)) => ctx
                    .store
                    .users()
                    .user_by_id(sub)
                    .await?
                    .map(|u| u.username.to_string()),
                (None, None) => None,
            };
            Ok(Outcome::Login {
                redirect_uri: c.validated.redirect.uri().to_owned(),
                client_name: c.client.name,
                request: carried,
                login_hint,
                message: wrong_account.then_some(LoginMessage::WrongAccount),
            })
        }
        Ok(Next::SecondFactor) => {
            let Some(s) = session else {
                return Err(OAuthError::server_error("a step-up without a session"));
            };
            Ok(Outcome::SecondFactor {
                redirect_uri: c.validated.redirect.uri().to_owned(),
                client_name: c.client.name,
                request: carried,
                offered: offered_factors(ctx, &s.user.id).await?,
                passkey_only: c.validated.acr.required() == Acr::PhishingResistant,
                message: None,
            })
        }
        Ok(Next::Consent) => {
            let Some(s) = session else {
                return Err(OAuthError::server_error("consent without a session"));
            };
            Ok(Outcome::Consent {
                redirect_uri: c.validated.redirect.uri().to_owned(),
                client_name: c.client.name,
                request: carried,
                scopes: c.validated.scope,
                username: s.user.username.to_string(),
            })
        }
        Ok(Next::Issue) => {
            let Some(s) = session else {
                return Err(OAuthError::server_error("issuing without a session"));
            };
            issue_code(ctx, &c.validated, c.pushed.as_ref(), s, now, report).await
        }
    }
}

async fn issue_code(
    ctx: &Ctx<'_>,
    v: &ValidatedAuthorize,
    pushed: Option<&TokenHash>,
    s: &LiveSession,
    now: DateTime<Utc>,
    report: &mut Report,
) -> Result<Outcome, OAuthError> {
    // docs/SECURITY.md invariant 2: 256-bit random, stored only as its SHA-256.
    let code = ctx.rng.token();
    let grant = Grant {
        id: ctx
            .rng
            .uuid_v7(u64::try_from(now.timestamp_millis()).unwrap_or_default()),
        client_id: v.client_id.clone(),
        user_id: s.user.id.clone(),
        scope: v.scope.clone(),
        session_id: Some(s.session.id.clone()),
        created_at: now,
        revoked_at: None,
    };
    let record = AuthorizationCode {
        code_hash: TokenHash::of(&code),
        grant_id: grant.id.clone(),
        client_id: v.client_id.clone(),
        user_id: s.user.id.clone(),
        redirect_uri: v.redirect.uri().to_owned(),
        scope: v.scope.clone(),
        nonce: v.nonce.clone(),
        code_challenge: v.pkce.as_ref().map(|(c, _)| c.clone()),
        code_challenge_method: v.pkce.as_ref().map(|(_, m)| (*m).to_owned()),
        session_id: Some(s.session.id.clone()),
        auth_time: s.session.auth_time.unwrap_or(now),
        amr: s.session.amr.clone(),
        // The acr claim: the first class asked for that the session meets.
        acr: Some(v.acr.claim(session_acr(&s.session)).as_str().to_owned()),
        resources: v.resources.clone(),
        claims: v.claims.clone(),
        dpop_jkt: v.dpop_jkt.clone(),
        created_at: now,
        expires_at: now
            + v.max_code_ttl
                .map_or(ctx.settings.code_ttl, |max| ctx.settings.code_ttl.min(max)),
        consumed_at: None,
    };
    let uow = ctx.store.begin().await?;
    // RFC 9126 §4: a pushed request yields at most one code; its completion
    // commits with the code, or nothing does.
    if let Some(hash) = pushed
        && !uow
            .pushed_requests()
            .complete_pushed_request(hash, now)
            .await?
    {
        report.refused = Some(Refusal::RequestUri("used"));
        return Ok(Outcome::Page(PageError::RequestUri));
    }
    uow.grants().insert_grant(&grant).await?;
    uow.codes().insert_code(&record).await?;
    uow.commit().await?;
    report.code_issued = Some(v.scope.clone());
    let params = v
        .redirect
        .response_params(&ctx.settings.issuer, vec![("code", code)]);
    Ok(Outcome::Respond {
        redirect: v.redirect.clone(),
        params,
    })
}

/// The session of a cookie value and its enabled user, when `accept`
/// takes the session (the one lookup of [`load_session`] and
/// [`load_pending`]).
async fn session_of(
    ctx: &Ctx<'_>,
    cookie_value: &str,
    accept: impl FnOnce(&Session) -> bool,
) -> Result<Option<LiveSession>, OAuthError> {
    let Some(session) = ctx
        .store
        .sessions()
        .session_by_hash(&TokenHash::of(cookie_value))
        .await?
    else {
        return Ok(None);
    };
    let Some(user_id) = session.user_id.clone().filter(|_| accept(&session)) else {
        return Ok(None);
    };
    let Some(user) = ctx
        .store
        .users()
        .user_by_id(&user_id)
        .await?
        .filter(|u| !u.disabled)
    else {
        return Ok(None);
    };
    Ok(Some(LiveSession { session, user }))
}

/// Loads the session for a cookie value: it must exist, not be ended, be
/// within its idle and absolute limits, and belong to an enabled user.
/// Records the activity.
pub async fn load_session(
    ctx: &Ctx<'_>,
    cookie_value: &str,
) -> Result<Option<LiveSession>, OAuthError> {
    let now = ctx.clock.now();
    let idle = ctx.settings.session_idle;
    let Some(live) = session_of(ctx, cookie_value, |s| s.is_live(now, idle)).await? else {
        return Ok(None);
    };
    ctx.store
        .sessions()
        .touch_session(&live.session.id, now)
        .await?;
    Ok(Some(live))
}

/// How long a user who passed the first factor has to give the second
/// (the pending session's life, docs/MFA.md).
pub const SECOND_FACTOR_WINDOW_SECS: i64 = 600;

/// Loads the pending sign-in for a cookie value: a session whose user passed
/// the first factor and owes the second (`second_factor_due`), started at
/// most [`SECOND_FACTOR_WINDOW_SECS`] ago, not ended, of an enabled user.
/// It signs nobody in ([`load_session`] ignores it).
pub async fn load_pending(
    ctx: &Ctx<'_>,
    cookie_value: &str,
) -> Result<Option<LiveSession>, OAuthError> {
    let now = ctx.clock.now();
    session_of(ctx, cookie_value, |s| {
        s.second_factor_due
            && s.ended_at.is_none()
            && now - s.created_at <= Duration::seconds(SECOND_FACTOR_WINDOW_SECS)
    })
    .await
}

/// The login form was posted.
pub struct LoginForm<'a> {
    /// The carried request.
    pub request: &'a str,
    /// The credentials and where they come from.
    pub credentials: Credentials<'a>,
}

/// A sign-in attempt: what the user typed and where it comes from.
pub struct Credentials<'a> {
    /// Username.
    pub username: &'a str,
    /// Password.
    pub password: &'a str,
    /// Client address.
    pub ip: &'a str,
    /// The browser's `User-Agent` (kept with the session, cut to 256
    /// characters).
    pub user_agent: Option<&'a str>,
}

/// The answer to [`sign_in`].
#[derive(Debug)]
pub enum SignIn {
    /// Signed in: the new session, and its cookie value.
    Started(Box<LiveSession>, NewSession),
    /// The password was right and the user owes the second factor: a
    /// pending session (it signs nobody in, [`load_pending`]) and its
    /// cookie value.
    SecondFactorDue(Box<LiveSession>, NewSession),
    /// The password was right but the user cannot meet what is required
    /// (no second factor): no session.
    Unmet,
    /// Refused, with the message the sign-in page shows.
    Refused(LoginMessage),
}

/// The methods (`amr`, RFC 8176) a session proved.
pub fn session_amr(s: &Session) -> Vec<String> {
    s.amr
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default()
}

/// The class a session meets: its stored `acr`, else the one its methods
/// give (sessions from before multi-factor sign-in).
pub fn session_acr(s: &Session) -> Acr {
    s.acr
        .as_deref()
        .and_then(Acr::parse)
        .unwrap_or_else(|| acr_of(&session_amr(s)))
}

/// The strongest class `user` can reach with the factors they have
/// (`mfa::Enrolled::reachable`).
pub async fn reachable(ctx: &Ctx<'_>, user: &UserId) -> Result<Acr, OAuthError> {
    Ok(super::mfa::enrolled(ctx.store, user).await?.reachable())
}

/// The second factors the second-factor page offers (a recovery code is
/// always offered): the user's confirmed factors.
pub type Offered = super::mfa::Enrolled;

/// Which second factors `user` can give (the second-factor page offers
/// them).
pub async fn offered_factors(ctx: &Ctx<'_>, user: &UserId) -> Result<Offered, OAuthError> {
    Ok(super::mfa::enrolled(ctx.store, user).await?)
}

/// What a new session records of its sign-in.
struct SessionStart<'a> {
    user: User,
    amr: Vec<String>,
    /// The user passed the first factor and owes the second.
    due: bool,
    /// When the user authenticated: now, except for a step-up, which adds a
    /// factor to an earlier sign-in and keeps its time (a factor alone is
    /// not a new sign-in for `prompt=login` or `max_age`).
    auth_time: DateTime<Utc>,
    ip: &'a str,
    user_agent: Option<&'a str>,
}

/// Starts a session for a sign-in: always a new cookie (docs/SECURITY.md
/// invariant 7). `previous` (the live or pending session in this browser)
/// of the same user is renewed in place and keeps its id, the `sid` its
/// clients hold (Back-Channel Logout 1.0 §2.5: a later logout reaches every
/// client of the browser session); of another user it ends as a logout.
async fn start_session(
    ctx: &Ctx<'_>,
    start: SessionStart<'_>,
    previous: Option<&Session>,
    now: DateTime<Utc>,
) -> Result<(Box<LiveSession>, NewSession), OAuthError> {
    let cookie_value = ctx.rng.token();
    let amr = serde_json::to_string(&start.amr).map_err(OAuthError::server_error)?;
    let mut session = Session {
        id: ctx.rng.uuid_v4(),
        id_hash: TokenHash::of(&cookie_value),
        user_id: Some(start.user.id.clone()),
        auth_time: Some(start.auth_time),
        amr: Some(amr),
        acr: (!start.due).then(|| acr_of(&start.amr).as_str().to_owned()),
        second_factor_due: start.due,
        created_at: now,
        last_seen_at: now,
        expires_at: now + ctx.settings.session_max,
        ended_at: None,
        ip: Some(start.ip.chars().take(64).collect()),
        user_agent: start
            .user_agent
            .map(|ua| ua.chars().filter(|c| !c.is_control()).take(256).collect()),
    };
    let uow = ctx.store.begin().await?;
    let renewed = match previous {
        // The same user signing in again (a step-up, `prompt=login`, the
        // second factor after the password) keeps the session id: the
        // grants made in it and the `sid` in its clients' ID tokens stay
        // the session's, so its logout revokes and tells them all.
        Some(prev) if prev.user_id.as_ref() == Some(&start.user.id) => {
            session.id.clone_from(&prev.id);
            let renewed = uow
                .sessions()
                .renew_session(&prev.id_hash, &session)
                .await?;
            if !renewed {
                // Ended or renewed by a concurrent request meanwhile: this
                // sign-in gets a session of its own.
                session.id = ctx.rng.uuid_v4();
            }
            renewed
        }
        // A session replaced by a sign-in of ANOTHER user ends as a logout
        // does: its online grants are revoked and its clients are told.
        Some(prev) => {
            crate::protocol::logout::end_session(uow.as_ref(), &prev.id, now).await?;
            false
        }
        None => false,
    };
    if !renewed {
        uow.sessions().insert_session(&session).await?;
    }
    uow.commit().await?;
    Ok((
        Box::new(LiveSession {
            session,
            user: start.user,
        }),
        NewSession { cookie_value },
    ))
}

/// Records a completed sign-in in the report.
fn completed(report: &mut Report, live: &LiveSession) {
    report.login_succeeded = true;
    report.subject = Some(live.user.id.clone());
    report.session_id = Some(live.session.id.clone());
    report.amr = session_amr(&live.session);
    report.acr = Some(session_acr(&live.session));
}

/// A throttle key, its policy and the message its lock shows.
type ThrottleKey = (String, ThrottlePolicy, LoginMessage);

/// The throttle keys of a sign-in attempt: the address; the (account,
/// address) pair at `PORTCULLIS_LOGIN_MAX_FAILURES`, so that an attacker
/// elsewhere cannot lock the user out; the account from every address at
/// the higher `PORTCULLIS_LOGIN_ACCOUNT_MAX_FAILURES`. An IPv6 address
/// counts as its /64 ([`throttle_address`]). An address never holds `|`,
/// so the keys cannot be confused (`user unlock` relies on it).
fn throttle_keys(s: &InteractionSettings, username: &str, ip: &str) -> [ThrottleKey; 3] {
    let name: String = username.chars().take(256).collect();
    let ip = throttle_address(ip);
    [
        (
            format!("ip:{ip}"),
            s.ip_throttle,
            LoginMessage::AddressThrottled,
        ),
        (
            format!("ip:{ip}|user:{name}"),
            s.user_throttle,
            LoginMessage::AccountLocked,
        ),
        (
            format!("user:{name}"),
            s.account_throttle,
            LoginMessage::AccountLocked,
        ),
    ]
}

/// Reserves a sign-in attempt on every key before the password is checked
/// (one atomic statement), so parallel attempts count as attempts and at
/// most the limit of them ever reach the password check. `Err(message)`: a
/// key is locked. `Ok(true)`: this is the last attempt the account may make
/// from here before it is locked.
async fn reserve_attempt(
    ctx: &Ctx<'_>,
    keys: &[ThrottleKey],
    now: DateTime<Utc>,
) -> Result<Result<bool, LoginMessage>, OAuthError> {
    let wanted: Vec<(&str, ThrottlePolicy)> =
        keys.iter().map(|(k, p, _)| (k.as_str(), *p)).collect();
    let answers = ctx.store.throttles().reserve_attempts(&wanted, now).await?;
    let mut last = false;
    for ((_, policy, message), answer) in keys.iter().zip(answers) {
        match answer {
            Reservation::Locked { .. } => return Ok(Err(*message)),
            Reservation::Allowed { attempt } => {
                last |= *message == LoginMessage::AccountLocked && attempt >= policy.max_failures;
            }
        }
    }
    Ok(Ok(last))
}

/// Checks credentials with throttling (docs/SECURITY.md invariant 6) and,
/// when they hold, starts a new session (a new id: invariant 7), ending
/// `previous`. The one sign-in of every hosted page: `/login` of an
/// authorization request and the account page's own sign-in. `hinted`:
/// the user an `id_token_hint` names (OpenID Connect Core §3.1.2.1); another
/// user is refused with [`LoginMessage::WrongAccount`] and no session.
///
/// A user with a second factor, or one the request requires it of
/// (`required` above [`Acr::OneFactor`]), gets a pending session
/// ([`SignIn::SecondFactorDue`]); one who cannot meet `required` gets
/// [`SignIn::Unmet`], after the password only (a factor's enrolment is
/// never told before it).
pub async fn sign_in(
    ctx: &Ctx<'_>,
    form: &Credentials<'_>,
    previous: Option<&LiveSession>,
    hinted: Option<&UserId>,
    required: Acr,
    report: &mut Report,
) -> Result<SignIn, OAuthError> {
    let now = ctx.clock.now();
    let s = ctx.settings;
    let keys = throttle_keys(s, form.username, form.ip);
    let last_attempt = match reserve_attempt(ctx, &keys, now).await? {
        Ok(last) => last,
        Err(message) => {
            report.login_failed = Some(LoginFailure::Locked);
            return Ok(SignIn::Refused(message));
        }
    };
    let user = match Username::parse(form.username) {
        Ok(u) => ctx.store.users().user_by_username(&u).await?,
        Err(_) => None,
    };
    let ok = ctx
        .passwords
        .verify(
            form.password,
            user.as_ref().map(|u| u.password_hash.as_str()),
        )
        .await
        .map_err(OAuthError::server_error)?;
    let known = user.is_some();
    if let Some(u) = user.as_ref().filter(|_| !ok) {
        // docs/EVENTS.md: `login_failed` names the account when it exists
        // (the account page's activity lists it).
        report.subject = Some(u.id.clone());
    }
    let Some(user) = user.filter(|_| ok) else {
        // A failed attempt keeps its reservations.
        report.login_failed = Some(if known {
            LoginFailure::BadPassword
        } else {
            LoginFailure::UnknownUser
        });
        let message = if last_attempt {
            LoginMessage::AccountLocked
        } else {
            LoginMessage::BadCredentials
        };
        return Ok(SignIn::Refused(message));
    };
    report.subject = Some(user.id.clone());
    if user.disabled {
        report.login_failed = Some(LoginFailure::Disabled);
        return Ok(SignIn::Refused(LoginMessage::Disabled));
    }
    // A success gives back only its own reservations; a lock stays.
    let reserved: Vec<&str> = keys.iter().map(|(k, _, _)| k.as_str()).collect();
    ctx.store.throttles().release_attempts(&reserved).await?;
    if s.require_verified_email && !user.email_verified {
        // Shown only after a correct password, like `Disabled`.
        report.login_failed = Some(LoginFailure::EmailNotVerified);
        return Ok(SignIn::Refused(LoginMessage::EmailNotVerified));
    }
    if hinted.is_some_and(|h| *h != user.id) {
        // OpenID Connect Core §3.1.2.1: the request is for the hinted user.
        return Ok(SignIn::Refused(LoginMessage::WrongAccount));
    }
    if required > Acr::OneFactor && reachable(ctx, &user.id).await? < required {
        report.login_failed = Some(LoginFailure::UnmetRequirements);
        return Ok(SignIn::Unmet);
    }
    let due = has_second_factor(ctx.store, &user.id).await?;
    let start = SessionStart {
        user,
        amr: amr_after(&[], &[FactorUsed::Password]),
        due,
        auth_time: now,
        ip: form.ip,
        user_agent: form.user_agent,
    };
    let (live, new) = start_session(ctx, start, previous.map(|p| &p.session), now).await?;
    if due {
        report.session_id = Some(live.session.id.clone());
        return Ok(SignIn::SecondFactorDue(live, new));
    }
    completed(report, &live);
    Ok(SignIn::Started(live, new))
}

/// A second factor as posted.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// A TOTP code.
    Totp(&'a str),
    /// A recovery code.
    RecoveryCode(&'a str),
    /// A passkey: the ceremony's handle and the browser's answer (JSON).
    Passkey {
        /// The ceremony handle.
        handle: &'a str,
        /// The credential JSON.
        credential: &'a str,
    },
}

/// Where a factor attempt comes from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// Client address.
    pub ip: &'a str,
    /// The browser's `User-Agent`.
    pub user_agent: Option<&'a str>,
}

/// The throttle keys of a second-factor attempt (docs/MFA.md): the address,
/// and the account (`mfa:user:<id>`, at `PORTCULLIS_LOGIN_MAX_FAILURES`:
/// whoever gets here knows the password).
fn factor_throttle_keys(s: &InteractionSettings, user: &UserId, ip: &str) -> [ThrottleKey; 2] {
    let ip = throttle_address(ip);
    [
        (
            format!("ip:{ip}"),
            s.ip_throttle,
            LoginMessage::AddressThrottled,
        ),
        (
            format!("mfa:user:{}", user.as_str()),
            s.user_throttle,
            LoginMessage::AccountLocked,
        ),
    ]
}

/// Checks a second factor for `session` (pending after the password, or
/// live for a step-up) with throttling reserved before the check (atomic,
/// like passwords) and, when it holds, starts a NEW session whose methods
/// add the factor to the session's (`amr_after`), ending `session`.
/// `Ok(Err(message))`: refused (the second-factor page shows `message`).
pub async fn second_factor(
    ctx: &Ctx<'_>,
    session: &LiveSession,
    proof: Proof<'_>,
    origin: Origin<'_>,
    report: &mut Report,
) -> Result<Result<(Box<LiveSession>, NewSession), LoginMessage>, OAuthError> {
    let now = ctx.clock.now();
    let user = &session.user;
    report.subject = Some(user.id.clone());
    let keys = factor_throttle_keys(ctx.settings, &user.id, origin.ip);
    let last_attempt = match reserve_attempt(ctx, &keys, now).await? {
        Ok(last) => last,
        Err(message) => {
            report.login_failed = Some(LoginFailure::Locked);
            return Ok(Err(message));
        }
    };
    let reserved: Vec<&str> = keys.iter().map(|(k, _, _)| k.as_str()).collect();
    let verified: Result<Option<FactorUsed>, OAuthError> = async {
        Ok(match proof {
            Proof::Totp(code) => verify_totp(ctx.store, ctx.secrets, &user.id, code.trim(), now)
                .await?
                .then_some(FactorUsed::Totp),
            // A recovery code stands in for a factor the user has: without
            // one (the last was removed) no code counts (docs/MFA.md).
            Proof::RecoveryCode(code) => (has_second_factor(ctx.store, &user.id).await?
                && use_recovery_code(ctx.store, &user.id, code, now).await?)
                .then_some(FactorUsed::RecoveryCode),
            Proof::Passkey { handle, credential } => passkey::verify_authentication(
                ctx.store,
                ctx.webauthn,
                handle,
                credential,
                CeremonyKind::SecondFactor,
                Some(&user.id),
                now,
            )
            .await?
            .filter(|(id, _)| *id == user.id)
            .map(|(_, method)| method),
        })
    }
    .await;
    let given = match verified {
        Ok(given) => given,
        Err(e) => {
            // A dependency failed (KMS, the database): the attempt did not
            // happen, so it does not count against the user (docs/MFA.md).
            if let Err(release) = ctx.store.throttles().release_attempts(&reserved).await {
                tracing::warn!(error = %release, "second factor: releasing the attempt failed");
            }
            return Err(e);
        }
    };
    let Some(given) = given else {
        // A failed attempt keeps its reservations.
        report.login_failed = Some(LoginFailure::BadSecondFactor);
        return Ok(Err(if last_attempt {
            LoginMessage::AccountLocked
        } else if matches!(proof, Proof::Passkey { .. }) {
            LoginMessage::PasskeyRefused
        } else {
            LoginMessage::BadSecondFactor
        }));
    };
    ctx.store.throttles().release_attempts(&reserved).await?;
    let start = SessionStart {
        user: user.clone(),
        amr: amr_after(&session_amr(&session.session), &[given]),
        due: false,
        auth_time: if session.session.second_factor_due {
            now
        } else {
            session.session.auth_time.unwrap_or(now)
        },
        ip: origin.ip,
        user_agent: origin.user_agent,
    };
    let (live, new) = start_session(ctx, start, Some(&session.session), now).await?;
    completed(report, &live);
    Ok(Ok((live, new)))
}

/// A passwordless sign-in with a passkey (discoverable credential, user
/// verification required: docs/MFA.md), throttled per address; ends
/// `previous`. `hinted`: as for [`sign_in`].
pub async fn passkey_sign_in(
    ctx: &Ctx<'_>,
    handle: &str,
    credential: &str,
    origin: Origin<'_>,
    previous: Option<&LiveSession>,
    hinted: Option<&UserId>,
    report: &mut Report,
) -> Result<Result<(Box<LiveSession>, NewSession), LoginMessage>, OAuthError> {
    let now = ctx.clock.now();
    let s = ctx.settings;
    let keys = [(
        format!("ip:{}", throttle_address(origin.ip)),
        s.ip_throttle,
        LoginMessage::AddressThrottled,
    )];
    if let Err(message) = reserve_attempt(ctx, &keys, now).await? {
        report.login_failed = Some(LoginFailure::Locked);
        return Ok(Err(message));
    }
    let verified = match passkey::verify_authentication(
        ctx.store,
        ctx.webauthn,
        handle,
        credential,
        CeremonyKind::Passwordless,
        None,
        now,
    )
    .await
    {
        Ok(v) => v,
        Err(e) => {
            // A dependency failed: the attempt does not count.
            if let Err(release) = ctx
                .store
                .throttles()
                .release_attempts(&[keys[0].0.as_str()])
                .await
            {
                tracing::warn!(error = %release, "passkey sign-in: releasing the attempt failed");
            }
            return Err(e);
        }
    };
    let found = match verified {
        Some((id, method)) => ctx
            .store
            .users()
            .user_by_id(&id)
            .await?
            .map(|u| (u, method)),
        None => None,
    };
    let Some((user, method)) = found else {
        report.login_failed = Some(LoginFailure::BadSecondFactor);
        return Ok(Err(LoginMessage::PasskeyRefused));
    };
    report.subject = Some(user.id.clone());
    if user.disabled {
        report.login_failed = Some(LoginFailure::Disabled);
        return Ok(Err(LoginMessage::Disabled));
    }
    ctx.store
        .throttles()
        .release_attempts(&[keys[0].0.as_str()])
        .await?;
    if s.require_verified_email && !user.email_verified {
        report.login_failed = Some(LoginFailure::EmailNotVerified);
        return Ok(Err(LoginMessage::EmailNotVerified));
    }
    if hinted.is_some_and(|h| *h != user.id) {
        return Ok(Err(LoginMessage::WrongAccount));
    }
    let start = SessionStart {
        user,
        amr: amr_after(&[], &[method]),
        due: false,
        auth_time: now,
        ip: origin.ip,
        user_agent: origin.user_agent,
    };
    let (live, new) = start_session(ctx, start, previous.map(|p| &p.session), now).await?;
    completed(report, &live);
    Ok(Ok((live, new)))
}

/// The login form of an authorization request was posted: [`sign_in`],
/// then the authorization goes on.
pub async fn login(
    ctx: &Ctx<'_>,
    form: LoginForm<'_>,
    previous: Option<&LiveSession>,
    report: &mut Report,
) -> Result<(Outcome, Option<NewSession>), OAuthError> {
    let c = match check(ctx, form.request.as_bytes(), Entry::Carried, report).await? {
        Ok(c) => c,
        Err(outcome) => return Ok((outcome, None)),
    };
    let required = c.validated.acr.required();
    let signed = sign_in(
        ctx,
        &form.credentials,
        previous,
        c.hinted.as_ref(),
        required,
        report,
    )
    .await?;
    let (live, new) = match signed {
        SignIn::Started(live, new) => (live, new),
        SignIn::SecondFactorDue(live, new) => {
            let page = Outcome::SecondFactor {
                client_name: c.client.name.clone(),
                redirect_uri: c.validated.redirect.uri().to_owned(),
                request: c.carried.clone(),
                offered: offered_factors(ctx, &live.user.id).await?,
                passkey_only: c.validated.acr.required() == Acr::PhishingResistant,
                message: None,
            };
            return Ok((page, Some(new)));
        }
        SignIn::Unmet => {
            let err = OAuthError::new(
                ErrorCode::UnmetAuthenticationRequirements,
                "the user cannot meet the required authentication context class",
            );
            let outcome =
                respond_error(ctx, c.pushed.as_ref(), &c.validated.redirect, &err, report).await?;
            return Ok((outcome, None));
        }
        SignIn::Refused(message) => {
            let page = Outcome::Login {
                client_name: c.client.name.clone(),
                redirect_uri: c.validated.redirect.uri().to_owned(),
                request: c.carried.clone(),
                login_hint: Some(form.credentials.username.to_owned()),
                message: Some(message),
            };
            return Ok((page, None));
        }
    };
    let progress = Progress {
        just_authenticated: true,
        just_consented: false,
    };
    let outcome = proceed(ctx, c, Some(&*live), progress, report).await?;
    Ok((outcome, Some(new)))
}

/// Whether the live `session` needs a step-up for the checked request:
/// `authorize` would show it the second-factor page (its class is below
/// what the request or the client requires, and nothing else comes first).
async fn step_up_needed(
    ctx: &Ctx<'_>,
    c: &Checked,
    session: &LiveSession,
) -> Result<bool, OAuthError> {
    let consent = ctx
        .store
        .consents()
        .get_consent(&session.user.id, &c.client.id)
        .await?;
    let auth = authentication(ctx, c, Some(session)).await?;
    let policy = ConsentPolicy {
        first_party: c.client.first_party,
        first_party_offline_without_consent: ctx.settings.first_party_offline_without_consent,
    };
    let next = authorize::decide(
        &c.validated,
        auth,
        consent.as_ref().map(|c| &c.scopes),
        policy,
        Progress::default(),
        ctx.clock.now(),
    );
    Ok(matches!(next, Ok(Next::SecondFactor)))
}

/// How a sign-in step of an authorization request was completed: a second
/// factor for `session`, or a passwordless passkey.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// A second factor for the pending (or live, for a step-up) session.
    SecondFactor(Option<&'a LiveSession>, Proof<'a>),
    /// A passwordless passkey; `previous` is the live session it replaces.
    Passwordless {
        /// The live session, if any.
        previous: Option<&'a LiveSession>,
        /// The ceremony handle.
        handle: &'a str,
        /// The credential JSON.
        credential: &'a str,
    },
}

/// The second-factor page or a passkey of an authorization request was
/// posted: [`second_factor`] or [`passkey_sign_in`], then the
/// authorization goes on as after a sign-in. A second factor without a
/// session (it ended, or expired) starts over at the login page.
pub async fn factor_login(
    ctx: &Ctx<'_>,
    request: &str,
    step: Step<'_>,
    origin: Origin<'_>,
    report: &mut Report,
) -> Result<(Outcome, Option<NewSession>), OAuthError> {
    let c = match check(ctx, request.as_bytes(), Entry::Carried, report).await? {
        Ok(c) => c,
        Err(outcome) => return Ok((outcome, None)),
    };
    let result = match step {
        Step::SecondFactor(None, _) => {
            let mut outcome = proceed(ctx, c, None, Progress::default(), report).await?;
            if let Outcome::Login { message, .. } = &mut outcome {
                *message = Some(LoginMessage::SignInExpired);
            }
            return Ok((outcome, None));
        }
        Step::SecondFactor(Some(session), proof) => {
            if !session.session.second_factor_due && !step_up_needed(ctx, &c, session).await? {
                // A live session gives a second factor only when the request
                // asks more than the session proved (a step-up); otherwise
                // the request goes on as it would (a sign-in for
                // `prompt=login`, the consent, the code), nothing verified.
                let outcome = proceed(ctx, c, Some(session), Progress::default(), report).await?;
                return Ok((outcome, None));
            }
            match second_factor(ctx, session, proof, origin, report).await? {
                Ok(done) => Ok(done),
                Err(message) => Err((Some(session), message)),
            }
        }
        Step::Passwordless {
            previous,
            handle,
            credential,
        } => passkey_sign_in(
            ctx,
            handle,
            credential,
            origin,
            previous,
            c.hinted.as_ref(),
            report,
        )
        .await?
        .map_err(|m| (None, m)),
    };
    // A step-up adds a factor to an earlier sign-in: it is not a sign-in
    // of this request (`prompt=login`, `max_age` still ask for one).
    let signed_in_now = match step {
        Step::SecondFactor(Some(s), _) => s.session.second_factor_due,
        Step::SecondFactor(None, _) | Step::Passwordless { .. } => true,
    };
    match result {
        Ok((live, new)) => {
            let progress = Progress {
                just_authenticated: signed_in_now,
                just_consented: false,
            };
            let outcome = proceed(ctx, c, Some(&*live), progress, report).await?;
            Ok((outcome, Some(new)))
        }
        Err((Some(session), message)) => {
            let page = Outcome::SecondFactor {
                client_name: c.client.name,
                redirect_uri: c.validated.redirect.uri().to_owned(),
                request: c.carried,
                offered: offered_factors(ctx, &session.user.id).await?,
                passkey_only: c.validated.acr.required() == Acr::PhishingResistant,
                message: Some(message),
            };
            Ok((page, None))
        }
        Err((None, message)) => {
            let page = Outcome::Login {
                client_name: c.client.name,
                redirect_uri: c.validated.redirect.uri().to_owned(),
                request: c.carried,
                login_hint: c.validated.login_hint,
                message: Some(message),
            };
            Ok((page, None))
        }
    }
}

/// The consent form was posted with `allow`.
pub async fn consent(
    ctx: &Ctx<'_>,
    request: &str,
    allow: bool,
    session: Option<&LiveSession>,
    report: &mut Report,
) -> Result<Outcome, OAuthError> {
    let c = match check(ctx, request.as_bytes(), Entry::Carried, report).await? {
        Ok(c) => c,
        Err(outcome) => return Ok(outcome),
    };
    let Some(s) = session else {
        // The session ended meanwhile: start over with a sign-in.
        return proceed(ctx, c, None, Progress::default(), report).await;
    };
    report.subject = Some(s.user.id.clone());
    report.session_id = Some(s.session.id.clone());
    if !allow {
        report.consent = Some(Err(c.validated.scope.clone()));
        let err = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
        return respond_error(ctx, c.pushed.as_ref(), &c.validated.redirect, &err, report).await;
    }
    let now = ctx.clock.now();
    record_consent(ctx, &s.user.id, &c.client.id, &c.validated.scope, now).await?;
    report.consent = Some(Ok(c.validated.scope.clone()));
    // The sign-in that led to this consent page still counts for
    // `prompt=login` and `max_age`: one sign-in, not two.
    let v = &c.validated;
    let reauthentication = v.prompt.login || v.prompt.select_account || v.max_age.is_some();
    let progress = Progress {
        just_authenticated: reauthentication
            && fresh_sign_in(ctx, s, sign_in_window(v.max_age), now).await?,
        just_consented: true,
    };
    proceed(ctx, c, Some(s), progress, report).await
}

/// Records that `user` granted `scope` to `client` (added to what they
/// granted before): the consent `/consent` and the device flow's approval
/// keep, which the account page lists and revokes.
pub async fn record_consent(
    ctx: &Ctx<'_>,
    user: &UserId,
    client: &ClientId,
    scope: &ScopeSet,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    let previous = ctx.store.consents().get_consent(user, client).await?;
    let mut scopes: Vec<String> = scope.iter().map(str::to_owned).collect();
    if let Some(p) = &previous {
        scopes.extend(p.scopes.iter().map(str::to_owned));
    }
    let scopes = ScopeSet::from_tokens(&scopes).map_err(OAuthError::server_error)?;
    ctx.store
        .consents()
        .upsert_consent(&Consent {
            user_id: user.clone(),
            client_id: client.clone(),
            scopes,
            created_at: previous.map_or(now, |p| p.created_at),
            updated_at: now,
            revoked_at: None,
        })
        .await?;
    Ok(())
}

/// How long ago a sign-in may have happened and still carry through the
/// consent page: [`FRESH_SIGN_IN_SECS`], and with `max_age=N` (N > 0) at
/// most N seconds, since OpenID Connect Core §3.1.2.1 wants the user
/// authenticated again once `max_age` has passed, consent page or not.
/// `max_age=0` and `prompt=login` ask for a sign-in during this
/// interaction, which the sign-in that led to the consent page is.
fn sign_in_window(max_age: Option<i64>) -> Duration {
    match max_age {
        Some(n) if n > 0 => Duration::seconds(n.min(FRESH_SIGN_IN_SECS)),
        _ => Duration::seconds(FRESH_SIGN_IN_SECS),
    }
}

/// Whether the session's sign-in happened for this interaction: the
/// session was started or renewed by a sign-in (every sign-in sets
/// `created_at`; a step-up keeps the earlier `auth_time`) at most `window`
/// ago ([`sign_in_window`]), and no code was issued from it since. A
/// sign-in that has issued a code is used, so a later `prompt=login`
/// request asks again.
async fn fresh_sign_in(
    ctx: &Ctx<'_>,
    s: &LiveSession,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<bool, OAuthError> {
    let started = s.session.created_at;
    if s.session.auth_time != Some(started) || now - started > window {
        return Ok(false);
    }
    Ok(!ctx
        .store
        .grants()
        .session_has_grants_since(&s.session.id, started)
        .await?)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};

    use super::*;

    fn policy(max_failures: u32) -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures,
            window: Duration::minutes(15),
            lockout: Duration::minutes(15),
        }
    }

    #[test]
    fn second_factor_attempts_count_per_account_and_per_address() {
        let s = InteractionSettings {
            issuer: "https://id.example".into(),
            code_ttl: Duration::minutes(1),
            session_idle: Duration::hours(1),
            session_max: Duration::hours(8),
            pkce_allow_plain: false,
            user_throttle: policy(5),
            account_throttle: policy(20),
            ip_throttle: policy(100),
            first_party_offline_without_consent: false,
            require_verified_email: false,
            par_lifetime: Duration::seconds(60),
            require_pushed: false,
            request_uri_external: false,
        };
        let user = UserId::new("u-1".to_owned());
        let keys = factor_throttle_keys(&s, &user, "192.0.2.7");
        assert_eq!(keys[0].0, "ip:192.0.2.7");
        assert_eq!(keys[0].1, s.ip_throttle);
        assert_eq!(keys[1].0, "mfa:user:u-1");
        assert_eq!(keys[1].1, s.user_throttle);
        assert_eq!(keys[1].2, LoginMessage::AccountLocked);
        // Never a password key: a username cannot start with "mfa:".
        let password = throttle_keys(&s, "u-1", "192.0.2.7");
        assert!(password.iter().all(|(k, _, _)| !k.starts_with("mfa:")));
    }

    #[test]
    fn a_session_without_acr_meets_what_its_methods_give() {
        let now = Utc::now();
        let session = |amr: Option<&str>, acr: Option<&str>| Session {
            id: "s".into(),
            id_hash: TokenHash::of("c"),
            user_id: None,
            auth_time: Some(now),
            amr: amr.map(str::to_owned),
            acr: acr.map(str::to_owned),
            second_factor_due: false,
            created_at: now,
            last_seen_at: now,
            expires_at: now,
            ended_at: None,
            ip: None,
            user_agent: None,
        };
        for (amr, acr, want) in [
            (Some(r#"["pwd"]"#), None, Acr::OneFactor),
            (Some(r#"["pwd","otp","mfa"]"#), None, Acr::TwoFactor),
            (None, None, Acr::OneFactor),
            (Some(r#"["pwd"]"#), Some("phr"), Acr::PhishingResistant),
            (
                Some(r#"["pwd","otp","mfa"]"#),
                Some("bogus"),
                Acr::TwoFactor,
            ),
        ] {
            assert_eq!(session_acr(&session(amr, acr)), want, "{amr:?} {acr:?}");
        }
    }

    #[test]
    fn a_sign_in_carries_through_consent_no_longer_than_max_age() {
        for (max_age, secs) in [
            (None, 600),
            (Some(0), 600),
            (Some(1), 1),
            (Some(60), 60),
            (Some(600), 600),
            (Some(86_400), 600),
        ] {
            assert_eq!(
                sign_in_window(max_age),
                Duration::seconds(secs),
                "{max_age:?}"
            );
        }
    }
}
