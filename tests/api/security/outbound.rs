//! Outbound requests that cannot be turned against us (issue 14 item 2):
//! the one outbound client (`adapters::outbound`) refuses internal
//! destinations after DNS resolution, follows no redirect, times out, and
//! stops reading at the body cap; the JWK Set cache does not refetch at an
//! attacker's pace; registration refuses a `jwks_uri` that is not https or
//! names a literal internal address. Local servers stand in for clients'
//! `jwks_uri`: the tests that reach them use the development exception
//! (`PORTCULLIS_OUTBOUND_ALLOW_INSECURE`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portcullis::adapters::outbound::{HardenedOutbound, OutboundLimits};
use portcullis::adapters::system::{OsRng, SystemClock};
use portcullis::app::operator::{self, OperatorError};
use portcullis::ports::outbound::{OutboundError, OutboundHttp as _};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::flow::register;
use crate::helpers::{Backend, spawn_app, spawn_app_with};
use crate::private_key_jwt::{assertion, keys, service, token_with};

const CAP: usize = 64 * 1024;

/// A local server: `answer` handles each connection; it counts connections
/// and, through the counter it is given, bytes sent.
struct Local {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    sent: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
}

async fn local<F, Fut>(answer: F) -> Local
where
    F: Fn(TcpStream, Arc<AtomicUsize>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (c, s, f) = (connections.clone(), sent.clone(), finished.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let (s, f) = (s.clone(), f.clone());
            let done = answer(stream, s);
            tokio::spawn(async move {
                done.await;
                f.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    Local {
        addr,
        connections,
        sent,
        finished,
    }
}

/// Reads the request head.
async fn read_head(s: &mut TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0_u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
}

/// 256 MiB of JSON-ish whitespace, chunked (no Content-Length to trust).
async fn huge(mut s: TcpStream, sent: Arc<AtomicUsize>) {
    read_head(&mut s).await;
    let head =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    if s.write_all(head).await.is_err() {
        return;
    }
    let chunk = vec![b' '; 64 * 1024];
    let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
    for _ in 0..4096 {
        if s.write_all(&framed).await.is_err() {
            return;
        }
        sent.fetch_add(chunk.len(), Ordering::SeqCst);
    }
}

/// A body that trickles one byte every 200 ms.
async fn slow(mut s: TcpStream, sent: Arc<AtomicUsize>) {
    read_head(&mut s).await;
    let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
    if s.write_all(head).await.is_err() {
        return;
    }
    for _ in 0..1000 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if s.write_all(b" ").await.is_err() {
            return;
        }
        sent.fetch_add(1, Ordering::SeqCst);
    }
}

fn client(allow_insecure: bool) -> HardenedOutbound {
    HardenedOutbound::new(OutboundLimits {
        allow_insecure,
        connect_timeout: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        max_response_bytes: CAP,
    })
    .unwrap()
}

/// Waits until the local server's handlers are done (at most 10 s).
async fn handlers_done(server: &Local) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.finished.load(Ordering::SeqCst) < server.connections.load(Ordering::SeqCst)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// At most the cap plus what the socket buffers hold: far from 256 MiB.
const BOUNDED: usize = 32 << 20;

#[tokio::test]
async fn a_huge_body_is_cut_at_the_cap_while_streaming() {
    let server = local(huge).await;
    let url = format!("http://{}/jwks", server.addr);
    let err = client(true).get(&url, "*/*", CAP).await.unwrap_err();
    assert_eq!(err, OutboundError::TooLarge { limit: CAP });
    handlers_done(&server).await;
    let sent = server.sent.load(Ordering::SeqCst);
    assert!(sent < BOUNDED, "the server got to send {sent} bytes");
    // A declared length over the cap is refused before the body.
    let declared = local(|mut s, _| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 629145600\r\n\r\n")
            .await;
    })
    .await;
    let url = format!("http://{}/jwks", declared.addr);
    let err = client(true).get(&url, "*/*", CAP).await.unwrap_err();
    assert_eq!(err, OutboundError::TooLarge { limit: CAP });
}

#[tokio::test]
async fn a_huge_jwks_document_is_not_read_past_the_cap() {
    // The attack of the review: one unauthenticated /token request made the
    // server read a 600 MB jwks_uri document whole.
    let server = local(huge).await;
    let app = spawn_app_with(Backend::Sqlite, |c| c.outbound.allow_insecure = true).await;
    let kp = keys("k1");
    let uri = format!("http://{}/jwks", server.addr);
    let c = register(&app, service(None, Some(uri))).await;
    let (s, b) = token_with(
        &app,
        &c.id,
        &assertion(&kp, &c.id, &app.url("/token"), "h1", 60),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    handlers_done(&server).await;
    let sent = server.sent.load(Ordering::SeqCst);
    assert!(sent < BOUNDED, "the server got to send {sent} bytes");
}

#[tokio::test]
async fn a_slow_body_times_out() {
    let server = local(slow).await;
    let url = format!("http://{}/jwks", server.addr);
    let started = Instant::now();
    let err = client(true).get(&url, "*/*", CAP).await.unwrap_err();
    assert_eq!(err, OutboundError::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let target = local(|mut s, _| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"keys\":[]}")
            .await;
    })
    .await;
    let location = format!("http://{}/jwks", target.addr);
    let redirecting = local(move |mut s, _| {
        let location = location.clone();
        async move {
            read_head(&mut s).await;
            let head =
                format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n");
            let _ = s.write_all(head.as_bytes()).await;
        }
    })
    .await;
    let url = format!("http://{}/jwks", redirecting.addr);
    let resp = client(true).get(&url, "*/*", CAP).await.unwrap();
    assert_eq!(resp.status, 302);
    // Through private_key_jwt: the redirect is a failed fetch.
    let app = spawn_app_with(Backend::Sqlite, |c| c.outbound.allow_insecure = true).await;
    let kp = keys("k1");
    let c = register(&app, service(None, Some(url))).await;
    let (s, _) = token_with(
        &app,
        &c.id,
        &assertion(&kp, &c.id, &app.url("/token"), "r1", 60),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        target.connections.load(Ordering::SeqCst),
        0,
        "the target was never asked"
    );
}

#[tokio::test]
async fn a_name_resolving_to_loopback_gets_no_connection() {
    // `localhost` is a name: registration cannot judge it, the connect-time
    // check on the resolved address does.
    let server = local(|mut s, _| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"keys\":[]}")
            .await;
    })
    .await;
    let port = server.addr.port();
    let outbound = client(false);
    for url in [
        format!("https://localhost:{port}/jwks"),
        format!("https://127.0.0.1:{port}/jwks"),
        format!("https://[::ffff:127.0.0.1]:{port}/jwks"),
        format!("http://localhost:{port}/jwks"),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let err = outbound.get(&url, "*/*", CAP).await.unwrap_err();
        assert!(matches!(err, OutboundError::Refused(_)), "{url}: {err:?}");
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    // The development exception reaches it (the refusal above is the rule,
    // not a dead server), and still never link-local.
    let open = client(true);
    let resp = open
        .get(&format!("http://localhost:{port}/jwks"), "*/*", CAP)
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let err = open
        .get("http://169.254.169.254/latest/meta-data/", "*/*", CAP)
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Refused(_)), "{err:?}");

    // End to end, with the default settings: a client whose jwks_uri names
    // localhost gets invalid_client and the server is never contacted.
    let app = spawn_app(Backend::Sqlite).await;
    let kp = keys("k1");
    let req = service(None, Some(format!("https://localhost:{port}/jwks")));
    let c = register(&app, req).await;
    let (s, _) = token_with(
        &app,
        &c.id,
        &assertion(&kp, &c.id, &app.url("/token"), "l1", 60),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        1,
        "only the allowed call above"
    );
}

#[tokio::test]
async fn bad_signatures_do_not_force_refetches() {
    let kp = keys("k1");
    let jwks = kp.jwks.clone();
    let server = local(move |mut s, _| {
        let jwks = jwks.clone();
        async move {
            read_head(&mut s).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{jwks}",
                jwks.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
        }
    })
    .await;
    let app = spawn_app_with(Backend::Sqlite, |c| c.outbound.allow_insecure = true).await;
    let c = register(
        &app,
        service(None, Some(format!("http://{}/jwks", server.addr))),
    )
    .await;
    let aud = app.url("/token");
    let (s, b) = token_with(&app, &c.id, &assertion(&kp, &c.id, &aud, "ok1", 60)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Ten assertions under unknown kids: each would have forced a refetch.
    for i in 0..10 {
        let stranger = keys(&format!("unknown-{i}"));
        let (s, _) = token_with(
            &app,
            &c.id,
            &assertion(&stranger, &c.id, &aud, &format!("x{i}"), 60),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        1,
        "one fetch within the refetch floor"
    );
}

/// Registers `req` with the outbound development exception on or off.
async fn create(
    app: &crate::helpers::TestApp,
    req: portcullis::app::operator::NewClient,
    outbound_allow_insecure: bool,
) -> Result<(), OperatorError> {
    operator::create_client(
        app.state.store.as_ref(),
        &OsRng,
        &SystemClock,
        req,
        outbound_allow_insecure,
    )
    .await
    .map(|_| ())
}

#[tokio::test]
async fn registration_refuses_a_jwks_uri_that_is_not_https_or_names_an_internal_address() {
    let app = spawn_app(Backend::Sqlite).await;
    for uri in [
        "http://rp.example/jwks",
        "https://127.0.0.1/jwks",
        "https://[::1]/jwks",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5/jwks",
        "https://192.168.0.10/jwks",
        "https://0x7f000001/jwks",
        "https://[::ffff:0:7f00:1]/jwks",
        "https://[2001::a9fe:a9fe]/jwks",
    ] {
        let err = create(&app, service(None, Some(uri.to_owned())), false)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, OperatorError::Invalid(m) if m.contains("--jwks-uri")),
            "{uri}: {err:?}"
        );
    }
    create(
        &app,
        service(None, Some("https://rp.example/jwks".into())),
        false,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_jwks_uri_rule_follows_the_outbound_setting_not_allow_http() {
    // One rule, one switch: `--allow-http` (redirect URIs) does not open
    // the jwks_uri rule; PORTCULLIS_OUTBOUND_ALLOW_INSECURE does, and
    // link-local stays refused even then.
    let app = spawn_app(Backend::Sqlite).await;
    let http_uri = || service(None, Some("http://127.0.0.1:8080/jwks".into()));
    let mut with_allow_http = http_uri();
    with_allow_http.allow_http = true;
    let err = create(&app, with_allow_http.clone(), false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OperatorError::Invalid(m) if m.contains("--jwks-uri")),
        "{err:?}"
    );
    create(&app, http_uri(), true).await.unwrap();
    create(&app, with_allow_http, true).await.unwrap();
    let err = create(
        &app,
        service(None, Some("http://169.254.169.254/jwks".into())),
        true,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OperatorError::Invalid(_)), "{err:?}");
    // `--allow-http` still admits http redirect URIs (its only job).
    let mut web = service(None, Some("https://rp.example/jwks".into()));
    web.grant_types = vec!["authorization_code".into()];
    web.redirect_uris = vec!["http://dev.example/cb".into()];
    web.allow_http = true;
    create(&app, web, false).await.unwrap();
}

/// The same through the CLI process, as an operator would run it.
#[tokio::test]
async fn client_create_takes_the_jwks_uri_exception_from_the_outbound_setting() {
    use crate::cli::{failed, ok, portcullis_with_env};
    use portcullis::ports::prelude::*;
    let db = crate::helpers::TestDb::new(Backend::Sqlite).await;
    let args = [
        "client",
        "create",
        "--name",
        "Service",
        "--grant-type",
        "client_credentials",
        "--auth-method",
        "private_key_jwt",
        "--jwks-uri",
        "http://127.0.0.1:8080/jwks",
    ];
    let with_allow_http: Vec<&str> = args.iter().copied().chain(["--allow-http"]).collect();
    let err = failed(&portcullis_with_env(&db, &with_allow_http, &[], None));
    assert!(err.contains("--jwks-uri"), "{err}");
    let err = failed(&portcullis_with_env(&db, &args, &[], None));
    assert!(err.contains("--jwks-uri"), "{err}");
    let insecure = [("PORTCULLIS_OUTBOUND_ALLOW_INSECURE", "true")];
    let out = ok(&portcullis_with_env(&db, &args, &insecure, None));
    assert!(out.contains("client_id"), "{out}");
    assert_eq!(
        db.store()
            .await
            .clients()
            .list_clients()
            .await
            .unwrap()
            .len(),
        1,
        "only the registration under the outbound setting was written"
    );
}
