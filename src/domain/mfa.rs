//! Multi-factor sign-in (docs/MFA.md): a user's second factors, the
//! single-use WebAuthn ceremonies, the authentication methods a sign-in
//! used (`amr`, RFC 8176) and the authentication context classes (`acr`,
//! OpenID Connect Core §2) portcullis asserts for them.

use std::fmt;

use chrono::{DateTime, Utc};

use super::{TokenHash, UserId};

/// What kind of second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactorKind {
    /// A TOTP authenticator app (RFC 6238).
    Totp,
    /// A WebAuthn credential (passkey or security key).
    Passkey,
}

impl FactorKind {
    /// The stored name (`user_factors.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Passkey => "passkey",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "totp" => Some(Self::Totp),
            "passkey" => Some(Self::Passkey),
            _ => None,
        }
    }
}

/// A user's second factor.
#[derive(Clone, PartialEq, Eq)]
pub struct Factor {
    /// Id (UUID).
    pub id: String,
    /// Its user.
    pub user_id: UserId,
    /// TOTP or passkey.
    pub kind: FactorKind,
    /// The name the user gave it (shown on the account page).
    pub name: String,
    /// TOTP: the secret, sealed (`ports::SecretBox`); never in the clear.
    pub secret_sealed: Option<String>,
    /// Passkey: the credential id, base64url (unique).
    pub credential_id: Option<String>,
    /// Passkey: the stored credential (the WebAuthn adapter's JSON).
    pub credential: Option<String>,
    /// TOTP: the last time step accepted (RFC 6238 §5.2 replay guard).
    pub last_step: Option<i64>,
    /// When enrolment was confirmed (TOTP: the first code); an
    /// unconfirmed factor does not count.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last successful use.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Factor")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("confirmed_at", &self.confirmed_at)
            .finish_non_exhaustive()
    }
}

/// What a WebAuthn ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// Registering a passkey on the account page.
    Register,
    /// A passkey as the second factor after the password.
    SecondFactor,
    /// A passkey as the first (and only) factor: discoverable credential,
    /// user verification required.
    Passwordless,
}

impl CeremonyKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::SecondFactor => "second_factor",
            Self::Passwordless => "passwordless",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "register" => Some(Self::Register),
            "second_factor" => Some(Self::SecondFactor),
            "passwordless" => Some(Self::Passwordless),
            _ => None,
        }
    }
}

/// The server side of one WebAuthn ceremony, kept between the options and
/// the browser's answer; taken once.
#[derive(Clone, PartialEq, Eq)]
pub struct Ceremony {
    /// SHA-256 of the handle the browser holds.
    pub id_hash: TokenHash,
    /// What it is for.
    pub kind: CeremonyKind,
    /// The user (none for a passwordless sign-in).
    pub user_id: Option<UserId>,
    /// The WebAuthn adapter's serialized state (holds the challenge).
    pub state: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ceremony")
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One factor a sign-in used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorUsed {
    /// The password.
    Password,
    /// A TOTP code.
    Totp,
    /// A recovery code.
    RecoveryCode,
    /// A WebAuthn assertion.
    Passkey {
        /// The credential cannot leave its device (not backup eligible):
        /// `hwk`; a synced passkey: `swk`.
        device_bound: bool,
        /// The authenticator verified the user (PIN or biometric).
        user_verified: bool,
    },
}

/// The authentication context classes portcullis asserts, weakest first
/// (docs/MFA.md). A session meets a class when its own is at least as
/// strong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Acr {
    /// One factor (a password).
    OneFactor,
    /// Two factors (password and TOTP or recovery code, or any two).
    TwoFactor,
    /// Phishing-resistant: a passkey took part (OpenID Connect Extended
    /// Authentication Profile ACR Values 1.0, `phr`).
    PhishingResistant,
}

impl Acr {
    /// Every class, weakest first (discovery's `acr_values_supported`).
    pub const ALL: [Self; 3] = [Self::OneFactor, Self::TwoFactor, Self::PhishingResistant];

    /// The `acr` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneFactor => "urn:portcullis:acr:1fa",
            Self::TwoFactor => "urn:portcullis:acr:2fa",
            Self::PhishingResistant => "phr",
        }
    }

    /// Parses an `acr` value; `None` for a value portcullis does not know.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// RFC 8176 §2 values portcullis uses.
const PWD: &str = "pwd";
const OTP: &str = "otp";
const HWK: &str = "hwk";
const SWK: &str = "swk";
const USER: &str = "user";
const MFA: &str = "mfa";

/// The `amr` values (RFC 8176) of a sign-in that used `factors` on top of
/// the methods `previous` of the same session (a step-up keeps what the
/// session proved). `mfa` is added when two different kinds of factor took
/// part (something known and something held), or a passkey verified its
/// user (the key is held, the PIN or biometric is known or is the user).
pub fn amr_after(previous: &[String], factors: &[FactorUsed]) -> Vec<String> {
    let mut out: Vec<String> = previous.iter().filter(|m| *m != MFA).cloned().collect();
    let mut push = |m: &str| {
        if !out.iter().any(|x| x == m) {
            out.push(m.to_owned());
        }
    };
    let mut verified_key = false;
    for f in factors {
        match f {
            FactorUsed::Password => push(PWD),
            FactorUsed::Totp | FactorUsed::RecoveryCode => push(OTP),
            FactorUsed::Passkey {
                device_bound,
                user_verified,
            } => {
                push(if *device_bound { HWK } else { SWK });
                push(USER);
                verified_key |= *user_verified;
            }
        }
    }
    let knows = out.iter().any(|m| m == PWD);
    let holds = out.iter().any(|m| m == OTP || m == HWK || m == SWK);
    if (knows && holds) || verified_key || previous.iter().any(|m| m == MFA) {
        out.push(MFA.to_owned());
    }
    out
}

/// The class a session with the methods `amr` meets.
pub fn acr_of(amr: &[String]) -> Acr {
    let has = |m: &str| amr.iter().any(|x| x == m);
    if has(MFA) && (has(HWK) || has(SWK)) {
        Acr::PhishingResistant
    } else if has(MFA) {
        Acr::TwoFactor
    } else {
        Acr::OneFactor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    /// Previous methods, factors used, expected `amr`, expected `acr`.
    type Case = (Vec<String>, Vec<FactorUsed>, Vec<&'static str>, Acr);

    #[test]
    fn amr_and_acr_follow_the_factors_used() {
        let key = |device_bound, user_verified| FactorUsed::Passkey {
            device_bound,
            user_verified,
        };
        let cases: Vec<Case> = vec![
            (
                vec![],
                vec![FactorUsed::Password],
                vec!["pwd"],
                Acr::OneFactor,
            ),
            (
                vec![],
                vec![FactorUsed::Password, FactorUsed::Totp],
                vec!["pwd", "otp", "mfa"],
                Acr::TwoFactor,
            ),
            (
                vec![],
                vec![FactorUsed::Password, FactorUsed::RecoveryCode],
                vec!["pwd", "otp", "mfa"],
                Acr::TwoFactor,
            ),
            (
                vec![],
                vec![FactorUsed::Password, key(true, false)],
                vec!["pwd", "hwk", "user", "mfa"],
                Acr::PhishingResistant,
            ),
            (
                vec![],
                vec![key(false, true)],
                vec!["swk", "user", "mfa"],
                Acr::PhishingResistant,
            ),
            // A passkey without user verification alone is one factor.
            (
                vec![],
                vec![key(true, false)],
                vec!["hwk", "user"],
                Acr::OneFactor,
            ),
            // Step-up keeps what the session proved.
            (
                s(&["pwd"]),
                vec![FactorUsed::Totp],
                vec!["pwd", "otp", "mfa"],
                Acr::TwoFactor,
            ),
            (
                s(&["pwd", "otp", "mfa"]),
                vec![key(true, true)],
                vec!["pwd", "otp", "hwk", "user", "mfa"],
                Acr::PhishingResistant,
            ),
        ];
        for (previous, factors, amr, acr) in cases {
            let got = amr_after(&previous, &factors);
            assert_eq!(got, s(&amr), "{previous:?} + {factors:?}");
            assert_eq!(acr_of(&got), acr, "{got:?}");
        }
    }

    #[test]
    fn acr_values_are_ordered_and_round_trip() {
        assert!(Acr::OneFactor < Acr::TwoFactor && Acr::TwoFactor < Acr::PhishingResistant);
        for a in Acr::ALL {
            assert_eq!(Acr::parse(a.as_str()), Some(a));
        }
        assert_eq!(Acr::parse("urn:mace:incommon:iap:silver"), None);
        for k in [FactorKind::Totp, FactorKind::Passkey] {
            assert_eq!(FactorKind::parse(k.as_str()), Some(k));
        }
        for k in [
            CeremonyKind::Register,
            CeremonyKind::SecondFactor,
            CeremonyKind::Passwordless,
        ] {
            assert_eq!(CeremonyKind::parse(k.as_str()), Some(k));
        }
    }
}
