//! Events in the embedded default: JSON Lines files, their rotation, the
//! queue-full path, reading them back (library and CLI), and the flush at
//! graceful shutdown.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use portcullis::adapters::events::{FileEventSink, file};
use portcullis::adapters::system::OsRng;
use portcullis::config::{EventConfig, EventPipeline};
use portcullis::domain::event::{
    DetailKey, Event, EventKind, EventStamp, LoginFailureReason, TokenKind,
};
use portcullis::domain::{ClientId, GrantType, ScopeSet, UserId};
use portcullis::factory::build_event_reader;
use portcullis::http::audit::event_stamp;
use portcullis::ports::{Clock, EventSink};
use portcullis::startup::App;
use portcullis::testing::{FixedClock, MemoryEventSink};

use crate::both_backends;
use crate::helpers::{Backend, TestDb, spawn_app_full, test_config, test_overrides};

pub fn pipeline(batch_size: usize, flush_ms: u64, queue_capacity: usize) -> EventPipeline {
    EventPipeline {
        batch_size,
        flush_interval: Duration::from_millis(flush_ms),
        queue_capacity,
    }
}

pub fn client() -> ClientId {
    ClientId::parse("3f2a9c1e5b7d4f60a1b2c3d4e5f60718").unwrap()
}

pub fn other_client() -> ClientId {
    ClientId::parse("a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5").unwrap()
}

pub fn user() -> UserId {
    UserId::new("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
}

/// The stamp of an event at `now`, its id from the operating system's
/// random source (as the server's).
pub fn stamp(now: DateTime<Utc>) -> EventStamp {
    event_stamp(&OsRng, now)
}

/// A typical event, tagged with `tag` as its request id.
pub fn tagged(clock: &dyn Clock, tag: &str) -> Event {
    Event::token_issued(
        stamp(clock.now()),
        &client(),
        GrantType::AuthorizationCode,
        &[TokenKind::AccessToken, TokenKind::IdToken],
        &ScopeSet::parse("openid profile").unwrap(),
    )
    .subject(&user())
    .request(
        Some("203.0.113.7".parse().unwrap()),
        Some("Mozilla/5.0"),
        Some(tag),
    )
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn file_sink_writes_json_lines_with_the_schema_and_rotates_by_date() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FixedClock::at(Utc.with_ymd_and_hms(2026, 11, 25, 23, 59, 59).unwrap());
    let sink = FileEventSink::start(dir.path(), &pipeline(100, 10, 1000)).unwrap();
    sink.emit(tagged(&clock, "before-midnight"));
    sink.emit(
        Event::login_failed(stamp(clock.now()), LoginFailureReason::BadPassword).subject(&user()),
    );
    clock.advance(chrono::Duration::seconds(1));
    sink.emit(tagged(&clock, "after-midnight"));
    sink.flush().await.unwrap();

    let files = file::list_files(dir.path()).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|(_, p)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["events-2026-11-25.jsonl", "events-2026-11-26.jsonl"]
    );
    let day1 = lines(&files[0].1);
    let day2 = lines(&files[1].1);
    assert_eq!(day1.len(), 2);
    assert_eq!(day2.len(), 1);
    let e = &day1[0];
    for field in [
        "event_id",
        "occurred_at",
        "kind",
        "client_id",
        "subject",
        "session_id",
        "scopes",
        "grant_type",
        "outcome",
        "error_code",
        "ip",
        "user_agent",
        "request_id",
        "detail",
    ] {
        assert!(e.get(field).is_some(), "{field} missing in {e}");
    }
    assert_eq!(e["occurred_at"], "2026-11-25T23:59:59.000Z");
    assert_eq!(e["kind"], "token_issued");
    assert_eq!(e["grant_type"], "authorization_code");
    assert_eq!(e["scopes"], serde_json::json!(["openid", "profile"]));
    assert_eq!(e["detail"]["token_kinds"], "access_token id_token");
    assert_eq!(e["ip"], "203.0.113.7");
    assert_eq!(
        uuid::Uuid::parse_str(e["event_id"].as_str().unwrap())
            .unwrap()
            .get_version_num(),
        7
    );
    assert_eq!(day1[1]["detail"]["reason"], "bad_password");
    assert_eq!(day1[1]["outcome"], "failure");
    assert_eq!(day2[0]["request_id"], "after-midnight");
    assert_eq!(day2[0]["occurred_at"], "2026-11-26T00:00:00.000Z");
    let s = sink.stats();
    assert_eq!((s.emitted, s.sent, s.dropped), (3, 3, 0));
}

/// On a current-thread runtime the writer task cannot run while this test
/// emits: the queue (capacity 4) fills at once. Were `emit` to wait for
/// room, this would deadlock; instead the rest is written directly.
#[tokio::test]
async fn file_sink_full_queue_writes_directly_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FixedClock::at(Utc::now());
    let sink = FileEventSink::start(dir.path(), &pipeline(2, 1000, 4)).unwrap();
    for i in 0..500 {
        sink.emit(tagged(&clock, &format!("e{i}")));
    }
    let before_flush = sink.stats();
    assert_eq!(before_flush.emitted, 500);
    assert_eq!(before_flush.queued, 4);
    assert_eq!(before_flush.sent, 496, "written by emit itself");
    sink.flush().await.unwrap();
    let files = file::list_files(dir.path()).unwrap();
    let all = lines(&files[0].1);
    let mut tags: Vec<String> = all
        .iter()
        .map(|v| v["request_id"].as_str().unwrap().to_owned())
        .collect();
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), 500, "each event exactly once");
    let s = sink.stats();
    assert_eq!((s.sent, s.queued, s.dropped), (500, 0, 0));
}

#[tokio::test]
async fn file_sink_disk_failure_is_counted_as_dropped_and_flush_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    let clock = FixedClock::at(Utc::now());
    let sink = FileEventSink::start(&events, &pipeline(10, 5, 100)).unwrap();
    // The directory disappears under the sink and a file takes its name:
    // no event file can be created any more (root ignores permissions, so
    // this is how the test makes the disk "fail").
    std::fs::remove_dir_all(&events).unwrap();
    std::fs::write(&events, b"not a directory").unwrap();
    for i in 0..3 {
        sink.emit(tagged(&clock, &format!("e{i}")));
    }
    let err = sink.flush().await.unwrap_err();
    assert!(err.to_string().contains("3 events"), "{err}");
    let s = sink.stats();
    assert_eq!((s.emitted, s.sent, s.dropped), (3, 0, 3));
}

#[tokio::test]
async fn file_stats_recent_and_follow_read_the_files_back() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FixedClock::at(Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap());
    let sink = FileEventSink::start(dir.path(), &pipeline(100, 5, 1000)).unwrap();
    // Yesterday: outside a 12h window.
    sink.emit(Event::login_failed(
        stamp(clock.now()),
        LoginFailureReason::Locked,
    ));
    clock.advance(chrono::Duration::days(1));
    for reason in [
        LoginFailureReason::BadPassword,
        LoginFailureReason::BadPassword,
        LoginFailureReason::UnknownUser,
    ] {
        sink.emit(Event::login_failed(stamp(clock.now()), reason));
    }
    sink.emit(tagged(&clock, "t1"));
    sink.emit(Event::consent_denied(
        stamp(clock.now()),
        &other_client(),
        &user(),
        &ScopeSet::parse("openid").unwrap(),
    ));
    sink.flush().await.unwrap();

    let since = clock.now() - chrono::Duration::hours(12);
    let stats = file::stats(dir.path(), since).unwrap();
    assert_eq!(stats.total, 5);
    assert_eq!(stats.by_kind["login_failed"], 3);
    assert_eq!(stats.by_kind["token_issued"], 1);
    assert_eq!(stats.failed_logins_by_reason["bad_password"], 2);
    assert_eq!(stats.failed_logins_by_reason["unknown_user"], 1);
    assert!(!stats.failed_logins_by_reason.contains_key("locked"));
    assert_eq!(stats.by_client[client().as_str()].total, 1);
    assert_eq!(stats.by_client[other_client().as_str()].failures, 1);

    let recent = file::recent(dir.path(), 2).unwrap();
    let kinds: Vec<EventKind> = recent.iter().map(Event::kind).collect();
    assert_eq!(kinds, [EventKind::TokenIssued, EventKind::ConsentDenied]);
    assert_eq!(file::recent(dir.path(), 100).unwrap().len(), 6);

    let mut follow = file::FileTail::at_end(dir.path()).unwrap();
    assert!(follow.poll().unwrap().is_empty());
    sink.emit(Event::logout(stamp(clock.now()), &user()));
    clock.advance(chrono::Duration::days(1));
    sink.emit(Event::logout(stamp(clock.now()), &user()));
    sink.flush().await.unwrap();
    let new = follow.poll().unwrap();
    assert_eq!(new.len(), 2, "the rest of today's file, then tomorrow's");
}

/// What `events tail|stats` use: the reader the factory builds from the
/// default configuration reads the event files through the `EventReader`
/// port.
#[tokio::test]
async fn the_configured_reader_tails_follows_and_counts_the_event_files() {
    let db = TestDb::new(Backend::Sqlite).await;
    let config = test_config(&db, "127.0.0.1:9".parse().unwrap());
    let EventConfig::Files { dir } = config.events.clone() else {
        panic!("files by default")
    };
    let reader = build_event_reader(&config);
    // Nothing written yet (not even the directory): empty, not an error.
    assert!(reader.recent(10).await.unwrap().is_empty());
    let mut follower = reader.follow().await.unwrap();
    assert!(follower.poll().await.unwrap().is_empty());

    let clock = FixedClock::at(Utc::now());
    let sink = FileEventSink::start(&dir, &pipeline(100, 5, 100)).unwrap();
    for i in 0..3 {
        sink.emit(tagged(&clock, &format!("r{i}")));
    }
    sink.emit(Event::login_failed(
        stamp(clock.now()),
        LoginFailureReason::Locked,
    ));
    sink.flush().await.unwrap();

    let recent = reader.recent(2).await.unwrap();
    let kinds: Vec<EventKind> = recent.iter().map(Event::kind).collect();
    assert_eq!(kinds, [EventKind::TokenIssued, EventKind::LoginFailed]);
    assert_eq!(recent[0].request_id(), Some("r2"));

    let stats = reader
        .stats(clock.now() - chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(stats.total, 4);
    assert_eq!(stats.by_kind["token_issued"], 3);
    assert_eq!(stats.failed_logins_by_reason["locked"], 1);
    assert_eq!(stats.by_client[client().as_str()].total, 3);
    let later = reader
        .stats(clock.now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(later.total, 0, "the window excludes older events");

    let got: Vec<Option<String>> = follower
        .poll()
        .await
        .unwrap()
        .iter()
        .map(|e| e.request_id().map(str::to_owned))
        .collect();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[0].as_deref(), Some("r0"));
    assert!(follower.poll().await.unwrap().is_empty(), "each once");
    sink.emit(tagged(&clock, "r3"));
    sink.flush().await.unwrap();
    let next = follower.poll().await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].request_id(), Some("r3"));
}

/// `events tail|stats` go through the port: the command reaches no
/// adapter, and the port module re-exports nothing of the catalogue.
#[test]
fn the_events_command_uses_only_the_reader_port() {
    let cli = include_str!("../../src/cli/events.rs");
    assert!(
        !cli.contains("adapters"),
        "src/cli/events.rs names an adapter"
    );
    assert!(cli.contains("EventReader"));
    let port = include_str!("../../src/ports/events.rs");
    assert!(!port.contains("pub use"), "src/ports/events.rs re-exports");
}

fn portcullis(dir: &Path, envs: &[(&str, String)], args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("PORTCULLIS_CLICKHOUSE_URL")
        .env("PORTCULLIS_DATA_DIR", dir.join("data"));
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn cli(dir: &Path, envs: &[(&str, String)], args: &[&str]) -> String {
    portcullis(dir, envs, args)
}

#[tokio::test]
async fn cli_tail_and_stats_read_the_event_files() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FixedClock::at(Utc::now());
    let sink =
        FileEventSink::start(&dir.path().join("data/events"), &pipeline(100, 5, 100)).unwrap();
    for i in 0..5 {
        sink.emit(tagged(&clock, &format!("cli-{i}")));
    }
    sink.emit(Event::login_failed(
        stamp(clock.now()),
        LoginFailureReason::Disabled,
    ));
    sink.flush().await.unwrap();

    let out = portcullis(dir.path(), &[], &["events", "tail", "-n", "3", "--json"]);
    let tail: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(tail.len(), 3);
    assert_eq!(tail[2]["kind"], "login_failed");

    let human = portcullis(dir.path(), &[], &["events", "tail", "-n", "1"]);
    assert!(
        human.contains("login_failed") && human.contains("reason=disabled"),
        "{human}"
    );

    let out = portcullis(
        dir.path(),
        &[],
        &["events", "stats", "--since", "1h", "--json"],
    );
    let stats: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stats["total"], 6);
    assert_eq!(stats["by_kind"]["token_issued"], 5);
    assert_eq!(stats["failed_logins_by_reason"]["disabled"], 1);
    assert_eq!(stats["by_client"][client().as_str()]["total"], 5);

    let text = portcullis(dir.path(), &[], &["events", "stats"]);
    assert!(
        text.contains("by kind:") && text.contains("token_issued"),
        "{text}"
    );
}

#[tokio::test]
async fn cli_refuses_a_bad_since() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["events", "stats", "--since", "yesterday"])
        .current_dir(dir.path())
        .env_remove("PORTCULLIS_CLICKHOUSE_URL")
        .env("PORTCULLIS_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--since"), "{err}");
}

/// Events still in memory when the server stops are written by the flush
/// that follows graceful shutdown (the batch would otherwise wait a minute).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_flushes_queued_events_to_the_files() {
    let db = TestDb::new(Backend::Sqlite).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = test_config(&db, listener.local_addr().unwrap());
    config.event_pipeline = pipeline(100_000, 60_000, 100_000);
    let EventConfig::Files { dir } = config.events.clone() else {
        panic!("files by default")
    };
    let app = App::build(config, listener, test_overrides())
        .await
        .unwrap();
    let events = app.state().events.clone();
    let clock = FixedClock::at(Utc::now());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    for i in 0..50 {
        events.emit(tagged(&clock, &format!("s{i}")));
    }
    assert_eq!(events.stats().sent, 0, "still queued");
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
    let files = file::list_files(&dir).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(lines(&files[0].1).len(), 50);
    assert_eq!(events.stats().sent, 50);
}

#[tokio::test]
async fn memory_sink_records_what_handlers_emit() {
    let sink = Arc::new(MemoryEventSink::new());
    let as_port: Arc<dyn EventSink> = sink.clone();
    let now = Utc::now();
    as_port.emit(Event::login_succeeded(stamp(now), &user()));
    as_port.emit(
        Event::token_revoked(stamp(now), &client(), TokenKind::RefreshToken)
            .detail(DetailKey::Initiator, "client"),
    );
    as_port.flush().await.unwrap();
    assert_eq!(
        sink.kinds(),
        [EventKind::LoginSucceeded, EventKind::TokenRevoked]
    );
    assert_eq!(
        sink.of_kind(EventKind::TokenRevoked)[0].detail_value(DetailKey::TokenType),
        Some("refresh_token")
    );
    assert_eq!(as_port.stats().sent, 2);
    sink.clear();
    assert!(sink.events().is_empty());
}

// The server builds event ids from its injected `Rng` and `Clock`: with a
// fixed source the id of what a handler emits is predictable, a UUID v7
// whose timestamp is the event's time (RFC 9562 §5.7).
both_backends!(event_ids_come_from_the_injected_rng, |backend| async move {
    let sink = Arc::new(MemoryEventSink::new());
    let at =
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap() + chrono::Duration::milliseconds(123);
    let mut overrides = test_overrides();
    overrides.events = Some(sink.clone());
    overrides.rng = Some(Arc::new(portcullis::testing::ConstantRng(0xab)));
    overrides.clock = Some(Arc::new(FixedClock::at(at)));
    let app = spawn_app_full(backend, |_| {}, overrides).await;
    let resp = app
        .http
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "nope"),
            ("client_secret", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::UNAUTHORIZED);
    let failed = sink.of_kind(EventKind::ClientAuthenticationFailed);
    assert_eq!(failed.len(), 1, "{:?}", sink.kinds());
    let e = &failed[0];
    assert_eq!(e.occurred_at(), at);
    // 2026-11-25T12:00:00.123Z is 0x01a21293b67b ms; then version 7 and
    // the injected bytes (less the version and variant bits).
    assert_eq!(
        e.event_id().to_string(),
        "01a21293-b67b-7bab-abab-abababababab"
    );
    let (secs, nanos) = e.event_id().get_timestamp().unwrap().to_unix();
    assert_eq!(
        i64::try_from(secs).unwrap() * 1000 + i64::from(nanos / 1_000_000),
        at.timestamp_millis()
    );
});

/// Starts `events tail --follow --json` and returns the child and a
/// channel of the lines it prints.
pub fn follow(
    dir: &Path,
    envs: &[(&str, String)],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead as _;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.args(["events", "tail", "-n", "0", "--follow", "--json"])
        .current_dir(dir)
        .env_remove("PORTCULLIS_CLICKHOUSE_URL")
        .env("PORTCULLIS_DATA_DIR", dir.join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Collects `n` lines from a follower, failing after 30 s.
pub fn take_lines(rx: &std::sync::mpsc::Receiver<String>, n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("line {i} of {n}: {e}"));
            serde_json::from_str(&line).unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_tail_follow_prints_new_events_as_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let events_dir = dir.path().join("data/events");
    let clock = FixedClock::at(Utc::now());
    let sink = FileEventSink::start(&events_dir, &pipeline(100, 5, 100)).unwrap();
    sink.emit(tagged(&clock, "old"));
    sink.flush().await.unwrap();
    let (mut child, rx) = follow(dir.path(), &[]);
    // Give the follower time to position itself at the end.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in 0..3 {
        sink.emit(tagged(&clock, &format!("new-{i}")));
    }
    sink.flush().await.unwrap();
    let got = take_lines(&rx, 3);
    let _ = child.kill();
    let _ = child.wait();
    let tags: Vec<&str> = got
        .iter()
        .map(|v| v["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        tags,
        ["new-0", "new-1", "new-2"],
        "only new events, in order"
    );
}
