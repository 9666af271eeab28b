//! The file transport (the embedded default): each mail becomes one RFC
//! 5322 `.eml` file, `<created_at %Y%m%dT%H%M%S>-<id>.eml`, in the outbox
//! directory (`PORTCULLIS_OUTBOX_DIR`, default `<data dir>/outbox`). The
//! file is written under a temporary name and renamed, so that a reader
//! never sees half a mail; it is owner-only (0600: it may hold a
//! single-use link) and the directory is created 0700 ([`crate::adapters::files`]).
//! Any failure is [`MailError::Transient`]: a full disk may be freed.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{Sender, message};
use crate::adapters::files::{create_private_dir_all, private_options};
use crate::domain::OutboxMail;
use crate::ports::{MailError, Mailer};

/// Writes mail as `.eml` files in a directory.
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
    sender: Sender,
}

impl FileMailer {
    /// A transport writing into `dir` (created when the first mail is
    /// written) as `sender`.
    pub fn new(dir: impl Into<PathBuf>, sender: Sender) -> Self {
        Self {
            dir: dir.into(),
            sender,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file name of `mail`.
    pub fn file_name(mail: &OutboxMail) -> String {
        format!(
            "{}-{}.eml",
            mail.created_at.format("%Y%m%dT%H%M%S"),
            mail.id
        )
    }
}

fn transient(what: &str, dir: &Path, e: &std::io::Error) -> MailError {
    MailError::Transient(format!("{what} in {}: {e}", dir.display()))
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: &OutboxMail) -> Result<(), MailError> {
        // The id comes from our own generator; never let it name a path.
        if mail.id.is_empty()
            || !mail
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(MailError::Permanent("the mail id is no file name".into()));
        }
        let bytes = message(&self.sender, mail)?.formatted();
        let dir = self.dir.clone();
        let name = Self::file_name(mail);
        tokio::task::spawn_blocking(move || {
            create_private_dir_all(&dir)
                .map_err(|e| transient("cannot create the outbox directory", &dir, &e))?;
            let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
            let write = || -> std::io::Result<()> {
                let mut f = private_options()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_all()?;
                std::fs::rename(&tmp, dir.join(&name))
            };
            write().map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                transient("cannot write a mail", &dir, &e)
            })
        })
        .await
        .map_err(|e| MailError::Transient(format!("the file writer failed: {e}")))?
    }

    fn name(&self) -> &'static str {
        "file"
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::adapters::mail::tests::sample;

    #[tokio::test]
    async fn a_mail_is_one_private_eml_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data").join("outbox");
        let mailer = FileMailer::new(&dir, Sender::parse("no-reply@id.example.com").unwrap());
        let mail = sample("ann@example.com");
        mailer.send(&mail).await.unwrap();
        // Sending again (a retry after a lost acknowledgement) rewrites it.
        mailer.send(&mail).await.unwrap();
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            names,
            ["20261201T093005-0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.eml"],
            "one file, no temporary left"
        );
        let file = dir.join(&names[0]);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir), 0o700);
        let raw = std::fs::read_to_string(&file).unwrap();
        assert!(raw.contains("To: ann@example.com"), "{raw}");
    }

    #[tokio::test]
    async fn an_unwritable_directory_is_a_transient_error() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("file");
        std::fs::write(&blocker, b"").unwrap();
        let mailer = FileMailer::new(
            blocker.join("outbox"),
            Sender::parse("no-reply@id.example.com").unwrap(),
        );
        let e = mailer.send(&sample("ann@example.com")).await.unwrap_err();
        assert!(matches!(e, MailError::Transient(_)), "{e:?}");
    }
}
