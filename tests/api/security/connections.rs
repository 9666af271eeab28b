//! Connection limits (issue 14 item 3): a header-read timeout, an idle
//! keep-alive timeout, a largest request head and a cap on connections
//! served at once, each a setting (`PORTCULLIS_HEADER_READ_TIMEOUT_SECS`,
//! `PORTCULLIS_KEEP_ALIVE_IDLE_SECS`, `PORTCULLIS_MAX_HEADER_BYTES`,
//! `PORTCULLIS_MAX_CONNECTIONS`). The tests set short timeouts so that they
//! run in seconds.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp, spawn_app_with};

/// Whether the server closed `stream` (EOF or reset) before `deadline`;
/// anything it sends first (a 408, a 431) is read and ignored.
async fn closed_by(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0_u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// A connection that sends a request line and one header, then stops
/// (slowloris).
async fn half_sent(app: &TestApp) -> TcpStream {
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    s
}

async fn healthz(app: &TestApp) -> Result<StatusCode, reqwest::Error> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    client
        .get(app.url("/healthz"))
        .send()
        .await
        .map(|r| r.status())
}

#[tokio::test]
async fn a_slow_headers_client_is_cut_off_within_the_header_read_timeout() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.connections.header_read_timeout = Duration::from_secs(1);
        // Not the idle timeout: the client keeps sending.
        c.connections.keep_alive_idle = Duration::from_mins(1);
    })
    .await;
    let mut s = half_sent(&app).await;
    let started = Instant::now();
    // One byte every 100 ms: never idle, never done.
    let mut closed = None;
    while started.elapsed() < Duration::from_secs(6) {
        if s.write_all(b"a").await.is_err() {
            closed = Some(started.elapsed());
            break;
        }
        if closed_by(&mut s, Instant::now() + Duration::from_millis(100)).await {
            closed = Some(started.elapsed());
            break;
        }
    }
    let closed = closed.expect("a slow-headers connection stayed open for 6 s");
    assert!(closed < Duration::from_secs(4), "closed after {closed:?}");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.connections.header_read_timeout = Duration::from_mins(1);
        c.connections.keep_alive_idle = Duration::from_secs(1);
    })
    .await;
    // A silent connection.
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    // A kept-alive one after a request.
    let mut kept = TcpStream::connect(app.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0_u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    let deadline = Instant::now() + Duration::from_secs(4);
    assert!(
        closed_by(&mut kept, deadline).await,
        "kept-alive stayed open"
    );
    assert!(closed_by(&mut silent, deadline).await, "silent stayed open");
}

#[tokio::test]
async fn normal_requests_are_served_while_500_slow_connections_are_open() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.connections.header_read_timeout = Duration::from_secs(5);
        c.connections.keep_alive_idle = Duration::from_mins(1);
    })
    .await;
    let started = Instant::now();
    let mut slow = Vec::with_capacity(500);
    for _ in 0..500 {
        slow.push(half_sent(&app).await);
    }
    for _ in 0..20 {
        assert_eq!(healthz(&app).await.unwrap(), StatusCode::OK);
    }
    // They were served while the slow ones were open.
    for (i, s) in slow.iter_mut().enumerate() {
        let now = Instant::now() + Duration::from_millis(1);
        assert!(!closed_by(s, now).await, "slow connection {i} closed early");
    }
    // And every one of them is cut off by the header-read timeout.
    let deadline = started + Duration::from_secs(12);
    for (i, s) in slow.iter_mut().enumerate() {
        assert!(
            closed_by(s, deadline).await,
            "slow connection {i} still open"
        );
    }
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_ends() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.connections.max_connections = 2;
        c.connections.header_read_timeout = Duration::from_mins(1);
        c.connections.keep_alive_idle = Duration::from_mins(1);
    })
    .await;
    let held = [half_sent(&app).await, half_sent(&app).await];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = tokio::spawn({
        let url = app.url("/healthz");
        async move {
            let started = Instant::now();
            let r = reqwest::Client::new().get(url).send().await.unwrap();
            (r.status(), started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!waiting.is_finished(), "a third connection was served");
    drop(held);
    let (status, took) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once a connection ended")
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(took >= Duration::from_millis(700), "{took:?}");
}

#[tokio::test]
async fn a_request_head_over_the_limit_gets_431() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.connections.max_header_bytes = 16_384;
    })
    .await;
    let r = reqwest::Client::new()
        .get(app.url("/healthz"))
        .header("x-big", "a".repeat(20_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // A head within the limit is served.
    let r = reqwest::Client::new()
        .get(app.url("/healthz"))
        .header("x-big", "a".repeat(8_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
