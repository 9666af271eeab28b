//! The filtered event query (`EventReader::query`, `EventQuery`): by kind,
//! client, subject and time range, newest first, limited. One scenario run
//! against both adapters (the JSON Lines files and ClickHouse), and the
//! `events tail` filters of the CLI.

use std::process::Command;

use chrono::{DateTime, TimeZone, Utc};
use portcullis::adapters::events::clickhouse as ch;
use portcullis::adapters::events::{
    ClickHouseEventReader, ClickHouseEventSink, FileEventReader, FileEventSink,
};
use portcullis::app::events::{self as app_events, QueryError};
use portcullis::domain::UserId;
use portcullis::domain::event::{Event, EventKind, LoginFailureReason};
use portcullis::ports::{EventQuery, EventReader, EventSink};
use uuid::Uuid;

use crate::events::{client, other_client, pipeline, stamp, user};
use crate::events_clickhouse::TestClickHouse;

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap()
}

fn bob() -> UserId {
    UserId::new("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4b0b")
}

/// Five events over three days; returns their ids in emission order.
fn write(sink: &dyn EventSink) -> Vec<Uuid> {
    let h = chrono::Duration::hours;
    let events = [
        Event::login_failed(stamp(base()), LoginFailureReason::BadPassword).subject(&user()),
        Event::new(EventKind::TokenIssued, stamp(base() + h(1)))
            .client(&client())
            .subject(&user()),
        Event::new(EventKind::TokenIssued, stamp(base() + h(24)))
            .client(&other_client())
            .subject(&bob()),
        Event::new(EventKind::ConsentDenied, stamp(base() + h(25)))
            .client(&other_client())
            .subject(&user()),
        Event::logout(stamp(base() + h(48)), &user()),
    ];
    let ids = events.iter().map(Event::event_id).collect();
    for e in events {
        sink.emit(e);
    }
    ids
}

async fn ids(reader: &dyn EventReader, q: EventQuery) -> Vec<Uuid> {
    reader
        .query(&q)
        .await
        .unwrap()
        .iter()
        .map(Event::event_id)
        .collect()
}

fn q() -> EventQuery {
    EventQuery {
        limit: 100,
        ..EventQuery::default()
    }
}

/// The filters, each alone and combined, against `reader` holding the
/// events of [`write`].
async fn scenario(reader: &dyn EventReader, e: &[Uuid]) {
    let h = chrono::Duration::hours;
    // Everything, newest first.
    assert_eq!(ids(reader, q()).await, [e[4], e[3], e[2], e[1], e[0]]);
    // Limit: the newest.
    assert_eq!(
        ids(reader, EventQuery { limit: 2, ..q() }).await,
        [e[4], e[3]]
    );
    // Kind.
    let kind = Some(EventKind::TokenIssued);
    assert_eq!(ids(reader, EventQuery { kind, ..q() }).await, [e[2], e[1]]);
    // Client.
    let client_id = Some(client().as_str().to_owned());
    assert_eq!(ids(reader, EventQuery { client_id, ..q() }).await, [e[1]]);
    // Subject.
    let subject = Some(user().as_str().to_owned());
    assert_eq!(
        ids(reader, EventQuery { subject, ..q() }).await,
        [e[4], e[3], e[1], e[0]]
    );
    // Time range: `from` inclusive, `to` exclusive.
    let from = Some(base() + h(24));
    assert_eq!(
        ids(reader, EventQuery { from, ..q() }).await,
        [e[4], e[3], e[2]]
    );
    let to = Some(base() + h(24));
    assert_eq!(ids(reader, EventQuery { to, ..q() }).await, [e[1], e[0]]);
    assert_eq!(
        ids(
            reader,
            EventQuery {
                from: Some(base() + h(1)),
                to: Some(base() + h(25)),
                ..q()
            }
        )
        .await,
        [e[2], e[1]]
    );
    // Combined.
    assert_eq!(
        ids(
            reader,
            EventQuery {
                kind: Some(EventKind::TokenIssued),
                client_id: Some(other_client().as_str().to_owned()),
                subject: Some(bob().as_str().to_owned()),
                ..q()
            }
        )
        .await,
        [e[2]]
    );
    // Values are data, never query text.
    for hostile in ["x' OR '1'='1", "' OR 1=1 --", "\\' OR 1=1 --", "?"] {
        let none = EventQuery {
            client_id: Some(hostile.to_owned()),
            ..q()
        };
        assert!(ids(reader, none).await.is_empty(), "{hostile}");
        let none = EventQuery {
            subject: Some(hostile.to_owned()),
            ..q()
        };
        assert!(ids(reader, none).await.is_empty(), "{hostile}");
    }
}

#[tokio::test]
async fn file_reader_filters_events() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileEventSink::start(dir.path(), &pipeline(100, 5, 1000)).unwrap();
    let e = write(&sink);
    sink.flush().await.unwrap();
    scenario(&FileEventReader::new(dir.path()), &e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_reader_filters_events_in_sql() {
    let db = TestClickHouse::new().await;
    let config = db.config(&db.url);
    let clock = std::sync::Arc::new(portcullis::testing::FixedClock::at(Utc::now()));
    let sink = ClickHouseEventSink::start(&config, &pipeline(100, 5, 100), clock).unwrap();
    let e = write(&sink);
    sink.flush().await.unwrap();
    // A batch sent twice is read once (FINAL).
    db.execute("INSERT INTO {t} SELECT * FROM {t}").await;
    assert_eq!(db.scalar("SELECT count() FROM {t}").await, 10);
    let reader = ClickHouseEventReader::new(&config);
    scenario(&reader, &e).await;
    // The whole table is still there: nothing was run from the input.
    assert_eq!(db.count_final().await, 5);
    let _ = ch::TABLE;
}

#[tokio::test]
async fn bad_queries_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let reader = FileEventReader::new(dir.path());
    let refused = |q: EventQuery| {
        let reader = &reader;
        async move { app_events::query(reader, q).await }
    };
    // `from` after `to`.
    let r = refused(EventQuery {
        from: Some(base() + chrono::Duration::hours(1)),
        to: Some(base()),
        ..q()
    })
    .await;
    assert!(
        matches!(r, Err(QueryError::Invalid(ref m)) if m.contains("from")),
        "{r:?}"
    );
    // Limits.
    for limit in [0, app_events::MAX_LIMIT + 1] {
        let r = refused(EventQuery { limit, ..q() }).await;
        assert!(
            matches!(r, Err(QueryError::Invalid(ref m)) if m.contains("limit")),
            "{r:?}"
        );
    }
    // Oversized or control characters in a value.
    let r = refused(EventQuery {
        client_id: Some("x".repeat(300)),
        ..q()
    })
    .await;
    assert!(matches!(r, Err(QueryError::Invalid(_))), "{r:?}");
    let r = refused(EventQuery {
        subject: Some("a\nb".into()),
        ..q()
    })
    .await;
    assert!(matches!(r, Err(QueryError::Invalid(_))), "{r:?}");
    // A good one passes.
    assert!(refused(q()).await.unwrap().is_empty());
}

#[tokio::test]
async fn cli_tail_filters_by_kind_client_subject_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sink = FileEventSink::start(&data.join("events"), &pipeline(100, 5, 1000)).unwrap();
    let e = write(&sink);
    sink.flush().await.unwrap();
    let tail = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["events", "tail", "--json"])
            .args(args)
            .current_dir(dir.path())
            .env("PORTCULLIS_DATA_DIR", &data)
            .env(
                "PORTCULLIS_DATABASE_URL",
                format!("sqlite://{}/db.sqlite?mode=rwc", dir.path().display()),
            )
            .env_remove("PORTCULLIS_CLICKHOUSE_URL")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ids_of = |stdout: &str| -> Vec<Uuid> {
        stdout
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["event_id"].as_str().unwrap().parse().unwrap()
            })
            .collect()
    };
    // Printed oldest first, like `tail`.
    let (ok, out, err) = tail(&["--kind", "token_issued"]);
    assert!(ok, "{err}");
    assert_eq!(ids_of(&out), [e[1], e[2]]);
    let (ok, out, err) = tail(&[
        "--client",
        other_client().as_str(),
        "--subject",
        user().as_str(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(ids_of(&out), [e[3]]);
    let (ok, out, err) = tail(&[
        "--since",
        "2026-11-21T10:00:00Z",
        "--until",
        "2026-11-22T10:00:00Z",
    ]);
    assert!(ok, "{err}");
    assert_eq!(ids_of(&out), [e[2], e[3]]);
    let (ok, out, err) = tail(&["-n", "1", "--subject", user().as_str()]);
    assert!(ok, "{err}");
    assert_eq!(ids_of(&out), [e[4]]);
    // A bad filter: a clear error, non-zero exit.
    let (ok, _, err) = tail(&["--kind", "nope"]);
    assert!(!ok);
    assert!(err.contains("unknown event kind"), "{err}");
    let (ok, _, err) = tail(&[
        "--since",
        "2026-11-22T00:00:00Z",
        "--until",
        "2026-11-21T00:00:00Z",
    ]);
    assert!(!ok);
    assert!(err.contains("from"), "{err}");
}
