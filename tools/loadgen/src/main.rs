//! `loadgen`: the small load client of `scripts/bench` for what wrk cannot
//! drive with one fixed request: refresh-token rotation (every request needs
//! the token the previous one returned) and full authorization-code flows
//! (authorization page, login form, consent form, code, token exchange).
//!
//! Not part of the server. Talks only to the issuer it is given (the bench
//! runs it against 127.0.0.1), bounded in time.
//!
//! ```text
//! loadgen token   --issuer URL --client-id ID --client-secret S --username U --password P
//! loadgen refresh ... --connections 16 --duration 10
//! loadgen flows   ... --connections 16 --duration 10
//! loadgen client-credentials --issuer URL --client-id ID --client-secret S [--dpop] ...
//! ```
//!
//! `client-credentials` runs client-credentials grants on each connection,
//! with `--dpop` each with a fresh DPoP proof (RFC 9449 §4: ES256 with a
//! fixed key, a new `jti`, `iat` now), signed here before the request is
//! timed, so that the pair of runs shows what binding a token costs the
//! server (one ES256 verification and a replay-cache insert).
//!
//! `token` prints `{"access_token","refresh_token","id_token"}` from one
//! flow. `refresh` and `flows` print one JSON object (requests, rps,
//! latency percentiles in ms, errors) and write the lines `LOADGEN START`
//! and `LOADGEN STOP` to standard output around the measured window, so that
//! the bench's sampler measures the server only while the load runs (the
//! set-up flows that `refresh` needs are outside the window).

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::{Args, Parser, Subcommand};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use sha2::{Digest as _, Sha256};

/// PKCE verifier used by every flow (RFC 7636 Appendix B).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

#[derive(Parser)]
#[command(about = "Load client for scripts/bench (refresh rotation, authorization-code flows)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One authorization-code flow; prints the tokens as JSON.
    Token(Common),
    /// Chains refresh-token grants (with rotation) on each connection.
    Refresh(Load),
    /// Runs complete authorization-code flows on each connection.
    Flows(Load),
    /// Client-credentials grants on each connection (with `--dpop`, each
    /// with a DPoP proof).
    ClientCredentials(CcLoad),
}

#[derive(Args, Clone)]
struct CcLoad {
    /// The issuer (base URL), e.g. http://127.0.0.1:18080.
    #[arg(long)]
    issuer: String,
    /// A confidential client with the client_credentials grant.
    #[arg(long)]
    client_id: String,
    /// Its secret.
    #[arg(long)]
    client_secret: String,
    /// Send a DPoP proof with each request.
    #[arg(long)]
    dpop: bool,
    /// Concurrent connections (one loop each).
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
}

#[derive(Args, Clone)]
struct Common {
    /// The issuer (base URL), e.g. http://127.0.0.1:18080.
    #[arg(long)]
    issuer: String,
    /// A confidential client (client_secret_basic).
    #[arg(long)]
    client_id: String,
    /// Its secret.
    #[arg(long)]
    client_secret: String,
    /// A registered redirect URI of the client.
    #[arg(long, default_value = "https://bench.example/cb")]
    redirect_uri: String,
    /// A user.
    #[arg(long)]
    username: String,
    /// The user's password.
    #[arg(long)]
    password: String,
    /// Scopes of the flows.
    #[arg(long, default_value = "openid profile offline_access")]
    scope: String,
}

#[derive(Args, Clone)]
struct Load {
    #[command(flatten)]
    common: Common,
    /// Concurrent connections (one loop each).
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Token(c) => {
                let http = client(Duration::from_secs(5))?;
                let t = Flow::new(&c).run(&http).await?;
                println!("{}", serde_json::to_string(&t)?);
                Ok(())
            }
            Command::Refresh(l) => run_load(&l, Kind::Refresh).await,
            Command::Flows(l) => run_load(&l, Kind::Flows).await,
            Command::ClientCredentials(l) => run_client_credentials(&l).await,
        }
    })
}

fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .pool_max_idle_per_host(1)
        .build()?)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Refresh,
    Flows,
    ClientCredentials,
    DpopClientCredentials,
}

impl Kind {
    fn scenario(self) -> &'static str {
        match self {
            Self::Refresh => "refresh",
            Self::Flows => "flows",
            Self::ClientCredentials => "client_credentials_loadgen",
            Self::DpopClientCredentials => "client_credentials_dpop",
        }
    }
}

/// A DPoP key (RFC 9449 §4.2): a fixed P-256 key, its public JWK, and a
/// counter for unique `jti`s.
struct DpopKey {
    key: p256::ecdsa::SigningKey,
    jwk: serde_json::Value,
    next: AtomicU64,
}

impl DpopKey {
    fn new() -> anyhow::Result<Self> {
        // Any scalar below the group order is a key; a fixed one keeps the
        // bench reproducible (signatures use RFC 6979 nonces).
        let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32])
            .map_err(|e| anyhow::anyhow!("DPoP key: {e}"))?;
        let point = key.verifying_key().to_sec1_point(false);
        let xy = point.as_bytes();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": b64(&xy[1..33]), "y": b64(&xy[33..65]),
        });
        Ok(Self {
            key,
            jwk,
            next: AtomicU64::new(0),
        })
    }

    /// A proof for `POST url` (§4.2: typ, alg, jwk; jti, htm, htu, iat).
    fn proof(&self, url: &str) -> String {
        use p256::ecdsa::signature::Signer as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let header = serde_json::json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk });
        let iat = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let jti = format!(
            "lg-{}-{}",
            std::process::id(),
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let claims = serde_json::json!({ "jti": jti, "htm": "POST", "htu": url, "iat": iat });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig: p256::ecdsa::Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig.to_bytes()))
    }
}

/// Client-credentials grants on every connection until the deadline; with
/// `--dpop`, each request carries a fresh proof (signed before the clock
/// starts) and must come back `token_type: DPoP`.
async fn run_client_credentials(l: &CcLoad) -> anyhow::Result<()> {
    let timeout = Duration::from_secs_f64(l.timeout);
    let kind = if l.dpop {
        Kind::DpopClientCredentials
    } else {
        Kind::ClientCredentials
    };
    let key = Arc::new(DpopKey::new()?);
    let url = format!("{}/token", l.issuer);
    let raw = format!(
        "{}:{}",
        form_encode(&l.client_id),
        form_encode(&l.client_secret)
    );
    let basic = HeaderValue::from_str(&format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))?;
    // One request before the window: the client works, and the token is
    // bound when a proof is sent.
    let probe = client(timeout)?;
    let mut req = probe
        .post(&url)
        .header(header::AUTHORIZATION, basic.clone())
        .form(&[("grant_type", "client_credentials")]);
    if l.dpop {
        req = req.header("DPoP", key.proof(&url));
    }
    let resp = req.send().await?;
    if resp.status() != StatusCode::OK {
        bail!("client_credentials: HTTP {}", resp.status());
    }
    let body: serde_json::Value = resp.json().await?;
    let want = if l.dpop { "DPoP" } else { "Bearer" };
    if body["token_type"] != want {
        bail!(
            "client_credentials: token_type {} (want {want})",
            body["token_type"]
        );
    }
    let done = Arc::new(AtomicU64::new(0));
    println!("LOADGEN START");
    std::io::stdout().flush()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(l.duration);
    let mut tasks = Vec::new();
    for _ in 0..l.connections {
        let http = client(timeout)?;
        let (url, basic, key, done, dpop) = (
            url.clone(),
            basic.clone(),
            key.clone(),
            done.clone(),
            l.dpop,
        );
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let proof = dpop.then(|| key.proof(&url));
                let t0 = Instant::now();
                let mut req = http
                    .post(&url)
                    .header(header::AUTHORIZATION, basic.clone())
                    .form(&[("grant_type", "client_credentials")]);
                if let Some(p) = proof {
                    req = req.header("DPoP", p);
                }
                let ok = match req.send().await {
                    Ok(r) if r.status() == StatusCode::OK => r.bytes().await.is_ok(),
                    _ => false,
                };
                if ok {
                    tally.latencies_us.push(elapsed_us(t0));
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    tally.errors += 1;
                }
            }
            tally
        }));
    }
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await?;
        all.latencies_us.extend(t.latencies_us);
        all.errors += t.errors;
    }
    let wall = started.elapsed().as_secs_f64();
    println!("LOADGEN STOP");
    println!("{}", summary(kind, l.connections, all, wall));
    Ok(())
}

/// Latencies (µs) and failures of one connection.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    errors: u64,
}

async fn run_load(l: &Load, kind: Kind) -> anyhow::Result<()> {
    let timeout = Duration::from_secs_f64(l.timeout);
    // Set-up (not measured): one flow per connection gives each its own
    // refresh-token family.
    let mut clients = Vec::with_capacity(l.connections);
    let mut seeds = Vec::with_capacity(l.connections);
    for _ in 0..l.connections {
        let http = client(timeout)?;
        let seed = if kind == Kind::Refresh {
            let t = Flow::new(&l.common).run(&http).await?;
            Some(
                t.refresh_token
                    .context("no refresh token (offline_access?)")?,
            )
        } else {
            None
        };
        clients.push(http);
        seeds.push(seed);
    }
    let basic = basic_auth(&l.common);
    let done = Arc::new(AtomicU64::new(0));
    println!("LOADGEN START");
    std::io::stdout().flush()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(l.duration);
    let mut tasks = Vec::new();
    for (http, seed) in clients.into_iter().zip(seeds) {
        let common = l.common.clone();
        let basic = basic.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut refresh = seed;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let ok = match kind {
                    Kind::Refresh => {
                        let Some(rt) = refresh.take() else { break };
                        match refresh_once(&http, &common, &basic, &rt).await {
                            Ok(next) => {
                                refresh = Some(next);
                                true
                            }
                            Err(_) => false,
                        }
                    }
                    Kind::Flows => Flow::new(&common).run(&http).await.is_ok(),
                    // run_client_credentials runs these.
                    Kind::ClientCredentials | Kind::DpopClientCredentials => break,
                };
                if ok {
                    tally.latencies_us.push(elapsed_us(t0));
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    tally.errors += 1;
                    if kind == Kind::Refresh {
                        // The chain is broken; stop this connection.
                        break;
                    }
                }
            }
            tally
        }));
    }
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await?;
        all.latencies_us.extend(t.latencies_us);
        all.errors += t.errors;
    }
    let wall = started.elapsed().as_secs_f64();
    println!("LOADGEN STOP");
    println!("{}", summary(kind, l.connections, all, wall));
    Ok(())
}

/// The JSON line the bench reads: rate, latency percentiles (ms), errors.
fn summary(kind: Kind, connections: usize, mut all: Tally, wall: f64) -> serde_json::Value {
    all.latencies_us.sort_unstable();
    let lat = &all.latencies_us;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index from a percentile, and microseconds as f64"
    )]
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = (((lat.len() as f64) * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i] as f64 / 1000.0
    };
    #[allow(clippy::cast_precision_loss, reason = "a request count fits in f64")]
    let rps = lat.len() as f64 / wall;
    serde_json::json!({
        "tool": "loadgen",
        "scenario": kind.scenario(),
        "connections": connections,
        "requests": lat.len(),
        "duration_s": wall,
        "rps": rps,
        "latency_ms": { "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1.0) },
        "errors": all.errors,
        "non2xx": all.errors,
    })
}

fn elapsed_us(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX)
}

fn basic_auth(c: &Common) -> HeaderValue {
    let raw = format!(
        "{}:{}",
        form_encode(&c.client_id),
        form_encode(&c.client_secret)
    );
    let v = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The tokens of a successful exchange.
#[allow(
    clippy::struct_field_names,
    reason = "the names of RFC 6749 section 5.1"
)]
#[derive(serde::Serialize, serde::Deserialize)]
struct Tokens {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
}

async fn refresh_once(
    http: &reqwest::Client,
    c: &Common,
    basic: &HeaderValue,
    refresh_token: &str,
) -> anyhow::Result<String> {
    let resp = http
        .post(format!("{}/token", c.issuer))
        .header(header::AUTHORIZATION, basic.clone())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await?;
    if resp.status() != StatusCode::OK {
        bail!("refresh: HTTP {}", resp.status());
    }
    let t: Tokens = resp.json().await?;
    t.refresh_token.context("refresh: no new refresh token")
}

/// One browser-like authorization-code flow with its own cookie jar (a
/// single session cookie).
struct Flow<'a> {
    c: &'a Common,
    cookie: Option<String>,
}

impl<'a> Flow<'a> {
    fn new(c: &'a Common) -> Self {
        Self { c, cookie: None }
    }

    fn remember_cookie(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let pair = v.split(';').next().unwrap_or_default().trim();
            if v.contains("Max-Age=0") {
                self.cookie = None;
            } else if !pair.is_empty() {
                self.cookie = Some(pair.to_owned());
            }
        }
    }

    fn with_cookie(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(c) => req.header(header::COOKIE, c),
            None => req,
        }
    }

    async fn run(mut self, http: &reqwest::Client) -> anyhow::Result<Tokens> {
        let c = self.c;
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(VERIFIER.as_bytes()));
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &c.client_id)
            .append_pair("redirect_uri", &c.redirect_uri)
            .append_pair("scope", &c.scope)
            .append_pair("state", "bench-state")
            .append_pair("nonce", "bench-nonce")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            // Consent is asked every time (and offline_access needs it:
            // OpenID Connect Core §11).
            .append_pair("prompt", "consent")
            .finish();
        let resp = http
            .get(format!("{}/authorize?{query}", c.issuer))
            .send()
            .await?;
        self.remember_cookie(resp.headers());
        if resp.status() != StatusCode::OK {
            bail!("authorize: HTTP {}", resp.status());
        }
        let html = resp.text().await?;
        let resp = self
            .with_cookie(http.post(format!("{}/login", c.issuer)))
            .form(&[
                ("request", hidden(&html, "request")?.as_str()),
                ("csrf_token", hidden(&html, "csrf_token")?.as_str()),
                ("username", c.username.as_str()),
                ("password", c.password.as_str()),
            ])
            .send()
            .await?;
        self.remember_cookie(resp.headers());
        let resp = if resp.status() == StatusCode::OK {
            let html = resp.text().await?;
            let resp = self
                .with_cookie(http.post(format!("{}/consent", c.issuer)))
                .form(&[
                    ("request", hidden(&html, "request")?.as_str()),
                    ("csrf_token", hidden(&html, "csrf_token")?.as_str()),
                    ("decision", "allow"),
                ])
                .send()
                .await?;
            self.remember_cookie(resp.headers());
            resp
        } else {
            resp
        };
        if resp.status() != StatusCode::SEE_OTHER {
            bail!("login/consent: HTTP {}", resp.status());
        }
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .context("no Location")?;
        let url = url::Url::parse(location)?;
        let code = url
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .with_context(|| format!("no code in the redirect: {location}"))?;
        let resp = http
            .post(format!("{}/token", c.issuer))
            .header(header::AUTHORIZATION, basic_auth(c))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", c.redirect_uri.as_str()),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await?;
        if resp.status() != StatusCode::OK {
            bail!("token: HTTP {}", resp.status());
        }
        Ok(resp.json().await?)
    }
}

/// The value of a hidden input in a hosted page (askama-escaped).
fn hidden(html: &str, name: &str) -> anyhow::Result<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&needle)
        .with_context(|| format!("no {name} in the page"))?
        + needle.len();
    let end = html[start..].find('"').context("unterminated value")? + start;
    Ok(html[start..end]
        .replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">"))
}
