//! The fast path for the public documents (discovery and JWKS, issue 9
//! §5): it answers without the router and its middleware, and its
//! responses are the router's, header for header.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::Response;
use http_body_util::BodyExt as _;
use portcullis::http::fast::{Documents, FastDocuments};
use tower::ServiceExt as _;

use crate::both_backends;
use crate::helpers::spawn_app;

const PATHS: [&str; 3] = [
    "/.well-known/openid-configuration",
    "/jwks",
    "/.well-known/jwks.json",
];

async fn call<S>(svc: S, path: &str, extra: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>)
where
    S: tower::Service<Request<Body>, Response = Response, Error = Infallible>,
{
    let mut req = Request::get(path);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = svc.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

/// Every header but the ones that differ by nature (a generated request id;
/// `date` is added later by hyper on both paths).
fn comparable(h: &HeaderMap, keep_request_id: bool) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = h
        .iter()
        .filter(|(k, _)| keep_request_id || k.as_str() != "x-request-id")
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    v.sort();
    v
}

both_backends!(fast_path_answers_like_the_router, |backend| async move {
    let app = spawn_app(backend).await;
    let router = portcullis::http::router(app.state.clone());
    let fast = portcullis::http::service(app.state.clone());
    for path in PATHS {
        let (status, headers, body) = call(router.clone(), path, &[]).await;
        assert_eq!(status, StatusCode::OK);
        let etag = headers["etag"].to_str().unwrap().to_owned();
        let cases: [&[(&str, &str)]; 5] = [
            &[],
            &[("if-none-match", etag.as_str())],
            &[("if-none-match", "\"something-else\"")],
            &[("x-request-id", "rp-req-42")],
            &[("origin", "https://rp.example")],
        ];
        for extra in cases {
            let slow = call(router.clone(), path, extra).await;
            let quick = call(fast.clone(), path, extra).await;
            let given_id = extra.iter().any(|(k, _)| *k == "x-request-id");
            assert_eq!(slow.0, quick.0, "{path} {extra:?}: status");
            assert_eq!(
                comparable(&slow.1, given_id),
                comparable(&quick.1, given_id),
                "{path} {extra:?}: headers"
            );
            assert_eq!(slow.2, quick.2, "{path} {extra:?}: body");
            // A request id is always there: echoed when given, else made.
            let id = quick.1["x-request-id"].to_str().unwrap();
            if given_id {
                assert_eq!(id, "rp-req-42");
            } else {
                assert_eq!(id.len(), 36, "a UUID: {id}");
            }
        }
        assert_eq!(body, call(fast.clone(), path, &[]).await.2);
    }
});

/// Behind an https issuer both paths add `Strict-Transport-Security` too:
/// the fast path takes its security headers from the middleware's list.
#[tokio::test]
async fn fast_path_adds_the_middleware_security_headers_over_https() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Backend::Sqlite, |c| {
        c.issuer = "https://id.example".into();
    })
    .await;
    let router = portcullis::http::router(app.state.clone());
    let fast = portcullis::http::service(app.state.clone());
    for path in PATHS {
        let slow = call(router.clone(), path, &[]).await;
        let quick = call(fast.clone(), path, &[]).await;
        assert_eq!(
            comparable(&slow.1, false),
            comparable(&quick.1, false),
            "{path}"
        );
        for h in [
            "strict-transport-security",
            "content-security-policy",
            "x-frame-options",
            "referrer-policy",
            "x-content-type-options",
        ] {
            assert!(quick.1.contains_key(h), "{path}: {h}");
        }
    }
}

/// The documents never reach the inner service; everything else does.
#[tokio::test]
async fn fast_path_does_not_call_the_router_for_documents() {
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    let docs = Documents::new(&app.state);
    let teapot = tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(axum::response::IntoResponse::into_response(
            StatusCode::IM_A_TEAPOT,
        ))
    });
    let svc = FastDocuments::new(teapot, docs);
    for path in PATHS {
        let (status, headers, body) = call(svc.clone(), path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(headers.contains_key("etag"));
        assert!(headers.contains_key("content-security-policy"));
        serde_json::from_slice::<serde_json::Value>(&body).unwrap();
    }
    // Other paths, other methods and queries on HEAD go to the inner service.
    for path in [
        "/token",
        "/jwks/",
        "/authorize",
        "/.well-known/openid-configuration/x",
    ] {
        assert_eq!(
            call(svc.clone(), path, &[]).await.0,
            StatusCode::IM_A_TEAPOT,
            "{path}"
        );
    }
    let head = Request::head("/jwks").body(Body::empty()).unwrap();
    assert_eq!(
        svc.clone().oneshot(head).await.unwrap().status(),
        StatusCode::IM_A_TEAPOT
    );
}

/// A key rotated through the operator shows in the fast path's JWKS (new
/// body, new `ETag`) once the ring refreshes, with no restart: the fast path
/// keeps no bytes of its own apart from the key ring's.
#[tokio::test]
async fn fast_path_jwks_follows_a_rotation() {
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    let fast = portcullis::http::service(app.state.clone());
    let (_, before_headers, before) = call(fast.clone(), "/jwks", &[]).await;
    let operator = portcullis::factory::build_key_ring(
        &app.state.config,
        app.state.store.clone(),
        app.state.clock.clone(),
        None,
    )
    .await
    .unwrap();
    let new = operator
        .rotate(portcullis::ports::JwsAlg::Rs256, None, true)
        .await
        .unwrap();
    app.state.keys.refresh().await.unwrap();
    let (_, after_headers, after) = call(fast.clone(), "/jwks", &[]).await;
    assert_ne!(before, after);
    assert_ne!(before_headers["etag"], after_headers["etag"]);
    let jwks: serde_json::Value = serde_json::from_slice(&after).unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == new.kid.as_str()),
        "the new key is published"
    );
    // The old ETag no longer gets a 304.
    let etag = before_headers["etag"].to_str().unwrap();
    assert_eq!(
        call(fast, "/jwks", &[("if-none-match", etag)]).await.0,
        StatusCode::OK
    );
}
