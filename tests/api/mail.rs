//! Mail that is never lost (issue 16, docs/SECURITY.md invariant 16): the
//! outbox worker sends queued mail through the file transport (the embedded
//! default) or SMTP (the test server of scripts/services/smtp.sh), retries
//! with backoff while the server is away, sends each mail once when several
//! workers race, and keeps a refused mail for the operator.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Duration, SubsecRound as _, Utc};
use portcullis::adapters::mail::Sender;
use portcullis::adapters::mail::smtp::SmtpMailer;
use portcullis::app::mail::{self, NewMail};
use portcullis::app::outbox::{self, OutboxSettings, RunReport};
use portcullis::config::MailTransport;
use portcullis::domain::{MailKind, OutboxMail};
use portcullis::factory::Overrides;
use portcullis::ports::prelude::*;
use portcullis::ports::{MailError, Mailer};
use portcullis::testing::FixedClock;

use crate::both_backends;
use crate::cli::{ok, portcullis};
use crate::helpers::{TestDb, spawn_app_full, spawn_app_with, test_overrides};
use crate::mailbox::{self, Mailbox};

const FROM: &str = "portcullis <no-reply@id.example.test>";

fn settings() -> OutboxSettings {
    OutboxSettings {
        retry_max: Duration::hours(1),
        lease: outbox::LEASE,
        batch: 50,
    }
}

async fn queue(
    store: &dyn Store,
    now: DateTime<Utc>,
    to: &str,
    subject: &str,
    body: &str,
) -> String {
    mail::queue(
        store,
        &portcullis::adapters::system::OsRng,
        now,
        NewMail {
            kind: MailKind::PasswordReset,
            to,
            subject,
            body,
        },
    )
    .await
    .unwrap()
}

async fn row(store: &dyn Store, id: &str) -> OutboxMail {
    store
        .outbox()
        .list_mail(false, 10_000)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id == id)
        .unwrap_or_else(|| panic!("mail {id} is gone"))
}

/// Waits until the worker marked `id` sent.
async fn wait_sent(store: &dyn Store, id: &str) -> OutboxMail {
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(20);
    loop {
        let m = row(store, id).await;
        if m.sent_at.is_some() {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never marked sent: {m:?}"
        );
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

/// An SMTP URL on which nothing listens.
async fn closed_smtp_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("smtp://127.0.0.1:{port}?tls=none")
}

/// A fixed clock on a whole microsecond (what both databases keep).
fn clock() -> FixedClock {
    FixedClock::at(Utc::now().trunc_subsecs(6))
}

fn smtp(url: &str) -> SmtpMailer {
    SmtpMailer::new(url, Sender::parse(FROM).unwrap()).unwrap()
}

both_backends!(
    the_file_transport_writes_one_eml_per_mail_and_marks_it_sent,
    |backend| async move {
        let app = spawn_app_with(backend, |_| {}).await;
        let to = mailbox::address("file");
        let store = app.state.store.as_ref();
        let id = queue(
            store,
            app.state.clock.now(),
            &to,
            "Réinitialiser le mot de passe",
            "Bonjour,\n\nhttps://example.test/password/reset?token=abc\n",
        )
        .await;
        outbox::wake(&app.state.mail_wake);
        let got = Mailbox::at(app.data_dir().join("outbox")).first(&to).await;
        assert_eq!(got.to, vec![to.clone()]);
        assert_eq!(got.subject, "Réinitialiser le mot de passe");
        assert!(got.from.starts_with("no-reply@"), "{}", got.from);
        assert_eq!(
            got.token("/password/reset").as_deref(),
            Some("abc"),
            "{}",
            got.body
        );
        let name = got.file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with(&format!("-{id}.eml")), "{name}");
        let raw = String::from_utf8(got.raw.clone()).unwrap();
        assert!(raw.contains(&format!("Message-ID: <{id}@")), "{raw}");
        let m = wait_sent(store, &id).await;
        assert_eq!((m.attempts, m.last_error), (0, None));
    }
);

both_backends!(
    the_smtp_transport_delivers_to_the_server,
    |backend| async move {
        let app = spawn_app_with(backend, |c| {
            c.self_service.transport = MailTransport::Smtp(mailbox::smtp_url());
        })
        .await;
        let to = mailbox::address("smtp");
        let store = app.state.store.as_ref();
        let id = queue(
            store,
            app.state.clock.now(),
            &to,
            "Hello",
            "Hello over SMTP\n",
        )
        .await;
        outbox::wake(&app.state.mail_wake);
        let got = Mailbox::smtp().first(&to).await;
        assert_eq!(got.subject, "Hello");
        assert_eq!(got.body.trim_end(), "Hello over SMTP");
        wait_sent(store, &id).await;
        // Nothing else for that address: sent once.
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        assert_eq!(Mailbox::smtp().to(&to).len(), 1);
    }
);

both_backends!(
    mail_survives_an_smtp_outage_and_arrives_when_the_server_is_back,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let clock = clock();
        let t0 = clock.now();
        let to = mailbox::address("outage");
        let id = queue(&store, t0, &to, "Outage", "Still here\n").await;
        let down = smtp(&closed_smtp_url().await);

        // Down: each pass counts an attempt, keeps the error and backs off.
        let mut waited = Duration::zero();
        for (attempt, delay) in [(1_u32, 5_i64), (2, 10), (3, 20)] {
            let r = outbox::run_once(&store, &down, &clock, &settings())
                .await
                .unwrap();
            assert_eq!(
                r,
                RunReport {
                    failed: 1,
                    ..RunReport::default()
                }
            );
            let m = row(&store, &id).await;
            assert_eq!(m.attempts, attempt);
            assert!(m.sent_at.is_none());
            assert!(
                m.last_error.as_deref().is_some_and(|e| !e.is_empty()),
                "{m:?}"
            );
            let next = (m.next_attempt_at - clock.now()).num_milliseconds();
            assert!(
                (delay * 1000 - 5..=delay * 1000).contains(&next),
                "attempt {attempt}: {next} ms"
            );
            // Not due before then.
            let r = outbox::run_once(&store, &down, &clock, &settings())
                .await
                .unwrap();
            assert_eq!(r, RunReport::default(), "retried before its time");
            clock.advance(Duration::seconds(delay));
            waited += Duration::seconds(delay);
        }
        assert_eq!(waited, Duration::seconds(35));

        // Back: the same outbox, the real server: it arrives, once.
        let up = smtp(&mailbox::smtp_url());
        let r = outbox::run_once(&store, &up, &clock, &settings())
            .await
            .unwrap();
        assert_eq!(
            r,
            RunReport {
                sent: 1,
                ..RunReport::default()
            }
        );
        let got = Mailbox::smtp().first(&to).await;
        assert_eq!(got.body.trim_end(), "Still here");
        let m = row(&store, &id).await;
        assert_eq!((m.attempts, m.sent_at), (3, Some(clock.now())));
        assert_eq!(m.last_error, None);
        let r = outbox::run_once(&store, &up, &clock, &settings())
            .await
            .unwrap();
        assert_eq!(r, RunReport::default());
    }
);

/// Records what it was asked to send; optionally fails.
#[derive(Default)]
struct Recorder {
    sent: Mutex<HashMap<String, u32>>,
    fail_first: AtomicU32,
    permanent: bool,
}

#[async_trait]
impl Mailer for Recorder {
    async fn send(&self, mail: &OutboxMail) -> Result<(), MailError> {
        if self.permanent {
            return Err(MailError::Permanent("550 no such user".into()));
        }
        if self
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(MailError::Transient("421 try later".into()));
        }
        // Widen the window in which another worker could send it too.
        tokio::time::sleep(StdDuration::from_millis(5)).await;
        *self
            .sent
            .lock()
            .unwrap()
            .entry(mail.id.clone())
            .or_default() += 1;
        Ok(())
    }

    fn name(&self) -> &'static str {
        "recorder"
    }
}

both_backends!(
    racing_workers_send_each_mail_exactly_once,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let store: Arc<dyn Store> = Arc::new(db.store().await);
        let clock = Arc::new(clock());
        let mut ids = Vec::new();
        for i in 0..30 {
            let to = format!("race-{i}@example.test");
            ids.push(queue(store.as_ref(), clock.now(), &to, "Race", "body").await);
        }
        let mailer = Arc::new(Recorder::default());
        let workers = (0..4).map(|_| {
            let (store, clock, mailer) = (store.clone(), clock.clone(), mailer.clone());
            tokio::spawn(async move {
                outbox::run_once(store.as_ref(), mailer.as_ref(), clock.as_ref(), &settings())
                    .await
                    .unwrap()
            })
        });
        let mut reports: Vec<RunReport> = Vec::new();
        for w in workers.collect::<Vec<_>>() {
            reports.push(w.await.unwrap());
        }
        let sent = mailer.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 30, "every mail went out");
        assert!(
            sent.values().all(|n| *n == 1),
            "a mail went out twice: {sent:?}"
        );
        assert_eq!(
            reports.iter().map(|r| r.sent).sum::<u32>(),
            30,
            "{reports:?}"
        );
        for id in &ids {
            assert!(row(store.as_ref(), id).await.sent_at.is_some());
        }
    }
);

both_backends!(
    a_refused_mail_is_kept_and_not_retried_soon,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let clock = clock();
        let id = queue(
            &store,
            clock.now(),
            "nobody@example.test",
            "Refused",
            "body",
        )
        .await;
        let mailer = Recorder {
            permanent: true,
            ..Recorder::default()
        };
        let r = outbox::run_once(&store, &mailer, &clock, &settings())
            .await
            .unwrap();
        assert_eq!(
            r,
            RunReport {
                refused: 1,
                ..RunReport::default()
            }
        );
        let m = row(&store, &id).await;
        assert_eq!((m.attempts, m.sent_at), (1, None));
        assert!(
            m.next_attempt_at >= clock.now() + Duration::days(29),
            "{m:?}"
        );
        assert!(
            m.last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("refused:") && e.contains("550")),
            "{:?}",
            m.last_error
        );
        // A week later: still not retried, still there for the operator.
        clock.advance(Duration::days(7));
        let r = outbox::run_once(&store, &mailer, &clock, &settings())
            .await
            .unwrap();
        assert_eq!(r, RunReport::default());
        let unsent = store.outbox().list_mail(true, 10).await.unwrap();
        assert_eq!(
            unsent.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            [id.as_str()]
        );
        // The periodic purge keeps it too.
        let report = portcullis::app::housekeeping::purge(
            &store,
            clock.now() + Duration::days(60),
            &portcullis::app::housekeeping::PurgeSettings {
                batch_size: 100,
                throttle_window: Duration::minutes(15),
                session_idle: Duration::hours(1),
            },
        )
        .await
        .unwrap();
        assert_eq!(report.mail, 0);
        assert_eq!(store.outbox().list_mail(true, 10).await.unwrap().len(), 1);
    }
);

both_backends!(
    the_server_worker_retries_until_the_transport_works,
    |backend| async move {
        let mailer = Arc::new(Recorder {
            fail_first: AtomicU32::new(1),
            ..Recorder::default()
        });
        let app = spawn_app_full(
            backend,
            |_| {},
            Overrides {
                mailer: Some(mailer.clone()),
                ..test_overrides()
            },
        )
        .await;
        let store = app.state.store.as_ref();
        let id = queue(
            store,
            app.state.clock.now(),
            "retry@example.test",
            "Retry",
            "body",
        )
        .await;
        outbox::wake(&app.state.mail_wake);
        // The first attempt fails; the worker tries again 5 s later.
        let m = wait_sent(store, &id).await;
        assert_eq!(m.attempts, 1);
        assert_eq!(mailer.sent.lock().unwrap().get(&id), Some(&1));
    }
);

both_backends!(sent_mail_is_purged_after_a_week, |backend| async move {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let clock = clock();
    let id = queue(&store, clock.now(), "old@example.test", "Old", "body").await;
    let r = outbox::run_once(&store, &Recorder::default(), &clock, &settings())
        .await
        .unwrap();
    assert_eq!(r.sent, 1);
    let purge_settings = portcullis::app::housekeeping::PurgeSettings {
        batch_size: 100,
        throttle_window: Duration::minutes(15),
        session_idle: Duration::hours(1),
    };
    let purge = |at| portcullis::app::housekeeping::purge(&store, at, &purge_settings);
    assert_eq!(
        purge(clock.now() + Duration::days(6)).await.unwrap().mail,
        0
    );
    row(&store, &id).await;
    assert_eq!(
        purge(clock.now() + Duration::days(8)).await.unwrap().mail,
        1
    );
    assert!(
        store
            .outbox()
            .list_mail(false, 10)
            .await
            .unwrap()
            .is_empty()
    );
});

both_backends!(
    the_cli_lists_the_outbox_without_bodies,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let clock = clock();
        let body = "secret link https://example.test/password/reset?token=SECRET";
        let sent = queue(&store, clock.now(), "a@example.test", "Sent", body).await;
        let stuck = queue(&store, clock.now(), "b@example.test", "Stuck", body).await;
        store
            .outbox()
            .mark_mail_sent(&sent, clock.now())
            .await
            .unwrap();
        store
            .outbox()
            .mark_mail_failed(&stuck, 2, clock.now() + Duration::seconds(10), "421 busy")
            .await
            .unwrap();
        let all = ok(&portcullis(&db, &["mail", "list", "--json"], None));
        assert!(!all.contains("SECRET"), "{all}");
        let rows: Vec<serde_json::Value> = serde_json::from_str(&all).unwrap();
        assert_eq!(rows.len(), 2, "{all}");
        let unsent = ok(&portcullis(
            &db,
            &["mail", "list", "--unsent", "--json"],
            None,
        ));
        let rows: Vec<serde_json::Value> = serde_json::from_str(&unsent).unwrap();
        assert_eq!(rows.len(), 1, "{unsent}");
        assert_eq!(rows[0]["id"], stuck.as_str());
        assert_eq!(rows[0]["recipient"], "b@example.test");
        assert_eq!(rows[0]["kind"], "password_reset");
        assert_eq!(rows[0]["attempts"], 2);
        assert_eq!(rows[0]["last_error"], "421 busy");
        assert!(rows[0]["sent_at"].is_null());
        let text = ok(&portcullis(&db, &["mail", "list"], None));
        assert!(!text.contains("SECRET"), "{text}");
        assert!(
            text.contains("b@example.test") && text.contains("421 busy"),
            "{text}"
        );
    }
);
