//! Prometheus metrics, served at `GET /metrics` on the management listener
//! (`PORTCULLIS_MANAGEMENT_LISTEN`, never the public one; docs/OPERATIONS.md
//! lists them), with the standard `process_*` metrics on Linux
//! ([`process`]). Code anywhere records through the typed functions here:
//! [`token_issued`], [`login_failed`], [`kms_call`], [`events_queued`],
//! [`events_spooled`], [`events_dropped`], [`mail_attempt`]; the HTTP middleware records
//! [`http_request`].
//!
//! We use the `prometheus` crate (without its protobuf feature) rather than
//! the `metrics` facade with `metrics-exporter-prometheus`: every metric is
//! a typed handle registered in one registry, declared in one place, with
//! no global recorder to install first (a `metrics::counter!` before the
//! recorder is installed is silently dropped) and no exporter server.
//!
//! The registry is process-wide, as the Prometheus exposition is: one
//! process, one `/metrics`. Label values are `&'static str` so that no
//! request input can become a label (unbounded series).

#[cfg(target_os = "linux")]
pub mod process;

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric name starts with this.
pub const NAMESPACE: &str = "portcullis";

const HTTP_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const KMS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0,
];

struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_seconds: HistogramVec,
    tokens_issued: IntCounterVec,
    login_failures: IntCounterVec,
    rate_limited: IntCounterVec,
    kms_calls: IntCounterVec,
    kms_seconds: HistogramVec,
    events_queued: IntGauge,
    events_spooled: IntCounter,
    events_dropped: IntCounter,
    mail: IntCounterVec,
    deliveries: IntCounterVec,
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntCounterVec> {
    IntCounterVec::new(Opts::new(name, help).namespace(NAMESPACE), labels)
}

fn histogram_vec(
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> prometheus::Result<HistogramVec> {
    HistogramVec::new(
        HistogramOpts::new(name, help)
            .namespace(NAMESPACE)
            .buckets(buckets.to_vec()),
        labels,
    )
}

impl Metrics {
    fn build() -> prometheus::Result<Self> {
        let m = Self {
            registry: Registry::new(),
            http_requests: counter_vec(
                "http_requests_total",
                "HTTP requests by method, matched route and status.",
                &["method", "route", "status"],
            )?,
            http_seconds: histogram_vec(
                "http_request_duration_seconds",
                "HTTP request latency by method and matched route.",
                &["method", "route"],
                HTTP_BUCKETS,
            )?,
            tokens_issued: counter_vec(
                "tokens_issued_total",
                "Token responses issued, by grant type.",
                &["grant_type"],
            )?,
            login_failures: counter_vec(
                "login_failures_total",
                "Failed sign-ins, by reason.",
                &["reason"],
            )?,
            rate_limited: counter_vec(
                "rate_limited_total",
                "Requests refused by a per-address rate limit, by limit.",
                &["limit"],
            )?,
            kms_calls: counter_vec(
                "kms_calls_total",
                "AWS KMS calls, by operation and outcome (ok, error).",
                &["op", "outcome"],
            )?,
            kms_seconds: histogram_vec(
                "kms_call_seconds",
                "AWS KMS call latency, by operation.",
                &["op"],
                KMS_BUCKETS,
            )?,
            events_queued: IntGauge::with_opts(
                Opts::new("events_queued", "Audit events waiting to be written.")
                    .namespace(NAMESPACE),
            )?,
            events_spooled: IntCounter::with_opts(
                Opts::new(
                    "events_spooled_total",
                    "Audit events written to the local spool because the sink was unreachable.",
                )
                .namespace(NAMESPACE),
            )?,
            events_dropped: IntCounter::with_opts(
                Opts::new(
                    "events_dropped_total",
                    "Audit events lost (queue and spool full).",
                )
                .namespace(NAMESPACE),
            )?,
            mail: counter_vec(
                "mail_total",
                "Outbox sending attempts, by outcome (sent, failed: retried later, refused: kept unsent).",
                &["outcome"],
            )?,
            deliveries: counter_vec(
                "outbound_deliveries_total",
                "Attempts at outbound deliveries (back-channel logout, security alerts, Shared Signals SETs), by kind and outcome (delivered; failed: retried later; abandoned: given up; deferred: not attempted for a failure of ours or a paused stream).",
                &["kind", "outcome"],
            )?,
        };
        let r = &m.registry;
        r.register(Box::new(m.http_requests.clone()))?;
        r.register(Box::new(m.http_seconds.clone()))?;
        r.register(Box::new(m.tokens_issued.clone()))?;
        r.register(Box::new(m.login_failures.clone()))?;
        r.register(Box::new(m.rate_limited.clone()))?;
        r.register(Box::new(m.kms_calls.clone()))?;
        r.register(Box::new(m.kms_seconds.clone()))?;
        r.register(Box::new(m.events_queued.clone()))?;
        r.register(Box::new(m.events_spooled.clone()))?;
        r.register(Box::new(m.events_dropped.clone()))?;
        r.register(Box::new(m.mail.clone()))?;
        r.register(Box::new(m.deliveries.clone()))?;
        // The standard `process_*` metrics (no namespace), Linux only.
        #[cfg(target_os = "linux")]
        r.register(Box::new(process::ProcessCollector::new()?))?;
        Ok(m)
    }
}

// The names and labels above are constants: `build` fails only if one of
// them is malformed, which the unit tests below would catch at once.
#[allow(clippy::expect_used)]
static METRICS: LazyLock<Metrics> =
    LazyLock::new(|| Metrics::build().expect("metric definitions are valid"));

/// Records one HTTP request. `route` is the matched route pattern (never
/// the raw path), `method` one of the standard methods or `other`.
pub fn http_request(method: &'static str, route: &str, status: u16, elapsed: Duration) {
    let m = &*METRICS;
    m.http_requests
        .with_label_values(&[method, route, &status.to_string()])
        .inc();
    m.http_seconds
        .with_label_values(&[method, route])
        .observe(elapsed.as_secs_f64());
}

/// The series of one `GET` route, resolved once: recording then costs two
/// atomic adds instead of two label lookups (the fast path of
/// [`crate::http::fast`]).
#[derive(Clone)]
pub struct RouteMetrics {
    ok: prometheus::IntCounter,
    not_modified: prometheus::IntCounter,
    seconds: prometheus::Histogram,
}

impl RouteMetrics {
    /// The series of `GET route` with status 200 and 304.
    pub fn get(route: &'static str) -> Self {
        let m = &*METRICS;
        Self {
            ok: m.http_requests.with_label_values(&["GET", route, "200"]),
            not_modified: m.http_requests.with_label_values(&["GET", route, "304"]),
            seconds: m.http_seconds.with_label_values(&["GET", route]),
        }
    }

    /// Records one request answered with 200 (or 304 when `not_modified`).
    pub fn record(&self, not_modified: bool, elapsed: Duration) {
        if not_modified {
            self.not_modified.inc();
        } else {
            self.ok.inc();
        }
        self.seconds.observe(elapsed.as_secs_f64());
    }
}

/// A token response was issued. `grant_type` is the grant handler's fixed
/// name (`authorization_code`, `refresh_token`, `client_credentials`).
pub fn token_issued(grant_type: &'static str) {
    METRICS.tokens_issued.with_label_values(&[grant_type]).inc();
}

/// A sign-in failed. `reason` is a fixed word (`invalid_credentials`,
/// `locked`, `disabled`). An unknown username and a wrong password are one
/// reason, `invalid_credentials`: two would tell whoever reads the metrics
/// whether an account exists (the audit events keep the difference).
pub fn login_failed(reason: &'static str) {
    METRICS.login_failures.with_label_values(&[reason]).inc();
}

/// A request was refused by the per-address rate limit `limit`.
pub fn rate_limited(limit: &'static str) {
    METRICS.rate_limited.with_label_values(&[limit]).inc();
}

/// One AWS KMS call: `op` is the API operation (`Sign`, `Encrypt`,
/// `Decrypt`, `GetPublicKey`, ...), `ok` whether it succeeded.
pub fn kms_call(op: &'static str, ok: bool, elapsed: Duration) {
    let m = &*METRICS;
    let outcome = if ok { "ok" } else { "error" };
    m.kms_calls.with_label_values(&[op, outcome]).inc();
    m.kms_seconds
        .with_label_values(&[op])
        .observe(elapsed.as_secs_f64());
}

/// The number of audit events now waiting in the in-memory queue.
pub fn events_queued(depth: usize) {
    METRICS
        .events_queued
        .set(i64::try_from(depth).unwrap_or(i64::MAX));
}

/// `n` audit events were written to the local spool.
pub fn events_spooled(n: u64) {
    METRICS.events_spooled.inc_by(n);
}

/// `n` audit events were lost.
pub fn events_dropped(n: u64) {
    METRICS.events_dropped.inc_by(n);
}

/// One outbox sending attempt: `outcome` is `sent`, `failed` (retried
/// later) or `refused` (kept unsent for the operator).
pub fn mail_attempt(outcome: &'static str) {
    METRICS.mail.with_label_values(&[outcome]).inc();
}

/// One attempt at an outbound delivery: `kind` one of
/// `app::backchannel::KINDS` (or `other`), `outcome` `delivered`,
/// `failed`, `abandoned` or `deferred`.
pub fn delivery_attempt(kind: &'static str, outcome: &'static str) {
    METRICS.deliveries.with_label_values(&[kind, outcome]).inc();
}

/// Every metric in the Prometheus text exposition format.
pub fn render() -> Result<String, prometheus::Error> {
    let mut buf = Vec::new();
    TextEncoder::new().encode(&METRICS.registry.gather(), &mut buf)?;
    String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_defined_and_rendered() {
        Metrics::build().unwrap();
        token_issued("client_credentials");
        login_failed("invalid_credentials");
        rate_limited("login");
        kms_call("Sign", false, Duration::from_millis(12));
        events_queued(7);
        events_spooled(2);
        events_dropped(1);
        mail_attempt("failed");
        delivery_attempt("security_alert", "delivered");
        http_request("GET", "/jwks", 200, Duration::from_millis(1));
        let text = render().unwrap();
        for line in [
            "portcullis_tokens_issued_total{grant_type=\"client_credentials\"}",
            "portcullis_login_failures_total{reason=\"invalid_credentials\"}",
            "portcullis_rate_limited_total{limit=\"login\"}",
            "portcullis_kms_calls_total{op=\"Sign\",outcome=\"error\"}",
            "portcullis_kms_call_seconds_bucket{op=\"Sign\",le=\"0.025\"}",
            "portcullis_events_queued 7",
            "portcullis_events_spooled_total",
            "portcullis_events_dropped_total",
            "portcullis_mail_total{outcome=\"failed\"}",
            "portcullis_outbound_deliveries_total{kind=\"security_alert\",outcome=\"delivered\"}",
            "portcullis_http_requests_total{method=\"GET\",route=\"/jwks\",status=\"200\"}",
            "portcullis_http_request_duration_seconds_count{method=\"GET\",route=\"/jwks\"}",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
