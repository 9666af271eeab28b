//! The OpenID Shared Signals Framework 1.0 transmitter (docs/EVENTS.md,
//! "Shared Signals"): the stream management API's operations over the
//! store ([`Transmitter`]), the fan-out of events to the streams that
//! asked for them ([`SignalFanout`]), and the push delivery of their SETs
//! (RFC 8935, [`attempt`]).
//!
//! 1. A receiver (a client holding `ssf:receiver`) creates its stream
//!    with a push endpoint, asks for event types and adds the users it
//!    wants to hear about (`default_subjects` is `NONE`).
//! 2. An event that raises a signal (`protocol::ssf::Signal::of`: a
//!    logout, a password change, a user disabled, ...) reaches the
//!    delivering sink (`app::fanout`), whose writer task asks
//!    [`SignalFanout`] for the streams that carry it: not disabled, the
//!    user among their subjects, the user signed in to the receiver (SSF
//!    1.0 §10.2: a receiver hears only of its own users), the event type
//!    requested. One delivery per stream goes into the durable outbox
//!    (`outbound_deliveries`, kind [`SSF_SET`]); its id is derived from
//!    the stream and the event, so that queueing twice is harmless.
//! 3. The delivery worker (`app::backchannel`) claims it and calls
//!    [`attempt`]: a SET is signed afresh (`typ` `secevent+jwt`, `jti` the
//!    delivery id, `txn` the event id, `sub_id` `iss_sub`, no `sub`, no
//!    `exp`: SSF 1.0 §4) and POSTed as `application/secevent+jwt` through
//!    the hardened outbound client, with the receiver's
//!    `authorization_header`. A 2xx is delivered; anything else is retried
//!    with backoff until `PORTCULLIS_DELIVERY_MAX_AGE_SECS`. A paused
//!    stream holds its deliveries (re-checked every [`PAUSED_RECHECK`]); a
//!    disabled or deleted one drops them.

use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::backchannel::{ATTEMPT_TIMEOUT, Deliverer, Outcome, retry_after_signing_failure};
use super::fanout::Fanout;
use super::outbox::backoff;
use crate::domain::ClientId;
use crate::domain::event::Event;
use crate::domain::ssf::{Stream, StreamStatus};
use crate::ports::deliveries::{Delivery, SSF_SET};
use crate::ports::{Clock, Rng, SecretBox, Store, StoreError};
use crate::protocol::ssf::{
    self, MgmtError, Signal, StatusRequest, StreamOp, StreamRequest, SubjectRef,
};

/// How often a delivery of a paused stream is looked at again.
pub const PAUSED_RECHECK: Duration = Duration::seconds(5);
/// How soon a delivery waiting behind an earlier one of its stream is
/// looked at again.
pub const IN_ORDER_RECHECK: Duration = Duration::seconds(1);
/// The most of a receiver's answer read (its error, RFC 8935 §2.3).
const MAX_ANSWER_BYTES: usize = 4096;
/// The media type of a pushed SET (RFC 8935 §2).
pub const SECEVENT_MEDIA_TYPE: &str = "application/secevent+jwt";

/// Why a management call failed.
#[derive(Debug, thiserror::Error)]
pub enum SsfError {
    /// The request was refused (400, 404, 409, 429); nothing changed.
    #[error("{0:?}")]
    Refused(MgmtError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing or opening the authorization header failed.
    #[error("{0}")]
    Secret(String),
}

impl From<MgmtError> for SsfError {
    fn from(e: MgmtError) -> Self {
        Self::Refused(e)
    }
}

/// What a stream's delivery carries (its payload, JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "set", rename_all = "snake_case")]
pub enum SetPayload {
    /// A signal raised by `event`.
    Signal {
        /// The stream.
        stream_id: String,
        /// The event (as stored: redacted).
        event: Box<Event>,
    },
    /// A verification event (SSF 1.0 §8.1.4).
    Verification {
        /// The stream.
        stream_id: String,
        /// The receiver's `state`.
        state: Option<String>,
    },
    /// A stream updated event (SSF 1.0 §8.1.5).
    StreamUpdated {
        /// The stream.
        stream_id: String,
        /// The new status.
        status: String,
        /// Why.
        reason: Option<String>,
    },
}

impl SetPayload {
    fn stream_id(&self) -> &str {
        match self {
            Self::Signal { stream_id, .. }
            | Self::Verification { stream_id, .. }
            | Self::StreamUpdated { stream_id, .. } => stream_id,
        }
    }
}

/// A delivery id (at most 64 characters, stable for what it carries).
fn delivery_id(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("\n").as_bytes());
    format!(
        "ssf:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

fn delivery(stream: &Stream, id: String, payload: &SetPayload, now: DateTime<Utc>) -> Delivery {
    Delivery::new(
        id,
        SSF_SET,
        Some(stream.client_id.clone()),
        stream.endpoint_url.clone(),
        serde_json::to_string(payload).unwrap_or_default(),
        now,
    )
}

/// The stream management API's operations, for one receiver at a time.
pub struct Transmitter<'a> {
    /// The store.
    pub store: &'a dyn Store,
    /// Seals the receivers' authorization headers.
    pub secrets: &'a dyn SecretBox,
    /// Time.
    pub clock: &'a dyn Clock,
    /// Stream ids.
    pub rng: &'a dyn Rng,
    /// Our issuer (`iss`).
    pub issuer: &'a str,
    /// Whether endpoints may be http or internal (tests only).
    pub allow_insecure: bool,
}

impl Transmitter<'_> {
    /// The stream `id` of `receiver` (404 for another receiver's: a
    /// receiver cannot tell it from none).
    async fn own(&self, receiver: &ClientId, id: &str) -> Result<Stream, SsfError> {
        // Ours are 43 base64url characters: anything else names no stream
        // (and a NUL would not even reach PostgreSQL).
        if id.is_empty() || id.len() > 64 || id.chars().any(char::is_control) {
            return Err(MgmtError::NotFound.into());
        }
        match self.store.streams().get_stream(id).await? {
            Some(s) if &s.client_id == receiver => Ok(s),
            _ => Err(MgmtError::NotFound.into()),
        }
    }

    async fn seal(
        &self,
        stream_id: &str,
        header: Option<&str>,
    ) -> Result<Option<String>, SsfError> {
        match header {
            None => Ok(None),
            Some(h) => self
                .secrets
                .seal(&Stream::header_context(stream_id), h.as_bytes())
                .await
                .map(Some)
                .map_err(|e| SsfError::Secret(e.to_string())),
        }
    }

    /// Creates the receiver's stream (SSF 1.0 §8.1.1.1): 201 with its
    /// configuration; 409 when it has one (one stream per receiver).
    pub async fn create(&self, receiver: &ClientId, body: &Value) -> Result<Value, SsfError> {
        let req = StreamRequest::parse(body, StreamOp::Create, self.allow_insecure)?;
        if self
            .store
            .streams()
            .stream_of_client(receiver)
            .await?
            .is_some()
        {
            return Err(MgmtError::Conflict.into());
        }
        let now = self.clock.now();
        let id = self.rng.token();
        let stream = Stream {
            authorization_header: self.seal(&id, req.authorization_header.as_deref()).await?,
            id,
            client_id: receiver.clone(),
            endpoint_url: req.endpoint_url.unwrap_or_default(),
            events_requested: req.events_requested.unwrap_or_default(),
            description: req.description,
            status: StreamStatus::Enabled,
            reason: None,
            status_by_transmitter: false,
            verified_at: None,
            created_at: now,
            updated_at: now,
        };
        match self.store.streams().insert_stream(&stream).await {
            Ok(()) => Ok(ssf::stream_config(self.issuer, &stream)),
            Err(StoreError::Conflict(_)) => Err(MgmtError::Conflict.into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads one stream (200, its configuration) or, without a
    /// `stream_id`, the receiver's streams (a list, empty when none).
    pub async fn read(&self, receiver: &ClientId, id: Option<&str>) -> Result<Value, SsfError> {
        match id {
            Some(id) => Ok(ssf::stream_config(
                self.issuer,
                &self.own(receiver, id).await?,
            )),
            None => Ok(Value::Array(
                self.store
                    .streams()
                    .stream_of_client(receiver)
                    .await?
                    .iter()
                    .map(|s| ssf::stream_config(self.issuer, s))
                    .collect(),
            )),
        }
    }

    /// Updates (`PATCH`) or replaces (`PUT`) a stream's receiver-supplied
    /// members (SSF 1.0 §8.1.1.3, §8.1.1.4); 200 with the configuration.
    pub async fn change(
        &self,
        receiver: &ClientId,
        body: &Value,
        op: StreamOp,
    ) -> Result<Value, SsfError> {
        let req = StreamRequest::parse(body, op, self.allow_insecure)?;
        let id = req.stream_id.clone().unwrap_or_default();
        let mut stream = self.own(receiver, &id).await?;
        req.check_transmitter_supplied(&ssf::stream_config(self.issuer, &stream))?;
        if let Some(url) = req.endpoint_url {
            stream.endpoint_url = url;
        }
        // A replace deletes an absent header (SSF 1.0 §8.1.1.4); an update
        // changes it only when given, or removes it when given as null
        // (the header is never read back, so a read-modify-write must not
        // lose it silently).
        if req.authorization_header.is_some() || req.header_cleared || op == StreamOp::Replace {
            stream.authorization_header =
                self.seal(&id, req.authorization_header.as_deref()).await?;
        }
        if op == StreamOp::Replace {
            stream.events_requested = req.events_requested.unwrap_or_default();
            stream.description = req.description;
        } else {
            if let Some(e) = req.events_requested {
                stream.events_requested = e;
            }
            if req.description.is_some() {
                stream.description = req.description;
            }
        }
        stream.updated_at = self.clock.now();
        if !self.store.streams().update_stream(&stream).await? {
            return Err(MgmtError::NotFound.into());
        }
        Ok(ssf::stream_config(self.issuer, &stream))
    }

    /// Deletes a stream, its subjects and what it still had to deliver
    /// (dropped at their next attempt); 204.
    pub async fn delete(&self, receiver: &ClientId, id: &str) -> Result<(), SsfError> {
        self.own(receiver, id).await?;
        if !self.store.streams().delete_stream(id).await? {
            return Err(MgmtError::NotFound.into());
        }
        Ok(())
    }

    /// A stream's status (SSF 1.0 §8.1.2.1).
    pub async fn status(&self, receiver: &ClientId, id: &str) -> Result<Value, SsfError> {
        Ok(ssf::stream_status(&self.own(receiver, id).await?))
    }

    /// The receiver changes its stream's status (SSF 1.0 §8.1.2.2): paused
    /// holds events, disabled drops them, enabled sends what was held. No
    /// stream-updated event: the receiver asked for it.
    pub async fn set_status(&self, receiver: &ClientId, body: &Value) -> Result<Value, SsfError> {
        let req = StatusRequest::parse(body)?;
        let stream = self.own(receiver, &req.stream_id).await?;
        // A pause or disable the transmitter decided stays until the
        // transmitter lifts it (SSF 1.0 §8.1.2.2 allows 403).
        if stream.status_by_transmitter
            && stream.status != StreamStatus::Enabled
            && req.status != stream.status
        {
            return Err(MgmtError::Forbidden.into());
        }
        let now = self.clock.now();
        self.store
            .streams()
            .set_stream_status(
                &req.stream_id,
                req.status,
                req.reason.as_deref(),
                false,
                now,
            )
            .await?
            .ok_or(MgmtError::NotFound)?;
        Ok(ssf::stream_status(
            &self.own(receiver, &req.stream_id).await?,
        ))
    }

    /// The users a subject names: the user with this `sub`, or those whose
    /// VERIFIED address this is (an unverified address proves nothing) and
    /// who gave the receiver their address (a live grant of its client with
    /// the `email` scope): a receiver cannot learn which `sub` an address it
    /// guessed belongs to (SSF 1.0 §10.1).
    async fn users_of(
        &self,
        receiver: &ClientId,
        subject: &SubjectRef,
    ) -> Result<Vec<String>, SsfError> {
        let users = match subject {
            SubjectRef::Sub(sub) => self
                .store
                .users()
                .user_by_id(&crate::domain::UserId::new(sub.clone()))
                .await?
                .into_iter()
                .collect(),
            SubjectRef::Email(email) => self
                .store
                .users()
                .users_by_email(email)
                .await?
                .into_iter()
                .filter(|u| u.email_verified)
                .collect::<Vec<_>>(),
        };
        let mut named = Vec::with_capacity(users.len());
        for user in users {
            if let SubjectRef::Email(_) = subject {
                let owner = crate::ports::repositories::OwnerFilter {
                    user: Some(&user.id),
                    client: Some(receiver),
                };
                let grants = self
                    .store
                    .grants()
                    .list_live_grants(owner, None, 100)
                    .await?;
                if !grants.iter().any(|g| g.scope.contains("email")) {
                    continue;
                }
            }
            named.push(user);
        }
        let users = named;
        Ok(users
            .into_iter()
            .map(|u| u.id.as_str().to_owned())
            .collect())
    }

    /// Adds a subject (SSF 1.0 §8.1.3.2): 200 whether or not it is one of
    /// our users (§10.1: no subject probing; an unknown one is not kept).
    pub async fn add_subject(&self, receiver: &ClientId, body: &Value) -> Result<(), SsfError> {
        let (id, subject) = ssf::parse_subject_request(body, self.issuer)?;
        self.own(receiver, &id).await?;
        let now = self.clock.now();
        for user in self.users_of(receiver, &subject).await? {
            self.store.streams().add_subject(&id, &user, now).await?;
        }
        Ok(())
    }

    /// Removes a subject (SSF 1.0 §8.1.3.3): 204 whether or not it was
    /// there.
    pub async fn remove_subject(&self, receiver: &ClientId, body: &Value) -> Result<(), SsfError> {
        let (id, subject) = ssf::parse_subject_request(body, self.issuer)?;
        self.own(receiver, &id).await?;
        for user in self.users_of(receiver, &subject).await? {
            self.store.streams().remove_subject(&id, &user).await?;
        }
        Ok(())
    }

    /// Queues a verification event (SSF 1.0 §8.1.4.2): 204; 429 when the
    /// previous request is less than `min_verification_interval` old (one
    /// conditional update: of parallel requests, one is queued).
    pub async fn verify(&self, receiver: &ClientId, body: &Value) -> Result<(), SsfError> {
        let (id, state) = ssf::parse_verification(body)?;
        let stream = self.own(receiver, &id).await?;
        let now = self.clock.now();
        let not_before = now - Duration::seconds(ssf::MIN_VERIFICATION_INTERVAL_SECS);
        if !self
            .store
            .streams()
            .claim_verification(&id, now, not_before)
            .await?
        {
            return Err(MgmtError::TooSoon.into());
        }
        let payload = SetPayload::Verification {
            stream_id: id.clone(),
            state,
        };
        let token = self.rng.token();
        let d = delivery(
            &stream,
            delivery_id(&[&id, "verification", &token]),
            &payload,
            now,
        );
        self.store.deliveries().enqueue_delivery(&d).await?;
        Ok(())
    }
}

/// The transmitter (an operator: `portcullis stream status`) changes a
/// stream's status: the receiver is told with a stream-updated event (SSF
/// 1.0 §8.1.5), queued before the change takes effect so that a stream
/// being paused or disabled still carries it. Returns the status before.
pub async fn set_status_by_operator(
    store: &dyn Store,
    clock: &dyn Clock,
    rng: &dyn Rng,
    id: &str,
    status: StreamStatus,
    reason: Option<&str>,
) -> Result<StreamStatus, SsfError> {
    let stream = store
        .streams()
        .get_stream(id)
        .await?
        .ok_or(MgmtError::NotFound)?;
    let now = clock.now();
    if stream.status != status {
        let payload = SetPayload::StreamUpdated {
            stream_id: id.to_owned(),
            status: status.as_str().to_owned(),
            reason: reason.map(str::to_owned),
        };
        let token = rng.token();
        let d = delivery(
            &stream,
            delivery_id(&[id, "stream-updated", &token]),
            &payload,
            now,
        );
        store.deliveries().enqueue_delivery(&d).await?;
    }
    store
        .streams()
        .set_stream_status(id, status, reason, true, now)
        .await?
        .ok_or_else(|| MgmtError::NotFound.into())
}

/// The fan-out of events to the streams that carry them (module
/// documentation, step 2).
pub struct SignalFanout;

#[async_trait]
impl Fanout for SignalFanout {
    fn wants(&self, event: &Event) -> bool {
        Signal::of(event).is_some()
    }

    async fn deliveries(
        &self,
        event: &Event,
        store: &dyn Store,
        now: DateTime<Utc>,
    ) -> Result<Vec<Delivery>, StoreError> {
        let Some((signal, user)) = Signal::of(event) else {
            return Ok(Vec::new());
        };
        let event_id = event.event_id().to_string();
        let streams = store.streams().streams_for_subject(&user).await?;
        Ok(streams
            .iter()
            .filter(|s| ssf::delivers(s, signal.uri()))
            .map(|s| {
                let payload = SetPayload::Signal {
                    stream_id: s.id.clone(),
                    event: Box::new(event.clone()),
                };
                delivery(s, delivery_id(&[&s.id, &event_id]), &payload, now)
            })
            .collect())
    }
}

/// The claims of the SET a delivery carries, now.
fn claims(
    issuer: &str,
    stream: &Stream,
    delivery: &Delivery,
    payload: &SetPayload,
    now: DateTime<Utc>,
) -> Option<serde_json::Map<String, Value>> {
    let (txn, sub_id, signal, body) = match payload {
        SetPayload::Signal { event, .. } => {
            let (signal, user) = Signal::of(event)?;
            let body = signal.payload(event.occurred_at(), ssf::initiating_entity(event));
            (
                Some(event.event_id().to_string()),
                ssf::user_subject(issuer, &user),
                signal,
                body,
            )
        }
        SetPayload::Verification { state, .. } => {
            let signal = Signal::Verification {
                state: state.clone(),
            };
            let body = signal.payload(now, "system");
            (None, ssf::stream_subject(&stream.id), signal, body)
        }
        SetPayload::StreamUpdated { status, reason, .. } => {
            let signal = Signal::StreamUpdated {
                status: StreamStatus::parse(status)?,
                reason: reason.clone(),
            };
            let body = signal.payload(now, "system");
            (None, ssf::stream_subject(&stream.id), signal, body)
        }
    };
    Some(ssf::set_claims(
        ssf::stream_envelope(issuer, stream, &delivery.id, now, txn.as_deref()),
        sub_id,
        &signal,
        body,
    ))
}

/// One attempt at a claimed [`SSF_SET`] delivery (called by the delivery
/// worker; module documentation, step 3), recording the outcome.
pub(super) async fn attempt(d: &Deliverer, delivery: &Delivery) -> Result<Outcome, StoreError> {
    let outbox = d.store.deliveries();
    let now = d.clock.now();
    let give_up = |why: &'static str| async move {
        outbox.mark_abandoned(&delivery.id, now, why).await?;
        tracing::warn!(id = %delivery.id, reason = why, "shared signals: SET dropped");
        Ok::<_, StoreError>(Outcome::Abandoned)
    };
    let Ok(payload) = serde_json::from_str::<SetPayload>(&delivery.payload) else {
        return give_up("unreadable payload").await;
    };
    let Some(stream) = d.store.streams().get_stream(payload.stream_id()).await? else {
        return give_up("stream deleted").await;
    };
    if now - delivery.created_at > d.max_age {
        return give_up("too old").await;
    }
    // An operator who takes the receiver role away stops the stream at
    // once (the client and its stream stay).
    let receiver = d.store.clients().get_client(&stream.client_id).await?;
    if !receiver.is_some_and(|c| c.scopes.contains(ssf::RECEIVER_SCOPE)) {
        return give_up("receiver role withdrawn").await;
    }
    // A stream-updated event goes out whatever the status (SSF 1.0 §8.1.5:
    // sent before the stream stops).
    if !matches!(payload, SetPayload::StreamUpdated { .. }) {
        match stream.status {
            StreamStatus::Disabled => return give_up("stream disabled").await,
            StreamStatus::Paused => {
                outbox
                    .mark_delivery_failed(
                        &delivery.id,
                        delivery.attempts,
                        now + PAUSED_RECHECK,
                        "stream paused",
                    )
                    .await?;
                return Ok(Outcome::Deferred);
            }
            StreamStatus::Enabled => {}
        }
    }
    // In order (SSF 1.0 §8.1.2.1: a receiver must not get a later event
    // about a subject before an earlier one, e.g. enabled before
    // disabled): while an earlier SET of this stream is pending, this one
    // waits for the next pass.
    if outbox
        .earlier_pending(SSF_SET, stream.client_id.as_str(), delivery)
        .await?
    {
        outbox
            .mark_delivery_failed(
                &delivery.id,
                delivery.attempts,
                now + IN_ORDER_RECHECK,
                "waiting for an earlier SET of this stream",
            )
            .await?;
        return Ok(Outcome::Deferred);
    }
    let Some(claims) = claims(&d.issuer, &stream, delivery, &payload, now) else {
        return give_up("unreadable payload").await;
    };
    let set = match crate::protocol::secevent::sign(d.keys.as_ref(), &claims).await {
        Ok(set) => set,
        Err(e) => {
            tracing::warn!(id = %delivery.id, error = %e, "shared signals: signing failed; retrying");
            return retry_after_signing_failure(d, delivery, now).await;
        }
    };
    let header = match &stream.authorization_header {
        None => None,
        Some(sealed) => match d
            .secrets
            .open(&Stream::header_context(&stream.id), sealed)
            .await
        {
            Ok(h) => Some(String::from_utf8_lossy(&h).into_owned()),
            Err(e) => {
                tracing::warn!(id = %delivery.id, error = %e, "shared signals: the authorization header does not open; retrying");
                return retry_after_signing_failure(d, delivery, now).await;
            }
        },
    };
    let failure = push(d, &stream.endpoint_url, header.as_deref(), set).await;
    let now = d.clock.now();
    let Some(error) = failure else {
        outbox.mark_delivered(&delivery.id, now).await?;
        tracing::info!(id = %delivery.id, stream_id = %stream.id, attempts = delivery.attempts + 1, "shared signals: SET delivered");
        return Ok(Outcome::Delivered);
    };
    let attempts = delivery.attempts.saturating_add(1);
    let delay = backoff(attempts, d.retry_max);
    outbox
        .mark_delivery_failed(&delivery.id, attempts, now + delay, &error)
        .await?;
    tracing::warn!(id = %delivery.id, stream_id = %stream.id, attempts, retry_in_secs = delay.num_seconds(), error = %error, "shared signals: SET not delivered; will retry");
    Ok(Outcome::Failed)
}

/// POSTs `set` to `url` (RFC 8935 §2) within the attempt timeout: `None`
/// when the receiver took it (a 2xx), else why not (the status and the
/// receiver's RFC 8935 §2.3 `err` when it gives a short one; no secret).
async fn push(
    d: &Deliverer,
    url: &str,
    authorization: Option<&str>,
    set: String,
) -> Option<String> {
    let answer = tokio::time::timeout(
        ATTEMPT_TIMEOUT,
        d.outbound.post(
            url,
            SECEVENT_MEDIA_TYPE,
            authorization,
            set.into_bytes(),
            MAX_ANSWER_BYTES,
        ),
    )
    .await;
    match answer {
        Ok(Ok(r)) if (200..300).contains(&r.status) => None,
        Ok(Ok(r)) => Some(
            match serde_json::from_slice::<Value>(&r.body)
                .ok()
                .and_then(|v| v["err"].as_str().map(str::to_owned))
            {
                Some(err) if err.len() <= 64 && err.bytes().all(|b| b.is_ascii_graphic()) => {
                    format!("status {}: {err}", r.status)
                }
                _ => format!("status {}", r.status),
            },
        ),
        Ok(Err(e)) => Some(super::backchannel::failure_reason(&e)),
        Err(_) => Some("timeout".to_owned()),
    }
}

/// The transmitter of a server.
pub fn transmitter(state: &crate::state::AppState) -> Transmitter<'_> {
    Transmitter {
        store: state.store.as_ref(),
        secrets: state.secrets.as_ref(),
        clock: state.clock.as_ref(),
        rng: state.rng.as_ref(),
        issuer: &state.config.issuer,
        allow_insecure: state.config.outbound.allow_insecure,
    }
}
