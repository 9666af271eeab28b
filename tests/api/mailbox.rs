//! The mail the tests receive: `.eml` files in a directory, one message a
#![allow(dead_code)] // The self-service tests use it as their slices land.
//! file, parsed by `mail-parser` (an independent parser). Two sources write
//! them: the embedded default's outbox directory (`<data dir>/outbox`) and
//! the test SMTP server that `scripts/services/smtp.sh` starts on
//! 127.0.0.1 (aiosmtpd; each message it receives becomes a file in
//! [`smtp_dir`]). Tests tell their messages apart by recipient: each test
//! uses addresses of its own.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The test SMTP server's URL for `PORTCULLIS_SMTP_URL` (plain SMTP on
/// loopback).
pub fn smtp_url() -> String {
    let port = std::env::var("PORTCULLIS_TEST_SMTP_PORT").unwrap_or_else(|_| "2525".into());
    format!("smtp://127.0.0.1:{port}?tls=none")
}

/// Where the test SMTP server writes what it receives.
pub fn smtp_dir() -> PathBuf {
    std::env::var_os("PORTCULLIS_TEST_SMTP_DIR").map_or_else(
        || PathBuf::from("/var/tmp/portcullis-test/smtp/mail"),
        PathBuf::from,
    )
}

/// A unique address for one test (`<label>-<uuid>@example.test`).
pub fn address(label: &str) -> String {
    format!("{label}-{}@example.test", uuid::Uuid::new_v4().simple())
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    /// The file it came from.
    pub file: PathBuf,
    /// `To` addresses.
    pub to: Vec<String>,
    /// `From` address.
    pub from: String,
    /// `Subject`.
    pub subject: String,
    /// The plain-text body, decoded.
    pub body: String,
    /// The raw message.
    pub raw: Vec<u8>,
}

impl Received {
    /// The first URL in the body whose path is `path` (such as
    /// `/password/reset`), with its query.
    pub fn link(&self, path: &str) -> Option<String> {
        self.body
            .split_whitespace()
            .map(|w| w.trim_matches(|c| matches!(c, '<' | '>' | '(' | ')' | '.' | ',')))
            .find(|w| w.starts_with("http") && url::Url::parse(w).is_ok_and(|u| u.path() == path))
            .map(str::to_owned)
    }

    /// The `token` query parameter of [`Self::link`].
    pub fn token(&self, path: &str) -> Option<String> {
        let link = self.link(path)?;
        url::Url::parse(&link)
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    }
}

/// A directory of `.eml` files.
#[derive(Debug, Clone)]
pub struct Mailbox {
    dir: PathBuf,
}

impl Mailbox {
    /// The `.eml` files under `dir`.
    pub fn at(dir: impl AsRef<Path>) -> Self {
        Self {
            dir: dir.as_ref().to_path_buf(),
        }
    }

    /// The test SMTP server's mailbox ([`smtp_dir`]).
    pub fn smtp() -> Self {
        Self::at(smtp_dir())
    }

    /// Every message to `address` (ignoring case), oldest first.
    pub fn to(&self, address: &str) -> Vec<Received> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        let mut out: Vec<Received> = files
            .into_iter()
            .filter_map(|f| parse(&f))
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect();
        out.sort_by_key(|m| std::fs::metadata(&m.file).and_then(|md| md.modified()).ok());
        out
    }

    /// Waits up to `timeout` until `address` has received `n` messages;
    /// returns them all. Panics with what arrived when it times out.
    pub async fn wait_for(&self, address: &str, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.to(address);
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{address} got {} message(s) in {timeout:?}, wanted {n}: {:?}",
                got.len(),
                got.iter().map(|m| &m.subject).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the first message to `address` and returns it.
    pub async fn first(&self, address: &str) -> Received {
        self.wait_for(address, 1, Duration::from_secs(20))
            .await
            .remove(0)
    }
}

fn parse(file: &Path) -> Option<Received> {
    let raw = std::fs::read(file).ok()?;
    let msg = mail_parser::MessageParser::default().parse(&raw)?;
    let addrs = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        a.map(|a| {
            a.iter()
                .filter_map(|x| x.address().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
    };
    let to = addrs(msg.to());
    let from = addrs(msg.from()).into_iter().next().unwrap_or_default();
    Some(Received {
        file: file.to_path_buf(),
        to,
        from,
        subject: msg.subject().unwrap_or_default().to_owned(),
        body: msg
            .body_text(0)
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_default(),
        raw,
    })
}

/// The mail queued for `address` in the outbox table, oldest first, sent or
/// not: what a test reads when it checks what a page asked to send without
/// waiting for the outbox worker.
pub async fn queued(store: &dyn portcullis::ports::Store, address: &str) -> Vec<Received> {
    let mut all = store.outbox().list_mail(false, 1000).await.unwrap();
    all.reverse();
    all.into_iter()
        .filter(|m| m.recipient.eq_ignore_ascii_case(address))
        .map(|m| Received {
            file: PathBuf::new(),
            to: vec![m.recipient.clone()],
            from: String::new(),
            subject: m.subject.clone(),
            raw: m.body.clone().into_bytes(),
            body: m.body,
        })
        .collect()
}
