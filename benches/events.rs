//! Event pipeline benchmarks (docs/BENCHMARKS.md, "Events"):
//!
//! - `emit/*`: the time `EventSink::emit` adds to a request, for the
//!   ClickHouse sink (queue with room), the file sink, and the queue-full
//!   path (straight to the spool);
//! - `pipeline/*`: events per second from `emit` until they are stored
//!   (ClickHouse acknowledged the insert, or the file is synced): N events
//!   emitted then `flush`ed.
//!
//! Needs ClickHouse at `PORTCULLIS_TEST_CLICKHOUSE_URL` (default
//! http://127.0.0.1:8123); each run uses its own database and drops it.
//! Run briefly: `cargo bench --bench events -- --quick` or with the
//! defaults below (10 samples, 3 s each).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use portcullis::adapters::events::clickhouse as ch;
use portcullis::adapters::events::{ClickHouseEventSink, FileEventSink};
use portcullis::adapters::system::{OsRng, SystemClock};
use portcullis::config::{ClickHouseConfig, EventPipeline};
use portcullis::domain::event::{Event, TokenKind};
use portcullis::domain::{ClientId, GrantType, ScopeSet, UserId};
use portcullis::http::audit::event_stamp;
use portcullis::ports::{Clock, EventSink};

fn clickhouse_url() -> String {
    std::env::var("PORTCULLIS_TEST_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8123".to_owned())
}

fn ch_config(url: &str, database: &str, spool: &std::path::Path) -> ClickHouseConfig {
    ClickHouseConfig {
        url: url.to_owned(),
        user: None,
        password: None,
        database: database.to_owned(),
        spool_dir: spool.to_owned(),
        ttl_days: 0,
        timeout: Duration::from_secs(30),
        retry_max: Duration::from_secs(1),
        retention_requires_archive: false,
    }
}

fn pipeline(batch_size: usize, queue_capacity: usize) -> EventPipeline {
    EventPipeline {
        batch_size,
        flush_interval: Duration::from_millis(200),
        queue_capacity,
    }
}

/// A typical `token_issued` event with request metadata (~330 bytes of JSON).
fn event(i: usize) -> Event {
    let client = ClientId::parse("3f2a9c1e5b7d4f60a1b2c3d4e5f60718").unwrap();
    Event::token_issued(
        event_stamp(&OsRng, SystemClock.now()),
        &client,
        GrantType::AuthorizationCode,
        &[
            TokenKind::AccessToken,
            TokenKind::IdToken,
            TokenKind::RefreshToken,
        ],
        &ScopeSet::parse("openid profile email offline_access").unwrap(),
    )
    .subject(&UserId::new("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"))
    .request(
        Some("203.0.113.7".parse().unwrap()),
        Some("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
        Some(&format!("bench-{i}")),
    )
}

struct Db {
    client: clickhouse::Client,
    database: String,
}

impl Db {
    async fn new(config: &ClickHouseConfig) -> Self {
        let client = ch::client(config);
        client
            .query("SELECT 1")
            .fetch_one::<u8>()
            .await
            .unwrap_or_else(|e| panic!("ClickHouse at {} is required: {e}", config.url));
        Self {
            client,
            database: config.database.clone(),
        }
    }

    async fn drop_database(&self) {
        self.client
            .query(&format!("DROP DATABASE IF EXISTS `{}`", self.database))
            .execute()
            .await
            .unwrap();
    }
}

/// Emits `iters` prepared events, timing only the `emit` calls; flushes
/// (untimed) every `chunk` so that the queue never fills.
async fn time_emits(sink: &dyn EventSink, iters: u64, chunk: usize) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = usize::try_from(iters).unwrap();
    while left > 0 {
        let n = left.min(chunk);
        let events: Vec<Event> = (0..n).map(event).collect();
        let start = Instant::now();
        for e in events {
            sink.emit(e);
        }
        total += start.elapsed();
        sink.flush().await.unwrap();
        left -= n;
    }
    total
}

/// Emits `n` events and flushes, `iters` times: time from the first
/// `emit` until everything is stored.
async fn time_pipeline(sink: Arc<dyn EventSink>, n: u64, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let events: Vec<Event> = (0..usize::try_from(n).unwrap()).map(event).collect();
        let start = Instant::now();
        for e in events {
            sink.emit(e);
        }
        sink.flush().await.unwrap();
        total += start.elapsed();
    }
    total
}

/// Per-call latency distribution of `emit` (printed once; criterion reports
/// means).
async fn print_emit_percentiles(name: &str, sink: &dyn EventSink, n: usize) {
    let events: Vec<Event> = (0..n).map(event).collect();
    let mut samples = Vec::with_capacity(n);
    for e in events {
        let start = Instant::now();
        sink.emit(e);
        samples.push(start.elapsed());
    }
    sink.flush().await.unwrap();
    samples.sort();
    let at = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((samples.len() - 1) as f64 * q) as usize;
        samples[i]
    };
    println!(
        "emit latency {name} ({n} calls): p50 {:?}  p99 {:?}  p99.9 {:?}  max {:?}",
        at(0.50),
        at(0.99),
        at(0.999),
        samples[samples.len() - 1]
    );
}

fn bench_events(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = clickhouse_url();
    let dir = tempfile::tempdir().unwrap();
    let database = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let config = ch_config(&url, &database, &dir.path().join("spool"));
    let (db, ch_sink, file_sink, spool_sink) = rt.block_on(async {
        let db = Db::new(&config).await;
        let ch_sink: Arc<dyn EventSink> = Arc::new(
            ClickHouseEventSink::start(&config, &pipeline(10_000, 200_000), Arc::new(SystemClock))
                .unwrap(),
        );
        let file_sink: Arc<dyn EventSink> = Arc::new(
            FileEventSink::start(&dir.path().join("events"), &pipeline(10_000, 200_000)).unwrap(),
        );
        // Nothing listens on port 1: every insert fails at once, and a queue
        // of one sends nearly every event down the queue-full path.
        let down = ch_config(
            "http://127.0.0.1:1",
            &database,
            &dir.path().join("spool-down"),
        );
        let spool_sink: Arc<dyn EventSink> = Arc::new(
            ClickHouseEventSink::start(&down, &pipeline(1, 1), Arc::new(SystemClock)).unwrap(),
        );
        // Warm up: schema step, connections.
        ch_sink.emit(event(0));
        ch_sink.flush().await.unwrap();
        print_emit_percentiles("clickhouse sink", ch_sink.as_ref(), 100_000).await;
        print_emit_percentiles("file sink", file_sink.as_ref(), 100_000).await;
        print_emit_percentiles("queue full -> spool", spool_sink.as_ref(), 20_000).await;
        (db, ch_sink, file_sink, spool_sink)
    });

    let mut g = c.benchmark_group("emit");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("build_event", |b| b.iter(|| event(7)));
    g.bench_function("clickhouse_queue", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| time_emits(ch_sink.as_ref(), iters, 100_000));
    });
    g.bench_function("file_queue", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| time_emits(file_sink.as_ref(), iters, 100_000));
    });
    g.bench_function("queue_full_to_spool", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| time_emits(spool_sink.as_ref(), iters, 20_000));
    });
    g.finish();

    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for n in [20_000_u64, 100_000] {
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::new("clickhouse", n), &n, |b, &n| {
            b.to_async(&rt)
                .iter_custom(|iters| time_pipeline(ch_sink.clone(), n, iters));
        });
        g.bench_with_input(BenchmarkId::new("files", n), &n, |b, &n| {
            b.to_async(&rt)
                .iter_custom(|iters| time_pipeline(file_sink.clone(), n, iters));
        });
    }
    g.finish();

    rt.block_on(async {
        let s = ch_sink.stats();
        println!("clickhouse sink after the run: {s:?}");
        assert_eq!(s.dropped, 0);
        let stored: u64 = db
            .client
            .query(&format!(
                "SELECT count() FROM {} FINAL",
                ch::qualified_table(&db.database)
            ))
            .fetch_one()
            .await
            .unwrap();
        println!(
            "events stored in ClickHouse: {stored} (emitted {})",
            s.emitted
        );
        db.drop_database().await;
    });
}

criterion_group!(benches, bench_events);
criterion_main!(benches);
