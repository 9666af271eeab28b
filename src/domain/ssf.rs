//! A Shared Signals event stream (OpenID Shared Signals Framework 1.0 §8.1):
//! what the transmitter keeps of a receiver's stream. The rules of the
//! management API and of the SETs are in `protocol::ssf`.

use chrono::{DateTime, Utc};

use super::ClientId;

/// A stream's status (SSF 1.0 §8.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    /// Events are transmitted.
    Enabled,
    /// Events are held (queued) and transmitted once enabled again.
    Paused,
    /// Events are neither transmitted nor held.
    Disabled,
}

impl StreamStatus {
    /// The wire and stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Paused => "paused",
            Self::Disabled => "disabled",
        }
    }

    /// Parses a wire or stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "enabled" => Some(Self::Enabled),
            "paused" => Some(Self::Paused),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// One receiver's event stream (one per receiver client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// `stream_id` (256 random bits, base64url).
    pub id: String,
    /// The receiver: the client that created it; also the `aud` of its
    /// SETs.
    pub client_id: ClientId,
    /// Where SETs are pushed (RFC 8935), checked like every URL the server
    /// calls (`domain::destination`).
    pub endpoint_url: String,
    /// The receiver's `authorization_header`, SEALED (`SecretBox`, context
    /// [`Stream::header_context`]); sent with every push.
    pub authorization_header: Option<String>,
    /// `events_requested`, as the receiver gave them (unknown ones kept, so
    /// that a read gives back what was asked).
    pub events_requested: Vec<String>,
    /// `description`.
    pub description: Option<String>,
    /// `status`.
    pub status: StreamStatus,
    /// Why it has its status.
    pub reason: Option<String>,
    /// Whether the transmitter (an operator) set the status: a receiver
    /// cannot undo a pause or disable it did not ask for.
    pub status_by_transmitter: bool,
    /// The last verification request (`min_verification_interval`).
    pub verified_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Stream {
    /// The `SecretBox` context that binds a sealed authorization header to
    /// its stream (a sealed value copied to another stream does not open).
    pub fn header_context(id: &str) -> String {
        format!("ssf_stream:{id}:authorization_header")
    }
}
