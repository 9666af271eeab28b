//! Mail transports ([`Mailer`](crate::ports::Mailer) adapters): [`file`]
//! writes each mail as an `.eml` file (the embedded default,
//! `data/outbox/`), [`smtp`] hands it to an SMTP server through `lettre`
//! (`PORTCULLIS_SMTP_URL`). The factory picks one
//! ([`crate::factory::build_mailer`]); only the outbox worker
//! ([`crate::app::outbox`]) calls them.
//!
//! Both build the same RFC 5322 message here ([`message`]): one home for
//! the headers every mail carries.

pub mod file;
pub mod smtp;

use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;

use crate::domain::OutboxMail;
use crate::ports::MailError;

/// The sender of every mail, parsed once (`PORTCULLIS_MAIL_FROM`).
#[derive(Debug, Clone)]
pub struct Sender {
    mailbox: Mailbox,
}

impl Sender {
    /// Parses `Name <address>` or an address.
    pub fn parse(from: &str) -> Result<Self, String> {
        from.parse::<Mailbox>()
            .map(|mailbox| Self { mailbox })
            .map_err(|e| format!("invalid sender {from:?}: {e}"))
    }

    /// The domain of the sender's address: the right side of every
    /// `Message-ID`.
    pub fn domain(&self) -> &str {
        self.mailbox.email.domain()
    }
}

/// Builds the RFC 5322 message of `mail`: `From`, `To`, `Subject`, `Date`
/// (when it was queued), `Message-ID` `<id@sender domain>` and a
/// `text/plain; charset=utf-8` body. A recipient that is no address can
/// never be sent: [`MailError::Permanent`].
pub fn message(sender: &Sender, mail: &OutboxMail) -> Result<Message, MailError> {
    let to: Mailbox = mail
        .recipient
        .parse()
        .map_err(|_| MailError::Permanent("the recipient is not a valid address".to_owned()))?;
    Message::builder()
        .from(sender.mailbox.clone())
        .to(to)
        .subject(mail.subject.as_str())
        .date(mail.created_at.into())
        .message_id(Some(format!("<{}@{}>", mail.id, sender.domain())))
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| MailError::Permanent(format!("cannot build the message: {e}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::{TimeZone as _, Utc};

    use super::*;
    use crate::domain::MailKind;

    pub(crate) fn sample(to: &str) -> OutboxMail {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 9, 30, 5).unwrap();
        OutboxMail {
            id: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
            kind: MailKind::PasswordReset,
            recipient: to.into(),
            subject: "Réinitialiser votre mot de passe".into(),
            body: "Bonjour,\n\nhttps://id.example.com/password/reset?token=abc\n".into(),
            created_at: at,
            attempts: 0,
            next_attempt_at: at,
            sent_at: None,
            last_error: None,
        }
    }

    #[test]
    fn the_message_carries_every_header() {
        let sender = Sender::parse("portcullis <no-reply@id.example.com>").unwrap();
        let raw = String::from_utf8(
            message(&sender, &sample("ann@example.com"))
                .unwrap()
                .formatted(),
        )
        .unwrap();
        for header in [
            "From: portcullis <no-reply@id.example.com>",
            "To: ann@example.com",
            "Date: Tue, 01 Dec 2026 09:30:05 +0000",
            "Message-ID: <0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b@id.example.com>",
            "Content-Type: text/plain; charset=utf-8",
        ] {
            assert!(raw.contains(header), "{header} missing in:\n{raw}");
        }
        assert!(raw.contains("Subject: =?utf-8?"), "encoded subject:\n{raw}");
    }

    #[test]
    fn a_recipient_that_is_no_address_is_refused_for_good() {
        let sender = Sender::parse("no-reply@id.example.com").unwrap();
        assert!(matches!(
            message(&sender, &sample("not an address")),
            Err(MailError::Permanent(_))
        ));
        assert!(Sender::parse("nonsense").is_err());
    }
}
