//! The ClickHouse event sink against a real ClickHouse server
//! (`PORTCULLIS_TEST_CLICKHOUSE_URL`, default http://127.0.0.1:8123; the
//! tests fail when it is unreachable). Each test uses its own database,
//! `test_<uuid>`, dropped at the end. Outages are simulated with a TCP proxy
//! of the test's own between the sink and ClickHouse, which can stall (hang
//! every connection) or cut (close them all, refuse new ones): the shared
//! server is never stopped.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use portcullis::adapters::events::ClickHouseEventSink;
use portcullis::adapters::events::clickhouse as ch;
use portcullis::config::{ClickHouseConfig, EventConfig};
use portcullis::domain::event::{
    DetailKey, Event, EventKind, LoginFailureReason, Outcome, TokenKind,
};
use portcullis::domain::{GrantType, ScopeSet};
use portcullis::factory::build_event_reader;
use portcullis::ports::{Clock, EventSink};
use portcullis::startup::App;
use portcullis::testing::FixedClock;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::events::{cli, client, follow, other_client, pipeline, stamp, tagged, take_lines, user};
use crate::helpers::{Backend, TestDb, test_config, test_overrides};

pub fn clickhouse_url() -> String {
    std::env::var("PORTCULLIS_TEST_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8123".to_owned())
}

/// A database of the test's own on the shared server, and a data dir for
/// the spool.
pub struct TestClickHouse {
    pub url: String,
    pub database: String,
    pub dir: TempDir,
    pub client: clickhouse::Client,
}

impl TestClickHouse {
    pub async fn new() -> Self {
        let url = clickhouse_url();
        let database = format!("test_{}", uuid::Uuid::new_v4().simple());
        let dir = tempfile::tempdir().unwrap();
        let mut config = Self::config_for(&url, &database, &dir);
        config.timeout = Duration::from_secs(30);
        let client = ch::client(&config);
        let one: u8 = client
            .query("SELECT 1")
            .fetch_one()
            .await
            .unwrap_or_else(|e| {
                panic!("ClickHouse at {url} is required (PORTCULLIS_TEST_CLICKHOUSE_URL): {e}")
            });
        assert_eq!(one, 1);
        Self {
            url,
            database,
            dir,
            client,
        }
    }

    fn config_for(url: &str, database: &str, dir: &TempDir) -> ClickHouseConfig {
        ClickHouseConfig {
            url: url.to_owned(),
            user: None,
            password: None,
            database: database.to_owned(),
            spool_dir: dir.path().join("spool"),
            ttl_days: 0,
            timeout: Duration::from_secs(5),
            retry_max: Duration::from_millis(200),
            retention_requires_archive: false,
        }
    }

    /// A sink configuration reaching ClickHouse through `url`.
    pub fn config(&self, url: &str) -> ClickHouseConfig {
        Self::config_for(url, &self.database, &self.dir)
    }

    pub fn table(&self) -> String {
        ch::qualified_table(&self.database)
    }

    pub fn upstream(&self) -> SocketAddr {
        url::Url::parse(&self.url)
            .unwrap()
            .socket_addrs(|| None)
            .unwrap()[0]
    }

    pub async fn scalar(&self, sql: &str) -> u64 {
        let sql = sql.replace("{t}", &self.table());
        self.client
            .query(&sql)
            .fetch_one::<u64>()
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub async fn execute(&self, sql: &str) {
        let sql = sql
            .replace("{t}", &self.table())
            .replace("{db}", &format!("`{}`", self.database));
        self.client
            .query(&sql)
            .execute()
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Rows as `SELECT … FINAL` sees them (each event once).
    pub async fn count_final(&self) -> u64 {
        self.scalar("SELECT count() FROM {t} FINAL").await
    }

    /// Asserts that exactly the `n` events tagged `prefix*` are stored once:
    /// `FINAL` counts, distinct ids and tags, and, after merging every part
    /// (`OPTIMIZE … FINAL`), the physical row count.
    pub async fn assert_exactly_once(&self, n: u64) {
        assert_eq!(self.count_final().await, n, "count() FINAL");
        assert_eq!(
            self.scalar("SELECT uniqExact(event_id) FROM {t}").await,
            n,
            "distinct event ids"
        );
        assert_eq!(
            self.scalar("SELECT uniqExact(request_id) FROM {t}").await,
            n,
            "distinct tags"
        );
        self.execute("OPTIMIZE TABLE {t} FINAL").await;
        assert_eq!(
            self.scalar("SELECT count() FROM {t}").await,
            n,
            "rows after merging"
        );
    }
}

impl Drop for TestClickHouse {
    /// Drops the database with a plain blocking HTTP request (works while
    /// panicking, outside any runtime).
    fn drop(&mut self) {
        let addr = self.upstream();
        let query = format!("DROP DATABASE IF EXISTS `{}`", self.database);
        let path: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
        if let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
            let req = format!(
                "POST /?query={path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            if s.write_all(req.as_bytes()).is_ok() {
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Up,
    /// Connections stay open but nothing is forwarded: ClickHouse "hangs".
    Stall,
    /// Every connection is closed and new ones are closed at once.
    Down,
}

/// A TCP proxy in front of ClickHouse that the test can stall, cut and
/// restore.
struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, rx) = watch::channel(Mode::Up);
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(Self::relay(inbound, upstream, rx.clone()));
            }
        });
        Self { addr, mode }
    }

    async fn relay(mut inbound: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
        let m = *mode.borrow_and_update();
        match m {
            Mode::Down => return,
            Mode::Stall => {
                let _ = mode.changed().await;
                return;
            }
            Mode::Up => {}
        }
        let Ok(mut outbound) = TcpStream::connect(upstream).await else {
            return;
        };
        let _ = inbound.set_nodelay(true);
        let _ = outbound.set_nodelay(true);
        let changed = async {
            loop {
                if mode.changed().await.is_err() {
                    return Mode::Down;
                }
                let m = *mode.borrow();
                if m != Mode::Up {
                    return m;
                }
            }
        };
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
            m = changed => {
                if m == Mode::Stall {
                    // Hold both ends, forwarding nothing, until the next change.
                    let _ = mode.changed().await;
                }
            }
        }
        let _ = inbound.shutdown().await;
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set(&self, m: Mode) {
        self.mode.send_replace(m);
    }
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(portcullis::adapters::system::SystemClock)
}

/// Polls `cond` every 20 ms for up to `secs` seconds.
async fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs} s waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_concurrent_events_arrive_exactly_once() {
    const TASKS: usize = 8;
    const EACH: usize = 12_500;
    let db = TestClickHouse::new().await;
    let sink = Arc::new(
        ClickHouseEventSink::start(&db.config(&db.url), &pipeline(5_000, 100, 10_000), clock())
            .unwrap(),
    );
    let emitters: Vec<_> = (0..TASKS)
        .map(|t| {
            let sink = sink.clone();
            tokio::spawn(async move {
                let clock = portcullis::adapters::system::SystemClock;
                for i in 0..EACH {
                    sink.emit(tagged(&clock, &format!("t{t}-{i}")));
                    if i % 256 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for e in emitters {
        e.await.unwrap();
    }
    sink.flush().await.unwrap();
    let s = sink.stats();
    let n = (TASKS * EACH) as u64;
    assert_eq!(s.emitted, n);
    assert_eq!(s.sent, n);
    assert_eq!((s.queued, s.spool_pending, s.dropped), (0, 0, 0), "{s:?}");
    db.assert_exactly_once(n).await;
    eprintln!("100k: {s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_outage_mid_stream_loses_none_and_duplicates_none() {
    const N: usize = 30_000;
    let db = TestClickHouse::new().await;
    let proxy = Proxy::start(db.upstream()).await;
    let mut config = db.config(&proxy.url());
    config.timeout = Duration::from_millis(500);
    let sink =
        Arc::new(ClickHouseEventSink::start(&config, &pipeline(200, 20, 1_000), clock()).unwrap());
    // A steady stream: 100 events every 5 ms.
    let emitter = {
        let sink = sink.clone();
        tokio::spawn(async move {
            let clock = portcullis::adapters::system::SystemClock;
            for i in 0..N {
                sink.emit(tagged(&clock, &format!("o{i}")));
                if i % 100 == 99 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    };
    wait_until("events flow into ClickHouse", 30, || {
        sink.stats().sent >= 2_000
    })
    .await;
    // ClickHouse hangs: inserts in flight time out and go to the spool.
    proxy.set(Mode::Stall);
    wait_until("events are spooled", 30, || sink.stats().spooled >= 500).await;
    // Then it goes away altogether: every connection is cut.
    proxy.set(Mode::Down);
    let spooled_at_cut = sink.stats().spooled;
    wait_until("more events are spooled while it is down", 30, || {
        sink.stats().spooled >= spooled_at_cut + 1_000
    })
    .await;
    let during = sink.stats();
    assert!(
        during.sent < N as u64,
        "the outage fell mid-stream: {during:?}"
    );
    assert_eq!(during.dropped, 0);
    // It comes back; the stream goes on.
    proxy.set(Mode::Up);
    emitter.await.unwrap();
    // The spool is replayed in the background, without a flush.
    wait_until("everything is replayed", 60, || {
        let s = sink.stats();
        s.sent == N as u64 && s.spool_pending == 0
    })
    .await;
    sink.flush().await.unwrap();
    let s = sink.stats();
    assert_eq!(
        (s.emitted, s.sent, s.dropped, s.queued),
        (N as u64, N as u64, 0, 0)
    );
    assert!(s.spooled > 0);
    let physical = db.scalar("SELECT count() FROM {t}").await;
    eprintln!("outage: {s:?}; physical rows before merging: {physical}");
    db.assert_exactly_once(N as u64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_spools_instead_of_blocking() {
    let db = TestClickHouse::new().await;
    let proxy = Proxy::start(db.upstream()).await;
    proxy.set(Mode::Stall);
    let mut config = db.config(&proxy.url());
    config.timeout = Duration::from_secs(2);
    let sink = ClickHouseEventSink::start(&config, &pipeline(10, 1, 10), clock()).unwrap();
    let clock = FixedClock::at(Utc::now());
    // The writer task is stuck on an insert that ClickHouse never answers;
    // were `emit` to wait for room in the queue, this loop would never end.
    for i in 0..1_000 {
        sink.emit(tagged(&clock, &format!("f{i}")));
    }
    let s = sink.stats();
    assert_eq!(s.emitted, 1_000);
    assert!(
        s.spooled >= 980,
        "queue (10) and one batch (10) at most in memory: {s:?}"
    );
    assert!(sink.spool().pending() >= 980);
    assert_eq!(db.count_final_or_zero().await, 0);
    proxy.set(Mode::Up);
    wait_until("the spool is replayed", 30, || sink.stats().sent == 1_000).await;
    sink.flush().await.unwrap();
    let s = sink.stats();
    assert_eq!((s.sent, s.spool_pending, s.dropped), (1_000, 0, 0), "{s:?}");
    db.assert_exactly_once(1_000).await;
}

impl TestClickHouse {
    /// `count_final`, or 0 while the table does not exist yet.
    async fn count_final_or_zero(&self) -> u64 {
        self.client
            .query(&format!("SELECT count() FROM {} FINAL", self.table()))
            .fetch_one::<u64>()
            .await
            .unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_a_non_empty_spool_replays_it() {
    let db = TestClickHouse::new().await;
    let proxy = Proxy::start(db.upstream()).await;
    proxy.set(Mode::Down);
    let clock = FixedClock::at(Utc::now());
    {
        // First run: ClickHouse unreachable; everything ends in the spool.
        let first = ClickHouseEventSink::start(
            &db.config(&proxy.url()),
            &pipeline(50, 5, 100),
            self::clock(),
        )
        .unwrap();
        for i in 0..500 {
            first.emit(tagged(&clock, &format!("r{i}")));
        }
        first.close().await.unwrap();
        let s = first.stats();
        assert_eq!((s.sent, s.spooled, s.spool_pending), (0, 500, 500), "{s:?}");
    }
    let segments = std::fs::read_dir(db.dir.path().join("spool"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("segment-")
        })
        .count();
    assert!(segments >= 1);
    // Second run, ClickHouse reachable: the spool is replayed on its own.
    let second =
        ClickHouseEventSink::start(&db.config(&db.url), &pipeline(50, 5, 100), self::clock())
            .unwrap();
    assert_eq!(second.stats().spool_pending, 500);
    wait_until("the old spool is replayed", 30, || {
        second.stats().spool_pending == 0
    })
    .await;
    second.flush().await.unwrap();
    assert_eq!(second.stats().sent, 500);
    db.assert_exactly_once(500).await;
    let left = std::fs::read_dir(db.dir.path().join("spool"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("segment-")
        })
        .count();
    assert_eq!(left, 0, "replayed segments are deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_batch_goes_to_the_spool_and_arrives_once_the_table_is_fixed() {
    let db = TestClickHouse::new().await;
    // A table that is wrong: ClickHouse refuses every insert.
    db.execute("CREATE DATABASE {db}").await;
    db.execute("CREATE TABLE {t} (x UInt8) ENGINE = Memory")
        .await;
    let sink =
        ClickHouseEventSink::start(&db.config(&db.url), &pipeline(20, 5, 100), clock()).unwrap();
    let clock = FixedClock::at(Utc::now());
    for i in 0..100 {
        sink.emit(tagged(&clock, &format!("x{i}")));
    }
    sink.flush().await.unwrap();
    let s = sink.stats();
    assert_eq!((s.sent, s.spool_pending, s.dropped), (0, 100, 0), "{s:?}");
    assert_eq!(db.scalar("SELECT count() FROM {t}").await, 0);
    // The operator drops the bad table; the schema step recreates it and
    // the spool is replayed after the next pause.
    db.execute("DROP TABLE {t}").await;
    wait_until("the spool is replayed", 30, || {
        sink.stats().spool_pending == 0
    })
    .await;
    sink.flush().await.unwrap();
    let s = sink.stats();
    assert_eq!((s.sent, s.spool_pending, s.dropped), (100, 0, 0), "{s:?}");
    db.assert_exactly_once(100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_disk_failure_is_counted_as_dropped_and_reported() {
    let db = TestClickHouse::new().await;
    let proxy = Proxy::start(db.upstream()).await;
    proxy.set(Mode::Down);
    let sink = ClickHouseEventSink::start(&db.config(&proxy.url()), &pipeline(10, 5, 100), clock())
        .unwrap();
    // The spool directory disappears and a file takes its name: no segment
    // can be created (the test runs as root, so permissions would not do).
    let spool = db.dir.path().join("spool");
    std::fs::remove_dir_all(&spool).unwrap();
    std::fs::write(&spool, b"not a directory").unwrap();
    let clock = FixedClock::at(Utc::now());
    for i in 0..7 {
        sink.emit(tagged(&clock, &format!("d{i}")));
    }
    let err = sink.flush().await.unwrap_err();
    assert!(err.to_string().contains("7 events"), "{err}");
    let s = sink.stats();
    assert_eq!((s.emitted, s.sent, s.dropped), (7, 0, 7), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_survives_the_round_trip_through_clickhouse() {
    let db = TestClickHouse::new().await;
    let sink =
        ClickHouseEventSink::start(&db.config(&db.url), &pipeline(100, 5, 100), clock()).unwrap();
    let base = Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap();
    let scopes = ScopeSet::parse("openid email").unwrap();
    let ip: std::net::IpAddr = "2001:db8::7".parse().unwrap();
    let mut sent = Vec::new();
    for (i, kind) in EventKind::ALL.into_iter().enumerate() {
        let at = base + chrono::Duration::milliseconds(i64::try_from(i).unwrap() * 1_001);
        let e = Event::new(kind, stamp(at))
            .client(&client())
            .subject(&user())
            .session("sid-42")
            .scopes(&scopes)
            .grant_type(GrantType::RefreshToken)
            .error("invalid_grant")
            .outcome(Outcome::Failure)
            .request(Some(ip), Some("curl/8.5"), Some(&format!("rt-{i}")))
            .detail(DetailKey::Reason, "because")
            .detail(DetailKey::RevokedCount, "2");
        sink.emit(e.clone());
        sent.push(e);
    }
    sink.emit(Event::new(
        EventKind::Logout,
        stamp(base + chrono::Duration::hours(1)),
    ));
    sink.flush().await.unwrap();
    let back = ch::recent(&db.client, &db.database, 100).await.unwrap();
    let n = EventKind::ALL.len();
    assert_eq!(back.len(), n + 1);
    assert_eq!(&back[..n], &sent[..]);
    let minimal = &back[n];
    assert_eq!(
        (
            minimal.client_id(),
            minimal.ip(),
            minimal.scope_list().len()
        ),
        (None, None, 0),
        "absent values come back absent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_and_tail_read_each_event_once_even_when_a_batch_was_sent_twice() {
    let db = TestClickHouse::new().await;
    let config = db.config(&db.url);
    let sink = ClickHouseEventSink::start(&config, &pipeline(100, 5, 100), clock()).unwrap();
    let clock = FixedClock::at(Utc::now());
    let mut batch = Vec::new();
    for reason in [
        LoginFailureReason::BadPassword,
        LoginFailureReason::BadPassword,
        LoginFailureReason::Locked,
    ] {
        batch.push(Event::login_failed(stamp(clock.now()), reason).request(None, None, Some("l")));
    }
    batch.push(tagged(&clock, "a"));
    batch.push(tagged(&clock, "b"));
    batch.push(Event::consent_denied(
        stamp(clock.now()),
        &other_client(),
        &user(),
        &ScopeSet::parse("openid").unwrap(),
    ));
    for e in &batch {
        sink.emit(e.clone());
    }
    sink.flush().await.unwrap();
    // A retried batch, resent unchanged (what the spool replay does).
    ch::insert(&db.client, &db.database, &batch, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        db.scalar("SELECT count() FROM {t}").await,
        12,
        "stored twice"
    );
    let stats = ch::stats(
        &db.client,
        &db.database,
        clock.now() - chrono::Duration::hours(1),
    )
    .await
    .unwrap();
    assert_eq!(stats.total, 6);
    assert_eq!(stats.by_kind["login_failed"], 3);
    assert_eq!(stats.by_kind["token_issued"], 2);
    assert_eq!(stats.failed_logins_by_reason["bad_password"], 2);
    assert_eq!(stats.failed_logins_by_reason["locked"], 1);
    assert_eq!(stats.by_client[client().as_str()].total, 2);
    assert_eq!(stats.by_client[other_client().as_str()].failures, 1);
    let later = ch::stats(
        &db.client,
        &db.database,
        clock.now() + chrono::Duration::seconds(1),
    )
    .await
    .unwrap();
    assert_eq!(later.total, 0, "the window excludes older events");
    assert_eq!(
        ch::recent(&db.client, &db.database, 100)
            .await
            .unwrap()
            .len(),
        6
    );
    // By arrival the duplicate rows show (follow keeps the ids it has seen).
    let arrived = ch::arrived_since(&db.client, &db.database, 0, 100)
        .await
        .unwrap();
    assert_eq!(arrived.len(), 12);

    // The same through the CLI.
    let envs = [
        ("PORTCULLIS_CLICKHOUSE_URL", db.url.clone()),
        ("PORTCULLIS_CLICKHOUSE_DATABASE", db.database.clone()),
    ];
    let out = cli(
        db.dir.path(),
        &envs,
        &["events", "stats", "--since", "1h", "--json"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["total"], 6);
    assert_eq!(v["failed_logins_by_reason"]["bad_password"], 2);
    let out = cli(
        db.dir.path(),
        &envs,
        &["events", "tail", "-n", "4", "--json"],
    );
    assert_eq!(out.lines().count(), 4);
}

/// What `events tail|stats` use with ClickHouse configured: the reader the
/// factory builds reads the table through the `EventReader` port, each
/// event once although a batch was stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_reader_tails_follows_and_counts_clickhouse_events() {
    let ch_db = TestClickHouse::new().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = test_config(&db, "127.0.0.1:9".parse().unwrap());
    config.events = EventConfig::ClickHouse(ch_db.config(&ch_db.url));
    let sink =
        ClickHouseEventSink::start(&ch_db.config(&ch_db.url), &pipeline(100, 5, 100), clock())
            .unwrap();
    let clock = FixedClock::at(Utc::now());
    sink.emit(tagged(&clock, "old"));
    sink.flush().await.unwrap();

    let reader = build_event_reader(&config);
    let mut follower = reader.follow().await.unwrap();
    let mut batch = vec![
        Event::login_failed(stamp(clock.now()), LoginFailureReason::BadPassword),
        Event::consent_denied(
            stamp(clock.now()),
            &other_client(),
            &user(),
            &ScopeSet::parse("openid").unwrap(),
        ),
    ];
    for i in 0..3 {
        batch.push(tagged(&clock, &format!("n{i}")));
    }
    for e in &batch {
        sink.emit(e.clone());
    }
    sink.flush().await.unwrap();
    // A retried batch, resent unchanged.
    ch::insert(
        &ch_db.client,
        &ch_db.database,
        &batch,
        Duration::from_secs(10),
    )
    .await
    .unwrap();

    let recent = reader.recent(100).await.unwrap();
    assert_eq!(recent.len(), 6, "each event once");
    assert_eq!(reader.recent(2).await.unwrap().len(), 2);
    let stats = reader
        .stats(clock.now() - chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(stats.total, 6);
    assert_eq!(stats.by_kind["token_issued"], 4);
    assert_eq!(stats.failed_logins_by_reason["bad_password"], 1);
    assert_eq!(stats.by_client[other_client().as_str()].failures, 1);

    let mut got = follower.poll().await.unwrap();
    got.extend(follower.poll().await.unwrap());
    let mut ids: Vec<_> = got.iter().map(Event::event_id).collect();
    ids.sort_unstable();
    let mut sent: Vec<_> = batch.iter().map(Event::event_id).collect();
    sent.sort_unstable();
    assert_eq!(ids, sent, "only what arrived after follow(), each once");

    // An unreachable server is an error naming it, not an empty answer.
    let mut down = ch_db.config("http://127.0.0.1:9");
    down.timeout = Duration::from_secs(2);
    config.events = EventConfig::ClickHouse(down);
    let err = build_event_reader(&config).recent(1).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("ClickHouse query failed (http://127.0.0.1:9)"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_the_months_past_the_ttl() {
    let db = TestClickHouse::new().await;
    let sink =
        ClickHouseEventSink::start(&db.config(&db.url), &pipeline(100, 5, 100), clock()).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
    for (days_ago, n) in [(400, 10), (35, 5), (20, 3), (0, 2)] {
        let at = FixedClock::at(now - chrono::Duration::days(days_ago));
        for i in 0..n {
            sink.emit(tagged(&at, &format!("{days_ago}-{i}")));
        }
    }
    sink.flush().await.unwrap();
    assert_eq!(db.count_final().await, 20);
    let dropped = ch::apply_retention(&db.client, &db.database, 30, now, None)
        .await
        .unwrap()
        .dropped;
    // 2025-10 is entirely older than 30 days; 2026-10 still has days inside.
    assert_eq!(dropped, ["202510"]);
    assert_eq!(db.count_final().await, 10);
    assert!(
        ch::apply_retention(&db.client, &db.database, 30, now, None)
            .await
            .unwrap()
            .dropped
            .is_empty(),
        "idempotent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_step_is_idempotent_and_uses_only_what_18_16_has() {
    let db = TestClickHouse::new().await;
    for _ in 0..2 {
        ch::ensure_schema(&db.client, &db.database, 30)
            .await
            .unwrap();
    }
    let engine: String = db
        .client
        .query("SELECT engine FROM system.tables WHERE database = ? AND name = 'events'")
        .bind(&db.database)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(engine, "ReplacingMergeTree");
    let version = ch::server_version(&db.client).await.unwrap();
    eprintln!("ClickHouse server version {version:?}");
}

/// `serve` with ClickHouse configured: the factory builds the ClickHouse
/// sink, and graceful shutdown flushes what is still queued into it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_flushes_queued_events_to_clickhouse() {
    let ch_db = TestClickHouse::new().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = test_config(&db, listener.local_addr().unwrap());
    config.events = EventConfig::ClickHouse(ch_db.config(&ch_db.url));
    config.event_pipeline = pipeline(100_000, 60_000, 100_000);
    let app = App::build(config, listener, test_overrides())
        .await
        .unwrap();
    let events = app.state().events.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let clock = FixedClock::at(Utc::now());
    for i in 0..50 {
        events.emit(tagged(&clock, &format!("g{i}")));
    }
    assert_eq!(events.stats().sent, 0, "still queued");
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert_eq!(events.stats().sent, 50);
    ch_db.assert_exactly_once(50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_carry_no_secret_through_clickhouse() {
    let db = TestClickHouse::new().await;
    let sink =
        ClickHouseEventSink::start(&db.config(&db.url), &pipeline(100, 5, 100), clock()).unwrap();
    let now = Utc::now();
    // What a careless handler might try to record.
    let token = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6";
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    sink.emit(
        Event::token_revoked(stamp(now), &client(), TokenKind::AccessToken)
            .detail(DetailKey::Reason, token)
            .detail(DetailKey::GrantId, jwt),
    );
    sink.emit(Event::login_failed(
        stamp(now),
        LoginFailureReason::BadPassword,
    ));
    sink.flush().await.unwrap();
    let dump: Vec<String> = db
        .client
        .query(&format!(
            "SELECT arrayStringConcat(detail_values, ' ') FROM {}",
            db.table()
        ))
        .fetch_all()
        .await
        .unwrap();
    let all = dump.join("\n");
    assert!(!all.contains(token) && !all.contains("eyJ"), "{all}");
    assert!(all.contains("[redacted]"));
}

/// The credentials are sent (`X-ClickHouse-User`/`-Key`); refused ones keep
/// the events in the spool until a run with the right ones replays them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_keep_events_in_the_spool() {
    let db = TestClickHouse::new().await;
    let mut wrong = db.config(&db.url);
    wrong.user = Some("default".to_owned());
    wrong.password = Some("not-the-password".into());
    let clock = FixedClock::at(Utc::now());
    {
        let sink =
            ClickHouseEventSink::start(&wrong, &pipeline(10, 5, 100), self::clock()).unwrap();
        for i in 0..25 {
            sink.emit(tagged(&clock, &format!("c{i}")));
        }
        sink.flush().await.unwrap();
        let s = sink.stats();
        assert_eq!((s.sent, s.spool_pending, s.dropped), (0, 25, 0), "{s:?}");
        assert!(!format!("{sink:?}").contains("not-the-password"));
        sink.close().await.unwrap();
    }
    let mut right = db.config(&db.url);
    right.user = Some("default".to_owned());
    let sink = ClickHouseEventSink::start(&right, &pipeline(10, 5, 100), self::clock()).unwrap();
    sink.flush().await.unwrap();
    assert_eq!(sink.stats().sent, 25);
    db.assert_exactly_once(25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_tail_follow_prints_new_clickhouse_events_once() {
    let db = TestClickHouse::new().await;
    let sink =
        ClickHouseEventSink::start(&db.config(&db.url), &pipeline(100, 5, 100), clock()).unwrap();
    let clock = portcullis::adapters::system::SystemClock;
    sink.emit(tagged(&clock, "old"));
    sink.flush().await.unwrap();
    let envs = [
        ("PORTCULLIS_CLICKHOUSE_URL", db.url.clone()),
        ("PORTCULLIS_CLICKHOUSE_DATABASE", db.database.clone()),
    ];
    let (mut child, rx) = follow(db.dir.path(), &envs);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in 0..3 {
        sink.emit(tagged(&clock, &format!("new-{i}")));
        sink.flush().await.unwrap();
    }
    let got = take_lines(&rx, 3);
    // Nothing more: each event once, the old one not again.
    let extra = rx.recv_timeout(Duration::from_millis(1500));
    let _ = child.kill();
    let _ = child.wait();
    let mut tags: Vec<&str> = got
        .iter()
        .map(|v| v["request_id"].as_str().unwrap())
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, ["new-0", "new-1", "new-2"]);
    assert!(extra.is_err(), "printed again: {extra:?}");
}
