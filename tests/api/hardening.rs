//! Hardening: per-address rate limits, trusted proxies, CORS, security
//! headers, parameter-size limits, `/metrics` (on the management listener)
//! and `portcullis healthcheck`.

use portcullis::config::{CorsOrigins, RateLimits, TrustedProxies};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::both_backends;
use crate::flow::{
    client_req, get_authorize, login, param, query, redirect_params, register, user,
};
use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

/// A page every configuration serves: the error page for an unknown client.
const PAGE: &str =
    "/authorize?client_id=no-such-client&redirect_uri=https%3A%2F%2Fapp.example%2Fcb";

async fn post_login_form(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut req = app.http.post(app.url("/login")).form(&[
        ("request", "r"),
        ("username", "u"),
        ("csrf_token", "x"),
    ]);
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap()
}

fn retry_after(h: &HeaderMap) -> u64 {
    h.get("retry-after")
        .expect("Retry-After on a 429")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

// ---------------------------------------------------------------- rate limits

both_backends!(
    authorize_over_its_limit_gets_a_429_page_with_retry_after,
    |backend| async move {
        let app = spawn_app_with(backend, |c| {
            c.rate_limits = RateLimits {
                authorize_per_min: 3,
                ..RateLimits::OFF
            };
        })
        .await;
        for _ in 0..3 {
            let r = app.http.get(app.url(PAGE)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "within the limit");
        }
        let r = app
            .http
            .post(app.url("/authorize"))
            .form(&[("client_id", "no-such-client")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "GET and POST share it"
        );
        let wait = retry_after(r.headers());
        assert!((1..=20).contains(&wait), "one interval at 3/min: {wait}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert!(r.text().await.unwrap().contains("Too many requests"));
        // Other endpoints are not limited.
        let r = app.http.get(app.url("/jwks")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = app
            .http
            .post(app.url("/consent"))
            .form(&[("request", "r")])
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }
);

both_backends!(login_post_over_its_limit_gets_a_429, |backend| async move {
    let app = spawn_app_with(backend, |c| {
        c.rate_limits = RateLimits {
            login_per_min: 2,
            ..RateLimits::OFF
        };
    })
    .await;
    for _ in 0..2 {
        let r = post_login_form(&app, None).await;
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "CSRF check, within the limit"
        );
    }
    let r = post_login_form(&app, None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(r.headers()) >= 1);
    // The page itself (GET) is not the login post.
    let r = app.http.get(app.url(PAGE)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let metrics = app
        .http
        .get(app.management_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("portcullis_rate_limited_total{limit=\"login\"}"),
        "{metrics}"
    );
});

#[tokio::test]
async fn token_path_is_limited_whatever_route_serves_it() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.rate_limits = RateLimits {
            token_per_min: 1,
            ..RateLimits::OFF
        };
    })
    .await;
    let send = || {
        app.http
            .post(app.url("/token"))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let first = send().await.unwrap();
    assert_ne!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(r.headers()) >= 1);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["error"], "temporarily_unavailable",
        "RFC 6749 §5.2 shape"
    );
    assert!(body["error_description"].is_string());
}

#[tokio::test]
async fn default_limits_let_a_burst_of_token_requests_through() {
    let app = spawn_app(Backend::Sqlite).await;
    assert_eq!(app.state.config.rate_limits, RateLimits::DEFAULT);
    for _ in 0..200 {
        let r = app.http.post(app.url("/token")).send().await.unwrap();
        assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}

// ---------------------------------------------------------------- proxies

both_backends!(
    forwarded_for_names_the_client_only_behind_a_trusted_proxy,
    |backend| async move {
        let limits = RateLimits {
            login_per_min: 1,
            ..RateLimits::OFF
        };
        let app = spawn_app_with(backend, |c| {
            c.rate_limits = limits;
            c.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap();
        })
        .await;
        let a = "203.0.113.1";
        let b = "203.0.113.2";
        assert_eq!(
            post_login_form(&app, Some(a)).await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            post_login_form(&app, Some(a)).await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            post_login_form(&app, Some(b)).await.status(),
            StatusCode::FORBIDDEN,
            "another client behind the same proxy has its own bucket"
        );
        assert_eq!(
            post_login_form(&app, Some(&format!("{b}, 127.0.0.1")))
                .await
                .status(),
            StatusCode::TOO_MANY_REQUESTS,
            "trusted hops are skipped: still client b"
        );

        // Without trusted proxies the header is ignored: everyone here is
        // 127.0.0.1.
        let app = spawn_app_with(backend, |c| c.rate_limits = limits).await;
        assert_eq!(
            post_login_form(&app, Some(a)).await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            post_login_form(&app, Some(b)).await.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "a forged X-Forwarded-For does not buy a fresh bucket"
        );
    }
);

// ---------------------------------------------------------------- CORS

fn acao(h: &HeaderMap) -> Option<&str> {
    h.get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap())
}

both_backends!(
    cors_is_answered_on_api_paths_for_allowed_origins_only,
    |backend| async move {
        let app = spawn_app_with(backend, |c| {
            c.cors_allowed_origins = CorsOrigins::List(vec!["https://app.example".into()]);
        })
        .await;
        for path in ["/.well-known/openid-configuration", "/jwks"] {
            for origin in ["https://app.example", "https://other.example"] {
                let r = app
                    .http
                    .get(app.url(path))
                    .header("origin", origin)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK, "{path}");
                assert_eq!(acao(r.headers()), Some("*"), "{path}: a public document");
            }
        }
        // A preflight for the token endpoint is answered by the layer.
        let r = app
            .http
            .request(reqwest::Method::OPTIONS, app.url("/token"))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        let h = r.headers();
        assert_eq!(acao(h), Some("https://app.example"));
        assert!(h["vary"].to_str().unwrap().contains("origin"));
        assert!(
            h["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("POST")
        );
        let allowed = h["access-control-allow-headers"].to_str().unwrap();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"));
        assert!(h.get("access-control-allow-credentials").is_none());
        // Another origin gets no CORS on the API endpoints.
        let r = app
            .http
            .request(reqwest::Method::OPTIONS, app.url("/userinfo"))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .unwrap();
        assert_eq!(acao(r.headers()), None);
        // No CORS on the pages, even for an allowed origin.
        let r = app
            .http
            .get(app.url(PAGE))
            .header("origin", "https://app.example")
            .send()
            .await
            .unwrap();
        assert_eq!(acao(r.headers()), None);
        let r = app
            .http
            .request(reqwest::Method::OPTIONS, app.url("/login"))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(acao(r.headers()), None);
    }
);

#[tokio::test]
async fn by_default_only_the_public_documents_allow_other_origins() {
    let app = spawn_app(Backend::Sqlite).await;
    let r = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(acao(r.headers()), Some("*"));
    // A preflight for a conditional JWKS fetch.
    let r = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/jwks"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "if-none-match")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(acao(r.headers()), Some("*"));
    let r = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/token"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(acao(r.headers()), None, "no API origin is configured");
}

// ---------------------------------------------------------------- headers on pages

async fn page_headers(backend: Backend, https_issuer: bool) -> HeaderMap {
    let app = spawn_app_with(backend, |c| {
        if https_issuer {
            c.issuer = "https://id.example".into();
        }
    })
    .await;
    let client = register(&app, client_req(false)).await;
    // The sign-in page, a real page of the flow (by address: the issuer may
    // name a host that does not exist).
    let r = app
        .http
        .get(format!(
            "http://{}/authorize?{}",
            app.addr,
            query(&client.id, &[])
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    r.headers().clone()
}

both_backends!(
    pages_send_a_csp_that_forbids_framing,
    |backend| async move {
        let h = page_headers(backend, false).await;
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("default-src 'self'"), "{csp}");
    }
);

both_backends!(pages_send_nosniff, |backend| async move {
    let h = page_headers(backend, false).await;
    assert_eq!(h["x-content-type-options"], "nosniff");
});

both_backends!(pages_send_no_referrer, |backend| async move {
    let h = page_headers(backend, false).await;
    assert_eq!(h["referrer-policy"], "no-referrer");
});

both_backends!(pages_send_x_frame_options_deny, |backend| async move {
    let h = page_headers(backend, false).await;
    assert_eq!(h["x-frame-options"], "DENY");
});

both_backends!(
    pages_send_hsts_only_when_the_issuer_is_https,
    |backend| async move {
        let h = page_headers(backend, true).await;
        assert_eq!(h["strict-transport-security"], "max-age=31536000");
        let h = page_headers(backend, false).await;
        assert!(h.get("strict-transport-security").is_none());
    }
);

// ---------------------------------------------------------------- limits

both_backends!(
    an_oversized_authorize_parameter_is_invalid_request,
    |backend| async move {
        let app = spawn_app(backend).await;
        let client = register(&app, client_req(false)).await;
        let long = "n".repeat(portcullis::protocol::params::MAX_VALUE_LEN + 1);
        let r = get_authorize(&app, &query(&client.id, &[("login_hint", &long)])).await;
        let params = redirect_params(&r);
        assert_eq!(param(&params, "error"), Some("invalid_request"));
        assert!(
            param(&params, "error_description")
                .unwrap()
                .contains("login_hint is too long")
        );
        assert_eq!(param(&params, "state"), Some("st-123"));
        // At the limit it is accepted.
        let fits = "n".repeat(portcullis::protocol::params::MAX_VALUE_LEN);
        let r = get_authorize(&app, &query(&client.id, &[("login_hint", &fits)])).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
);

// ---------------------------------------------------------------- metrics

both_backends!(
    metrics_count_requests_by_route_and_login_failures,
    |backend| async move {
        let app = spawn_app(backend).await;
        let r = app.http.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = app
            .http
            .get(app.url("/no-such-page-7f3a"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let client = register(&app, client_req(false)).await;
        user(&app, "alice").await;
        let page = get_authorize(&app, &query(&client.id, &[])).await;
        let html = page.text().await.unwrap();
        let r = login(&app, &html, "alice", "wrong password").await;
        assert_eq!(r.status(), StatusCode::OK, "the login page again");

        let r = app
            .http
            .get(app.management_url("/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let text = r.text().await.unwrap();
        for needle in [
            "portcullis_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}",
            "portcullis_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}",
            "portcullis_http_requests_total{method=\"GET\",route=\"/authorize\",status=\"200\"}",
            "portcullis_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\"",
            "portcullis_login_failures_total{reason=\"invalid_credentials\"}",
            "# TYPE portcullis_events_queued gauge",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
        assert!(
            !text.contains("no-such-page-7f3a"),
            "raw paths never become labels"
        );
    }
);

// ---------------------------------------------------------------- healthcheck

fn healthcheck(listen: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("healthcheck")
        .current_dir(dir.path())
        .env("PORTCULLIS_LISTEN", listen)
        .output()
        .unwrap()
}

#[tokio::test]
async fn healthcheck_command_exits_0_when_the_server_answers_and_1_otherwise() {
    let app = spawn_app(Backend::Sqlite).await;
    let listen = format!("0.0.0.0:{}", app.addr.port());
    let out = tokio::task::spawn_blocking(move || healthcheck(&listen))
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let out = tokio::task::spawn_blocking(move || healthcheck(&format!("127.0.0.1:{port}")))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unreachable"));
}

// ---------------------------------------------------------------- KMS metrics

fn kms_endpoint() -> String {
    std::env::var("PORTCULLIS_TEST_KMS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5599".into())
}

#[tokio::test]
async fn kms_calls_are_counted_by_operation_and_outcome() {
    let kms = portcullis::adapters::keys::kms::client_for_emulator(&kms_endpoint());
    let key = kms
        .create_key()
        .send()
        .await
        .unwrap_or_else(|e| panic!("the KMS emulator at {} is required: {e}", kms_endpoint()));
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    kms.describe_key().key_id(&key_id).send().await.unwrap();
    let missing = kms
        .describe_key()
        .key_id("alias/portcullis-no-such-key")
        .send()
        .await;
    assert!(missing.is_err());
    let text = portcullis::metrics::render().unwrap();
    for needle in [
        "portcullis_kms_calls_total{op=\"CreateKey\",outcome=\"ok\"}",
        "portcullis_kms_calls_total{op=\"DescribeKey\",outcome=\"ok\"}",
        "portcullis_kms_calls_total{op=\"DescribeKey\",outcome=\"error\"}",
        "portcullis_kms_call_seconds_count{op=\"DescribeKey\"}",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}
