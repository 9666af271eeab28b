//! The event archive (docs/EVENTS.md, "Archive") against the S3 emulator
//! (moto at PORTCULLIS_TEST_KMS_ENDPOINT, which serves S3 too; each test
//! makes a bucket of its own) and, for retention, the real ClickHouse.
//! Events go in through the sinks and are read out through the
//! `EventReader` port, as `portcullis events archive` does.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Datelike as _, Duration, Utc};
use portcullis::adapters::archive::{S3ObjectStore, s3};
use portcullis::adapters::events::clickhouse as ch;
use portcullis::adapters::events::{
    ClickHouseEventReader, ClickHouseEventSink, FileEventReader, FileEventSink,
};
use portcullis::app::archive::{self, Archive, HourResult};
use portcullis::config::EventConfig;
use portcullis::domain::event::{DetailKey, Event, EventKind, LoginFailureReason, hour_start};
use portcullis::ports::{
    ArchiveError, EventQuery, EventReader, EventSink, ObjectInfo, ObjectStore,
};
use portcullis::testing::FixedClock;
use tempfile::TempDir;

use crate::cli::ok;
use crate::events::{other_client, pipeline, stamp, tagged};
use crate::events_clickhouse::TestClickHouse;
use crate::kms::kms_endpoint;

/// A bucket of the test's own on the emulator.
struct TestBucket {
    name: String,
    client: aws_sdk_s3::Client,
}

impl TestBucket {
    async fn new() -> Self {
        let client = s3::client_for_emulator(&kms_endpoint());
        let name = format!("pt-{}", uuid::Uuid::new_v4().simple());
        client
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "the S3 emulator at {} is required (PORTCULLIS_TEST_KMS_ENDPOINT): {e:?}",
                    kms_endpoint()
                )
            });
        Self { name, client }
    }

    fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::new(S3ObjectStore::new(self.client.clone(), &self.name))
    }

    fn archive(&self) -> Archive {
        Archive::new(self.store(), "events")
    }

    /// Every object: key and contents.
    async fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        let store = self.store();
        let mut all = BTreeMap::new();
        for ObjectInfo { key, .. } in store.list("").await.unwrap() {
            let body = store.get(&key).await.unwrap().unwrap();
            all.insert(key, body);
        }
        all
    }
}

/// Two hours of one day, two days ago, well closed.
fn hours() -> (DateTime<Utc>, DateTime<Utc>) {
    let first = (Utc::now() - Duration::days(2))
        .date_naive()
        .and_hms_opt(10, 0, 0)
        .unwrap()
        .and_utc();
    (first, first + Duration::hours(1))
}

/// Events of every shape in `hour` (the file store's reader gives them
/// back), at a few minutes into it.
fn events_in(hour: DateTime<Utc>, tag: &str) -> Vec<Event> {
    let at = |m: i64| FixedClock::at(hour + Duration::minutes(m));
    vec![
        tagged(&at(1), &format!("{tag}-1")),
        tagged(&at(2), &format!("{tag}-2,\"quoted\"")),
        Event::login_failed(
            stamp(hour + Duration::minutes(3)),
            LoginFailureReason::Locked,
        )
        .client(&other_client())
        .detail(DetailKey::Reason, "locked"),
        Event::new(EventKind::Logout, stamp(hour + Duration::minutes(59))),
    ]
}

/// A file event store in a data dir of its own, with `events` in it.
async fn file_store(events: &[Event]) -> (TempDir, Arc<dyn EventReader>) {
    let dir = tempfile::tempdir().unwrap();
    let events_dir = dir.path().join("data/events");
    let sink = FileEventSink::start(&events_dir, &pipeline(100, 5, 100)).unwrap();
    for e in events {
        sink.emit(e.clone());
    }
    sink.flush().await.unwrap();
    let reader: Arc<dyn EventReader> = Arc::new(FileEventReader::new(&events_dir));
    (dir, reader)
}

fn all_hours() -> EventQuery {
    EventQuery::default()
}

#[tokio::test]
async fn events_archived_and_queried_back_are_equal() {
    let bucket = TestBucket::new().await;
    let archive = bucket.archive();
    let (h1, h2) = hours();
    let mut events = events_in(h1, "a");
    events.extend(events_in(h2, "b"));
    let (_dir, reader) = file_store(&events).await;

    let done = archive::run(&archive, reader.as_ref(), None, None, Utc::now())
        .await
        .unwrap();
    assert_eq!(done.len(), 2, "{done:?}");
    for r in &done {
        assert!(
            matches!(r.result, HourResult::Archived { rows: 4, .. }),
            "{r:?}"
        );
    }
    let keys: Vec<String> = bucket.objects().await.into_keys().collect();
    let dir = |h: DateTime<Utc>| h.format("events/date=%Y-%m-%d/hour=%H/").to_string();
    let mut expected = vec![
        format!("{}_manifest.json", dir(h1)),
        format!("{}part-0000.parquet", dir(h1)),
        format!("{}_manifest.json", dir(h2)),
        format!("{}part-0000.parquet", dir(h2)),
    ];
    expected.sort();
    assert_eq!(keys, expected);

    let back = archive::query(&archive, h1, h2, &all_hours())
        .await
        .unwrap();
    let mut sorted = events.clone();
    sorted.sort_by_key(|e| (e.occurred_at(), e.event_id()));
    assert_eq!(back, sorted, "every field of every event");

    // Filters: kind, client, subject.
    let locked = archive::query(
        &archive,
        h1,
        h2,
        &EventQuery {
            kind: Some(EventKind::LoginFailed),
            client_id: Some(other_client().as_str().to_owned()),
            ..EventQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(locked.len(), 2);
    assert!(locked.iter().all(|e| e.kind() == EventKind::LoginFailed));
    let only_h2 = archive::query(&archive, h2, h2, &all_hours())
        .await
        .unwrap();
    assert_eq!(only_h2.len(), 4);
    assert!(only_h2.iter().all(|e| hour_start(e.occurred_at()) == h2));

    // The manifest says what the data object is.
    let m = archive.manifest(h1).await.unwrap().unwrap();
    assert_eq!(m.rows, 4);
    assert_eq!(m.schema_version, 1);
    let objects = bucket.objects().await;
    let data = &objects[&m.data_key];
    assert_eq!(m.bytes, data.len() as u64);
    assert_eq!(
        m.sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data))
    );
}

#[tokio::test]
async fn archiving_twice_leaves_one_copy_with_the_same_keys_and_bytes() {
    let bucket = TestBucket::new().await;
    let archive = bucket.archive();
    let (h1, h2) = hours();
    let mut events = events_in(h1, "a");
    events.extend(events_in(h2, "b"));
    let (_dir, reader) = file_store(&events).await;

    archive::run(&archive, reader.as_ref(), None, None, Utc::now())
        .await
        .unwrap();
    let first = bucket.objects().await;
    let again = archive::run(&archive, reader.as_ref(), Some(h1), Some(h2), Utc::now())
        .await
        .unwrap();
    assert!(
        again
            .iter()
            .all(|r| r.result == HourResult::AlreadyArchived { rows: 4 }),
        "{again:?}"
    );
    // Asked to archive the same events once more: nothing is rewritten.
    let same = archive
        .archive_hour(h1, events[..4].to_vec(), Utc::now())
        .await
        .unwrap();
    assert_eq!(same, HourResult::AlreadyArchived { rows: 4 });
    assert_eq!(bucket.objects().await, first, "same keys, same bytes");
}

#[tokio::test]
async fn events_that_reach_the_store_late_are_archived_with_their_hour() {
    let bucket = TestBucket::new().await;
    let archive = bucket.archive();
    let (h1, _) = hours();
    let (dir, reader) = file_store(&events_in(h1, "a")).await;
    archive::run(&archive, reader.as_ref(), None, None, Utc::now())
        .await
        .unwrap();
    // One more event of that hour arrives (a spool replayed late).
    let sink =
        FileEventSink::start(&dir.path().join("data/events"), &pipeline(100, 5, 100)).unwrap();
    sink.emit(tagged(&FixedClock::at(h1 + Duration::minutes(30)), "late"));
    sink.flush().await.unwrap();

    let done = archive::run(&archive, reader.as_ref(), None, None, Utc::now())
        .await
        .unwrap();
    assert!(
        matches!(done[..], [ref r] if matches!(r.result, HourResult::Archived { rows: 5, .. })),
        "{done:?}"
    );
    let back = archive::query(&archive, h1, h1, &all_hours())
        .await
        .unwrap();
    assert_eq!(back.len(), 5);
    assert!(back.iter().any(|e| e.request_id() == Some("late")));
}

/// A store that lost part of an archived hour (ClickHouse's TTL merges
/// rows away one part at a time) never shrinks the archive.
#[tokio::test]
async fn an_hour_the_store_lost_events_of_keeps_its_complete_archive() {
    let bucket = TestBucket::new().await;
    let archive = bucket.archive();
    let (h1, _) = hours();
    let all = events_in(h1, "a");
    let (_dir, reader) = file_store(&all).await;
    archive::run(&archive, reader.as_ref(), None, None, Utc::now())
        .await
        .unwrap();
    let (_dir2, shrunk) = file_store(&all[..2]).await;
    let done = archive::run(&archive, shrunk.as_ref(), None, None, Utc::now())
        .await
        .unwrap();
    assert!(
        matches!(done[..], [ref r] if r.result == HourResult::AlreadyArchived { rows: 4 }),
        "{done:?}"
    );
    let back = archive::query(&archive, h1, h1, &all_hours())
        .await
        .unwrap();
    assert_eq!(back.len(), 4);
}

/// The bucket, failing every manifest write (a crash between the data
/// and the manifest).
struct FailingManifests {
    inner: Arc<dyn ObjectStore>,
    puts: Mutex<Vec<String>>,
}

#[async_trait]
impl ObjectStore for FailingManifests {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), ArchiveError> {
        self.puts.lock().unwrap().push(key.to_owned());
        if key.ends_with("_manifest.json") {
            return Err(ArchiveError::Unavailable(
                "crashed before the manifest".into(),
            ));
        }
        self.inner.put(key, body).await
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        self.inner.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), ArchiveError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ArchiveError> {
        self.inner.list(prefix).await
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}

#[tokio::test]
async fn a_crash_between_data_and_manifest_leaves_the_hour_unarchived_until_redone() {
    let bucket = TestBucket::new().await;
    let (h1, _) = hours();
    let events = events_in(h1, "a");
    let (_dir, reader) = file_store(&events).await;
    let failing = Arc::new(FailingManifests {
        inner: bucket.store(),
        puts: Mutex::new(Vec::new()),
    });
    let crashing = Archive::new(failing.clone(), "events");

    let err = archive::run(&crashing, reader.as_ref(), None, None, Utc::now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("crashed"), "{err}");
    let puts = failing.puts.lock().unwrap().clone();
    assert_eq!(puts.len(), 2, "data first, then the manifest: {puts:?}");
    assert!(puts[0].ends_with("part-0000.parquet") && puts[1].ends_with("_manifest.json"));

    // The data object is there, but the hour does not count as archived.
    let archive = bucket.archive();
    assert_eq!(bucket.objects().await.len(), 1);
    assert!(archive.manifest(h1).await.unwrap().is_none());
    assert!(archive.read_hour(h1).await.unwrap().is_none());
    assert!(
        archive::query(&archive, h1, h1, &all_hours())
            .await
            .unwrap()
            .is_empty()
    );

    // The next run does the hour again: one copy, complete.
    let done = archive::run(&archive, reader.as_ref(), None, None, Utc::now())
        .await
        .unwrap();
    assert!(matches!(
        done[0].result,
        HourResult::Archived { rows: 4, .. }
    ));
    assert_eq!(bucket.objects().await.len(), 2);
    assert_eq!(
        archive::query(&archive, h1, h1, &all_hours())
            .await
            .unwrap()
            .len(),
        4
    );
}

/// A port nothing listens on.
fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

#[tokio::test]
async fn s3_down_fails_with_a_clear_error_and_marks_nothing_archived() {
    let bucket = TestBucket::new().await;
    let (h1, _) = hours();
    let (_dir, reader) = file_store(&events_in(h1, "a")).await;
    let down = Archive::new(
        Arc::new(S3ObjectStore::new(
            s3::client_for_emulator(&closed_port_url()),
            &bucket.name,
        )),
        "events",
    );
    let err = archive::run(&down, reader.as_ref(), None, None, Utc::now())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("S3") && err.contains(&bucket.name) && err.contains("unreachable"),
        "{err}"
    );
    assert!(bucket.objects().await.is_empty());
    assert!(bucket.archive().manifest(h1).await.unwrap().is_none());
}

/// The archive's manifest is checked: a data object replaced behind its
/// back (another size) makes the hour count as not archived.
#[tokio::test]
async fn an_hour_whose_data_object_does_not_match_its_manifest_is_not_archived() {
    let bucket = TestBucket::new().await;
    let archive = bucket.archive();
    let (h1, _) = hours();
    let (_dir, reader) = file_store(&events_in(h1, "a")).await;
    archive::run(&archive, reader.as_ref(), None, None, Utc::now())
        .await
        .unwrap();
    bucket
        .store()
        .put(&archive.data_key(h1), b"truncated".to_vec())
        .await
        .unwrap();
    assert!(archive.manifest(h1).await.unwrap().is_none());
    let done = archive::run(&archive, reader.as_ref(), None, None, Utc::now())
        .await
        .unwrap();
    assert!(matches!(
        done[0].result,
        HourResult::Archived { rows: 4, .. }
    ));
    assert_eq!(archive.read_hour(h1).await.unwrap().unwrap().len(), 4);
}

async fn retain(db: &TestClickHouse, archive: &Archive, now: DateTime<Utc>) -> ch::Retention {
    ch::apply_retention(&db.client, &db.database, 30, now, Some(archive))
        .await
        .unwrap()
}

/// Retention on ClickHouse 18.16 (monthly partitions, no TTL) with
/// `PORTCULLIS_EVENTS_RETENTION_REQUIRES_ARCHIVE`: a month past the TTL is
/// dropped only once every hour of it is archived with all its events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_retention_never_drops_a_month_with_an_unarchived_hour() {
    let db = TestClickHouse::new().await;
    let bucket = TestBucket::new().await;
    let archive = bucket.archive();
    let now = Utc::now();
    // Two hours of a month long past a 30-day TTL, and one recent hour.
    let old = (now - Duration::days(400))
        .date_naive()
        .with_day(10)
        .unwrap()
        .and_hms_opt(5, 0, 0)
        .unwrap()
        .and_utc();
    let (old_a, old_b) = (old, old + Duration::hours(1));
    let recent = hour_start(now - Duration::days(2));
    let sink = ClickHouseEventSink::start(
        &db.config(&db.url),
        &pipeline(100, 5, 100),
        Arc::new(FixedClock::at(now)),
    )
    .unwrap();
    let mut all = events_in(old_a, "a");
    all.extend(events_in(old_b, "b"));
    all.extend(events_in(recent, "r"));
    for e in &all {
        sink.emit(e.clone());
    }
    sink.flush().await.unwrap();
    // The same batch again (as after a timeout): stored twice, counted once.
    ch::insert(
        &db.client,
        &db.database,
        &all[..4],
        std::time::Duration::from_secs(10),
    )
    .await
    .unwrap();
    let reader = ClickHouseEventReader::new(&db.config(&db.url));
    let counts = reader.hour_counts(now).await.unwrap();
    assert_eq!(
        counts,
        BTreeMap::from([(old_a, 4), (old_b, 4), (recent, 4)]),
        "each event once"
    );
    assert_eq!(
        reader
            .range(old_a, old_a + Duration::hours(1))
            .await
            .unwrap()
            .len(),
        4
    );

    let partition = old.format("%Y%m").to_string();
    // Nothing archived: the old month stays.
    let r = retain(&db, &archive, now).await;
    assert!(r.dropped.is_empty());
    assert_eq!(r.kept, vec![(partition.clone(), old_a)]);
    // One of its two hours archived: it still stays.
    archive::run(&archive, &reader, Some(old_a), Some(old_a), now)
        .await
        .unwrap();
    let r = retain(&db, &archive, now).await;
    assert_eq!(r.kept, vec![(partition.clone(), old_b)]);
    assert_eq!(db.count_final().await, 12);
    // An archive that cannot be asked: nothing is dropped.
    let down = Archive::new(
        Arc::new(S3ObjectStore::new(
            s3::client_for_emulator(&closed_port_url()),
            &bucket.name,
        )),
        "events",
    );
    archive::run(&archive, &reader, Some(old_b), Some(old_b), now)
        .await
        .unwrap();
    assert!(
        ch::apply_retention(&db.client, &db.database, 30, now, Some(&down))
            .await
            .is_err()
    );
    assert_eq!(db.count_final().await, 12);
    // Every hour archived: the month goes, the recent one stays.
    let r = retain(&db, &archive, now).await;
    assert_eq!(r.dropped, vec![partition]);
    assert!(r.kept.is_empty());
    assert_eq!(db.count_final().await, 4);
    // What was dropped is in the archive.
    let back = archive::query(&archive, old_a, old_b, &all_hours())
        .await
        .unwrap();
    assert_eq!(back.len(), 8);
}

/// `portcullis events …` with the file store under `dir` and the archive
/// in `bucket` on `endpoint`.
fn cli(dir: &Path, bucket: &str, endpoint: &str, args: &[&str]) -> Output {
    cli_with(dir, bucket, endpoint, &[], args)
}

/// [`cli`] with more settings (`extra`).
fn cli_with(
    dir: &Path,
    bucket: &str,
    endpoint: &str,
    extra: &[(&str, &str)],
    args: &[&str],
) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .current_dir(dir)
        .env_remove("PORTCULLIS_CLICKHOUSE_URL")
        .envs(extra.iter().copied())
        .env("PORTCULLIS_DATA_DIR", dir.join("data"))
        .env("PORTCULLIS_ARCHIVE_S3_BUCKET", bucket)
        .env("PORTCULLIS_ARCHIVE_S3_PREFIX", "audit/events")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap()
}

#[tokio::test]
async fn cli_archives_a_day_and_queries_it_back_as_json_lines_and_csv() {
    let bucket = TestBucket::new().await;
    let (h1, h2) = hours();
    let mut events = events_in(h1, "a");
    events.extend(events_in(h2, "b"));
    let (dir, _reader) = file_store(&events).await;
    let day = h1.format("%Y-%m-%d").to_string();
    let endpoint = kms_endpoint();
    let run = |args: &[&str]| cli(dir.path(), &bucket.name, &endpoint, args);

    let out = ok(&run(&["events", "archive"]));
    assert!(
        out.contains("2 hours archived, 0 already archived"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}  archived 4 events", h1.format("%Y-%m-%dT%H"))),
        "{out}"
    );
    assert!(out.contains("audit/events/date="), "{out}");
    let again = ok(&run(&["events", "archive", "--from", &day, "--to", &day]));
    assert!(
        again.contains("0 hours archived, 2 already archived"),
        "{again}"
    );

    let jsonl = ok(&run(&["events", "query", "--from", &day, "--to", &day]));
    let back: Vec<Event> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut sorted = events.clone();
    sorted.sort_by_key(|e| (e.occurred_at(), e.event_id()));
    assert_eq!(back, sorted);

    let h2_arg = h2.format("%Y-%m-%dT%H").to_string();
    let csv = ok(&run(&[
        "events",
        "query",
        "--from",
        &h2_arg,
        "--to",
        &h2_arg,
        "--kind",
        "token_issued",
        "--format",
        "csv",
    ]));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "event_id,occurred_at,kind,outcome,client_id,subject,session_id,scopes,grant_type,error_code,ip,user_agent,request_id,details"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines
            .iter()
            .skip(1)
            .all(|l| l.contains(",token_issued,success,"))
    );
    assert!(
        csv.contains(r#","b-2,""quoted""","#),
        "a field with a comma and quotes is quoted: {csv}"
    );

    let by_client = ok(&run(&[
        "events",
        "query",
        "--from",
        &day,
        "--to",
        &day,
        "--client",
        other_client().as_str(),
    ]));
    assert_eq!(by_client.lines().count(), 2);
}

#[tokio::test]
async fn cli_archive_with_s3_down_fails_clearly_and_archives_nothing() {
    let bucket = TestBucket::new().await;
    let (h1, _) = hours();
    let (dir, _reader) = file_store(&events_in(h1, "a")).await;
    let out = cli(
        dir.path(),
        &bucket.name,
        &closed_port_url(),
        &["events", "archive"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("s3://{}", bucket.name)) && err.contains("unreachable"),
        "{err}"
    );
    assert!(bucket.objects().await.is_empty());
}

#[tokio::test]
async fn cli_refuses_archive_commands_without_a_bucket_and_bad_hours() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["events", "archive"])
        .current_dir(dir.path())
        .env_remove("PORTCULLIS_CLICKHOUSE_URL")
        .env_remove("PORTCULLIS_ARCHIVE_S3_BUCKET")
        .env("PORTCULLIS_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PORTCULLIS_ARCHIVE_S3_BUCKET"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(
        dir.path(),
        "some-bucket",
        &closed_port_url(),
        &[
            "events",
            "query",
            "--from",
            "yesterday",
            "--to",
            "2026-12-01",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from"));
}

#[test]
fn archive_settings_need_a_bucket_and_a_valid_one() {
    let load = |pairs: &[(&str, &str)]| {
        let env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        portcullis::config::Config::load(None, &env)
    };
    for lonely in [
        ("PORTCULLIS_ARCHIVE_INTERVAL_SECS", "3600"),
        ("PORTCULLIS_EVENTS_RETENTION_REQUIRES_ARCHIVE", "true"),
    ] {
        let err = load(&[lonely]).unwrap_err();
        assert_eq!(err.setting, lonely.0);
        assert!(err.reason.contains("PORTCULLIS_ARCHIVE_S3_BUCKET"), "{err}");
    }
    for bad in ["UPPER", "a", "-dash-", "has_underscore"] {
        let err = load(&[("PORTCULLIS_ARCHIVE_S3_BUCKET", bad)]).unwrap_err();
        assert_eq!(err.setting, "PORTCULLIS_ARCHIVE_S3_BUCKET", "{bad}");
    }
    let err = load(&[
        ("PORTCULLIS_ARCHIVE_S3_BUCKET", "audit-logs"),
        ("PORTCULLIS_ARCHIVE_S3_PREFIX", "/events/"),
    ])
    .unwrap_err();
    assert_eq!(err.setting, "PORTCULLIS_ARCHIVE_S3_PREFIX");
    let config = load(&[
        ("PORTCULLIS_ARCHIVE_S3_BUCKET", "audit-logs"),
        ("PORTCULLIS_ARCHIVE_INTERVAL_SECS", "600"),
        ("PORTCULLIS_EVENTS_RETENTION_REQUIRES_ARCHIVE", "true"),
        ("PORTCULLIS_CLICKHOUSE_URL", "http://127.0.0.1:8123"),
    ])
    .unwrap();
    let a = config.archive.unwrap();
    assert_eq!(
        (a.bucket.as_str(), a.prefix.as_str(), a.interval.as_secs()),
        ("audit-logs", "events", 600)
    );
    match config.events {
        EventConfig::ClickHouse(ch) => assert!(ch.retention_requires_archive),
        EventConfig::Files { .. } => panic!("ClickHouse expected"),
    }
    assert!(load(&[]).unwrap().archive.is_none());
}

/// The Python with pyarrow that checks the files (`scripts/test` installs
/// it into its tools venv and sets PORTCULLIS_TEST_PYARROW_PYTHON).
fn pyarrow_python() -> String {
    std::env::var("PORTCULLIS_TEST_PYARROW_PYTHON")
        .unwrap_or_else(|_| "/var/cache/portcullis/venv-tools/bin/python".to_owned())
}

/// Reads a Parquet file with pyarrow and prints its schema, codecs and rows
/// as JSON.
const PYARROW_DUMP: &str = r#"
import json, sys
import pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
rg = f.metadata.row_group(0)
codecs = sorted({rg.column(i).compression for i in range(rg.num_columns)})
t = f.read()
schema = {field.name: str(field.type) for field in t.schema}
rows = []
for r in t.to_pylist():
    r["occurred_at"] = r["occurred_at"].isoformat(timespec="milliseconds")
    rows.append(r)
print(json.dumps({"codecs": codecs, "schema": schema, "rows": rows}))
"#;

/// An archived file read by an independent Parquet implementation
/// (pyarrow): the documented schema, zstd, and the same values.
#[tokio::test]
async fn an_independent_parquet_reader_reads_the_archived_file() {
    let bucket = TestBucket::new().await;
    let archive = bucket.archive();
    let (h1, _) = hours();
    let mut events = events_in(h1, "a");
    let (_dir, reader) = file_store(&events).await;
    archive::run(&archive, reader.as_ref(), None, None, Utc::now())
        .await
        .unwrap();
    let data = bucket
        .store()
        .get(&archive.data_key(h1))
        .await
        .unwrap()
        .unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &data).unwrap();
    let python = pyarrow_python();
    let out = Command::new(&python)
        .args(["-c", PYARROW_DUMP])
        .arg(file.path())
        .output()
        .unwrap_or_else(|e| panic!("{python} (PORTCULLIS_TEST_PYARROW_PYTHON) is required: {e}"));
    assert!(
        out.status.success(),
        "pyarrow ({python}) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dump["codecs"], serde_json::json!(["ZSTD"]));
    assert_eq!(
        dump["schema"],
        serde_json::json!({
            "event_id": "string",
            "occurred_at": "timestamp[ms, tz=UTC]",
            "kind": "string",
            "outcome": "string",
            "client_id": "string",
            "subject": "string",
            "session_id": "string",
            "grant_type": "string",
            "error_code": "string",
            "ip": "string",
            "user_agent": "string",
            "request_id": "string",
            "scopes": "list<item: string>",
            "details": "string",
        })
    );
    events.sort_by_key(|e| (e.occurred_at(), e.event_id()));
    let rows = dump["rows"].as_array().unwrap();
    assert_eq!(rows.len(), events.len());
    for (row, e) in rows.iter().zip(&events) {
        assert_eq!(row["event_id"], e.event_id().to_string());
        assert_eq!(
            row["occurred_at"],
            e.occurred_at()
                .naive_utc()
                .format("%Y-%m-%dT%H:%M:%S%.3f+00:00")
                .to_string()
        );
        assert_eq!(row["kind"], e.kind().as_str());
        assert_eq!(row["outcome"], e.outcome_value().as_str());
        assert_eq!(row["client_id"].as_str(), e.client_id());
        assert_eq!(row["subject"].as_str(), e.subject_id());
        assert_eq!(
            row["ip"].as_str().map(str::to_owned),
            e.ip().map(|i| i.to_string())
        );
        assert_eq!(row["user_agent"].as_str(), e.user_agent());
        assert_eq!(row["request_id"].as_str(), e.request_id());
        assert_eq!(row["scopes"], serde_json::json!(e.scope_list()));
        let details: BTreeMap<String, String> =
            serde_json::from_str(row["details"].as_str().unwrap()).unwrap();
        assert_eq!(&details, e.detail_map());
    }
}

/// `serve`'s periodic archive (`PORTCULLIS_ARCHIVE_INTERVAL_SECS`) archives
/// the closed hours by itself, and an interval of zero starts nothing.
#[tokio::test]
async fn the_periodic_archive_archives_closed_hours() {
    let bucket = TestBucket::new().await;
    let archive = Arc::new(bucket.archive());
    let (h1, h2) = hours();
    let mut events = events_in(h1, "a");
    events.extend(events_in(h2, "b"));
    let (_dir, reader) = file_store(&events).await;
    let clock: Arc<dyn portcullis::ports::Clock> = Arc::new(FixedClock::at(Utc::now()));
    assert!(
        archive::spawn_periodic(
            archive.clone(),
            reader.clone(),
            clock.clone(),
            std::time::Duration::ZERO
        )
        .is_none()
    );
    let _task = archive::spawn_periodic(
        archive.clone(),
        reader,
        clock,
        std::time::Duration::from_millis(100),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while archive.manifest(h2).await.unwrap().is_none()
        || archive.manifest(h1).await.unwrap().is_none()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "not archived within 20 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        archive::query(&archive, h1, h2, &all_hours())
            .await
            .unwrap()
            .len(),
        8
    );
}

/// The sink's own hourly retention with the switch on: a sink without the
/// archive (an operator command's) drops nothing; `serve`'s, given the
/// archive, drops the month once its hours are archived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sinks_retention_with_the_switch_drops_only_with_the_archive() {
    let db = TestClickHouse::new().await;
    let bucket = TestBucket::new().await;
    let archive = Arc::new(bucket.archive());
    let now = Utc::now();
    let old = (now - Duration::days(400))
        .date_naive()
        .with_day(10)
        .unwrap()
        .and_hms_opt(5, 0, 0)
        .unwrap()
        .and_utc();
    let clock: Arc<dyn portcullis::ports::Clock> = Arc::new(FixedClock::at(now));
    let writer =
        ClickHouseEventSink::start(&db.config(&db.url), &pipeline(100, 5, 100), clock.clone())
            .unwrap();
    for e in events_in(old, "old") {
        writer.emit(e);
    }
    writer.flush().await.unwrap();
    writer.close().await.unwrap();
    drop(writer); // releases the spool's lock
    assert_eq!(db.count_final().await, 4);

    let mut config = db.config(&db.url);
    config.ttl_days = 30;
    config.retention_requires_archive = true;
    // Archived, but this sink has no archive to ask: it keeps everything.
    let reader = ClickHouseEventReader::new(&config);
    archive::run(&archive, &reader, None, None, now)
        .await
        .unwrap();
    let without =
        ClickHouseEventSink::start(&config, &pipeline(100, 5, 100), clock.clone()).unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    without.close().await.unwrap();
    drop(without);
    assert_eq!(db.count_final().await, 4, "no archive, no retention");

    let with = ClickHouseEventSink::start_with_archive(
        &config,
        &pipeline(100, 5, 100),
        clock,
        Some(archive.clone() as Arc<dyn portcullis::ports::ArchivedHours>),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while db.count_final().await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the archived month was not dropped"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    with.close().await.unwrap();
    assert_eq!(
        archive::query(&archive, old, old, &all_hours())
            .await
            .unwrap()
            .len(),
        4,
        "what was dropped is in the archive"
    );
}

/// An operator archives a day of events from ClickHouse (the events of a
/// batch stored twice, once) and queries it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_archives_a_day_from_clickhouse_and_queries_it_back() {
    let db = TestClickHouse::new().await;
    let bucket = TestBucket::new().await;
    let (h1, h2) = hours();
    let mut events = events_in(h1, "a");
    events.extend(events_in(h2, "b"));
    let sink = ClickHouseEventSink::start(
        &db.config(&db.url),
        &pipeline(100, 5, 100),
        Arc::new(FixedClock::at(Utc::now())),
    )
    .unwrap();
    for e in &events {
        sink.emit(e.clone());
    }
    sink.flush().await.unwrap();
    ch::insert(
        &db.client,
        &db.database,
        &events,
        std::time::Duration::from_secs(10),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let day = h1.format("%Y-%m-%d").to_string();
    let endpoint = kms_endpoint();
    let settings = [
        ("PORTCULLIS_CLICKHOUSE_URL", db.url.as_str()),
        ("PORTCULLIS_CLICKHOUSE_DATABASE", db.database.as_str()),
    ];
    let run = |args: &[&str]| cli_with(dir.path(), &bucket.name, &endpoint, &settings, args);

    let out = ok(&run(&["events", "archive", "--from", &day, "--to", &day]));
    assert!(
        out.contains("2 hours archived, 0 already archived"),
        "{out}"
    );
    let jsonl = ok(&run(&["events", "query", "--from", &day, "--to", &day]));
    let back: Vec<Event> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    events.sort_by_key(|e| (e.occurred_at(), e.event_id()));
    assert_eq!(back, events, "each event once, every field");
}
