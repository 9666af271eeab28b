//! HTTP hardening: rate limits, trusted proxies, CORS origins, connection
//! limits, the management listener and the outbound client's rules.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use super::settings::setting as s;
use super::{ConfigError, RawSettings};

/// Requests per minute accepted from one client address, per endpoint
/// group; `0` turns a limit off. A bucket holds one minute's worth, so a
/// burst of up to the whole minute's allowance passes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// `/token` (`PORTCULLIS_RATE_LIMIT_TOKEN_PER_MIN`).
    pub token_per_min: u32,
    /// `GET|POST /authorize` (`PORTCULLIS_RATE_LIMIT_AUTHORIZE_PER_MIN`).
    pub authorize_per_min: u32,
    /// `POST /login` (`PORTCULLIS_RATE_LIMIT_LOGIN_PER_MIN`).
    pub login_per_min: u32,
}

impl RateLimits {
    /// The defaults: generous on `/token` (a flood guard: client secrets
    /// are 256-bit, so guessing is no threat, and a benchmark from one
    /// address is not throttled), tighter on the pages, tightest on the
    /// login post, which costs an argon2id hash.
    pub const DEFAULT: Self = Self {
        token_per_min: 600_000,
        authorize_per_min: 3_000,
        login_per_min: 300,
    };

    /// No limits at all.
    pub const OFF: Self = Self {
        token_per_min: 0,
        authorize_per_min: 0,
        login_per_min: 0,
    };
}

/// Addresses or networks of the reverse proxies in front of the server
/// (`PORTCULLIS_TRUSTED_PROXIES`). Only a connection from one of them may
/// name the client in `X-Forwarded-For`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses (`10.0.0.5`, `::1`) and
    /// networks (`10.0.0.0/8`, `fd00::/8`). Blank entries are ignored.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = if item.contains('/') {
                item.parse::<ipnet::IpNet>()
                    .map_err(|_| format!("{item:?} is not an address or CIDR network"))?
                    .trunc()
            } else {
                let addr: std::net::IpAddr = item
                    .parse()
                    .map_err(|_| format!("{item:?} is not an address or CIDR network"))?;
                ipnet::IpNet::from(addr.to_canonical())
            };
            nets.push(net);
        }
        Ok(Self(nets))
    }

    /// Whether `ip` is one of the proxies.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is trusted (the default).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Which browser origins may call the API endpoints
/// (`PORTCULLIS_CORS_ALLOWED_ORIGINS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// None: no CORS headers at all (the default).
    #[default]
    None,
    /// Any origin (`*`). No credentials are ever allowed.
    Any,
    /// These origins, each as `scheme://host[:port]` in the ASCII form a
    /// browser sends in `Origin`.
    List(Vec<String>),
}

impl CorsOrigins {
    /// Parses `*` or a comma-separated list of origins such as
    /// `https://app.example.com,http://localhost:3000`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let items: Vec<&str> = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            return Ok(Self::None);
        }
        if items.contains(&"*") {
            if items.len() > 1 {
                return Err("`*` cannot be combined with other origins".into());
            }
            return Ok(Self::Any);
        }
        let mut origins = Vec::with_capacity(items.len());
        for item in items {
            let bad = || format!("{item:?} is not an origin such as https://app.example.com");
            let url = Url::parse(item).map_err(|_| bad())?;
            let plain = matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.username().is_empty()
                && url.password().is_none()
                && url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none();
            if !plain {
                return Err(bad());
            }
            origins.push(url.origin().ascii_serialization());
        }
        Ok(Self::List(origins))
    }
}
/// Reads the rate limits, the trusted proxies and the CORS origins.
pub(super) fn parse_hardening(
    raw: &RawSettings,
) -> Result<(RateLimits, TrustedProxies, CorsOrigins), ConfigError> {
    let proxies = TrustedProxies::parse(raw.text(&s::TRUSTED_PROXIES).unwrap_or(""))
        .map_err(|e| ConfigError::new(s::TRUSTED_PROXIES.env, e))?;
    let origins = CorsOrigins::parse(raw.text(&s::CORS_ALLOWED_ORIGINS).unwrap_or(""))
        .map_err(|e| ConfigError::new(s::CORS_ALLOWED_ORIGINS.env, e))?;
    let limits = RateLimits {
        token_per_min: raw.number(&s::RATE_LIMIT_TOKEN_PER_MIN)?,
        authorize_per_min: raw.number(&s::RATE_LIMIT_AUTHORIZE_PER_MIN)?,
        login_per_min: raw.number(&s::RATE_LIMIT_LOGIN_PER_MIN)?,
    };
    Ok((limits, proxies, origins))
}

/// Limits on the connections of the public listener (RFC 9112 leaves them
/// to the server; these are the ones a review expects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request's headers must arrive within this time
    /// (`PORTCULLIS_HEADER_READ_TIMEOUT_SECS`).
    pub header_read_timeout: Duration,
    /// A connection without a request in flight and without a byte received
    /// for this long is closed (`PORTCULLIS_KEEP_ALIVE_IDLE_SECS`).
    pub keep_alive_idle: Duration,
    /// Largest request head (`PORTCULLIS_MAX_HEADER_BYTES`, at least 8192).
    pub max_header_bytes: usize,
    /// Connections served at once (`PORTCULLIS_MAX_CONNECTIONS`).
    pub max_connections: usize,
}

/// The outbound client's rules (`PORTCULLIS_OUTBOUND_*`) and the cache of
/// clients' JWK Sets (`PORTCULLIS_CLIENT_JWKS_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundConfig {
    /// Permit `http://` and loopback/private destinations (development).
    pub allow_insecure: bool,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Total timeout of one exchange.
    pub timeout: Duration,
    /// Largest response body read.
    pub max_response_bytes: usize,
    /// How long a fetched JWK Set is reused.
    pub jwks_cache_ttl: Duration,
    /// Shortest time between two fetches of one `jwks_uri`.
    pub jwks_refetch_floor: Duration,
}

/// Reads the connection limits, the outbound rules and the management
/// listener's address (`None`: `off`).
pub(super) fn parse_network(
    raw: &RawSettings,
) -> Result<(ConnectionLimits, OutboundConfig, Option<SocketAddr>), ConfigError> {
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(raw.number(&s::HEADER_READ_TIMEOUT_SECS)?),
        keep_alive_idle: Duration::from_secs(raw.number(&s::KEEP_ALIVE_IDLE_SECS)?),
        max_header_bytes: raw.number(&s::MAX_HEADER_BYTES)?,
        max_connections: raw.number(&s::MAX_CONNECTIONS)?,
    };
    let outbound = OutboundConfig {
        allow_insecure: raw.flag(&s::OUTBOUND_ALLOW_INSECURE)?,
        connect_timeout: Duration::from_millis(raw.number(&s::OUTBOUND_CONNECT_TIMEOUT_MS)?),
        timeout: Duration::from_millis(raw.number(&s::OUTBOUND_TIMEOUT_MS)?),
        max_response_bytes: raw.number(&s::OUTBOUND_MAX_RESPONSE_BYTES)?,
        jwks_cache_ttl: Duration::from_secs(raw.number(&s::CLIENT_JWKS_CACHE_SECS)?),
        jwks_refetch_floor: Duration::from_secs(raw.number(&s::CLIENT_JWKS_REFETCH_FLOOR_SECS)?),
    };
    let management = match raw.text(&s::MANAGEMENT_LISTEN).unwrap_or_default().trim() {
        "off" => None,
        addr => Some(addr.parse::<SocketAddr>().map_err(|e| {
            ConfigError::new(
                s::MANAGEMENT_LISTEN.env,
                format!("expected HOST:PORT such as 127.0.0.1:9000, or off ({e})"),
            )
        })?),
    };
    Ok((limits, outbound, management))
}
