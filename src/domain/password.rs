//! The rules of a new password (NIST SP 800-63B §5.1.1.2, "Memorized
//! Secret Verifiers"): at least [`MIN_CHARS`] characters, at most
//! [`MAX_BYTES`] bytes (bounds the hashing work), not one of the commonly
//! used passwords of a list shipped with the server, and not the user's own
//! username or e-mail address ("context-specific words"). No composition
//! rules (no "one digit, one symbol"): §5.1.1.2 advises against them.
//!
//! The one home of these rules is
//! [`crate::app::operator::check_password`], which delegates here; every
//! page and command that sets a password calls it.

use std::fmt;

/// Shortest accepted password, in characters (NIST SP 800-63B §5.1.1.2:
/// at least 8).
pub const MIN_CHARS: usize = 8;
/// Longest accepted password, in bytes (bounds the hashing work).
pub const MAX_BYTES: usize = 1024;

/// The commonly used passwords refused as new passwords: the 5,000 most
/// frequent passwords of at least [`MIN_CHARS`] characters (shorter ones are
/// refused by length already), lowercased, one per line, most frequent
/// first. Taken from `data/passwords.txt` of zxcvbn (Dropbox, MIT license;
/// github.com/dropbox/zxcvbn, commit 67c4ece9), a frequency list built from
/// Mark Burnett's 10-million-password corpus (xato.net, 2015):
/// `awk '{print tolower($1)}' passwords.txt | awk 'length($0)>=8 &&
/// !seen[$0]++' | head -5000`. Shipped in the binary; nothing is downloaded.
const COMMON: &str = include_str!("common_passwords.txt");

/// Why a new password is refused; `Display` is the message for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    /// Nothing was given.
    Empty,
    /// Fewer than [`MIN_CHARS`] characters.
    TooShort,
    /// More than [`MAX_BYTES`] bytes.
    TooLong,
    /// On the list of commonly used passwords.
    Common,
    /// The username or the e-mail address (or its part before the `@`).
    Personal,
}

impl fmt::Display for PasswordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the password is empty"),
            Self::TooShort => write!(
                f,
                "the password is too short: use at least {MIN_CHARS} characters"
            ),
            Self::TooLong => write!(f, "the password is longer than {MAX_BYTES} bytes"),
            Self::Common => f.write_str(
                "this password is too common: it is on a list of passwords attackers try first; choose another (a few unrelated words make a good one)",
            ),
            Self::Personal => f.write_str(
                "the password must not be your username or your e-mail address",
            ),
        }
    }
}

impl std::error::Error for PasswordProblem {}

/// Whether `password` is on the list of commonly used passwords (compared
/// ignoring case).
pub fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    COMMON.lines().any(|l| l == lower)
}

/// Checks a new password. `personal` holds what the password must not be:
/// the user's username and e-mail address (compared ignoring case and
/// surrounding spaces; an address also refuses its part before the `@`).
/// Empty entries are ignored.
pub fn check(password: &str, personal: &[&str]) -> Result<(), PasswordProblem> {
    if password.is_empty() {
        return Err(PasswordProblem::Empty);
    }
    if password.chars().count() < MIN_CHARS {
        return Err(PasswordProblem::TooShort);
    }
    if password.len() > MAX_BYTES {
        return Err(PasswordProblem::TooLong);
    }
    if is_common(password) {
        return Err(PasswordProblem::Common);
    }
    let typed = password.trim().to_lowercase();
    let personal_match = personal
        .iter()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .any(|p| {
            typed == p
                || p.split_once('@')
                    .is_some_and(|(local, _)| !local.is_empty() && typed == local)
        });
    if personal_match {
        return Err(PasswordProblem::Personal);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules() {
        assert_eq!(check("", &[]), Err(PasswordProblem::Empty));
        assert_eq!(check("Xq7!vz", &[]), Err(PasswordProblem::TooShort));
        // Characters, not bytes: seven characters of two bytes each.
        assert_eq!(check("ééééééé", &[]), Err(PasswordProblem::TooShort));
        assert_eq!(check("éééééééé", &[]), Ok(()));
        assert_eq!(
            check(&"x".repeat(MAX_BYTES + 1), &[]),
            Err(PasswordProblem::TooLong)
        );
        assert_eq!(check(&"xy".repeat(MAX_BYTES / 2), &[]), Ok(()));
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        for p in [
            "password",
            "PASSWORD",
            "Password",
            "12345678",
            "iloveyou",
            "qwertyuiop",
            "baseball",
        ] {
            assert_eq!(check(p, &[]), Err(PasswordProblem::Common), "{p}");
        }
        assert_eq!(check("correct horse battery staple", &[]), Ok(()));
        assert_eq!(check("tangerine-otter-42", &[]), Ok(()));
    }

    #[test]
    fn the_list_is_lowercase_long_enough_entries_one_per_line() {
        let n = COMMON.lines().count();
        assert!((1000..=20_000).contains(&n), "{n} entries");
        for l in COMMON.lines() {
            assert_eq!(l, l.to_lowercase(), "{l}");
            assert!(l.chars().count() >= MIN_CHARS, "{l}");
            assert_eq!(l, l.trim(), "{l:?}");
        }
    }

    #[test]
    fn the_username_and_the_address_are_refused() {
        let me = ["Alice.Example", "alice.smith@example.com"];
        assert_eq!(check("alice.example", &me), Err(PasswordProblem::Personal));
        assert_eq!(
            check("ALICE.SMITH@EXAMPLE.COM", &me),
            Err(PasswordProblem::Personal)
        );
        assert_eq!(check("alice.smith", &me), Err(PasswordProblem::Personal));
        assert_eq!(
            check(" Alice.Example ", &me),
            Err(PasswordProblem::Personal)
        );
        assert_eq!(check("alice.example!", &me), Ok(()));
        assert_eq!(check("tangerine-otter-42", &["", "@x"]), Ok(()));
    }

    #[test]
    fn messages_say_what_to_do() {
        assert!(PasswordProblem::TooShort.to_string().contains("at least 8"));
        assert!(PasswordProblem::Common.to_string().contains("too common"));
        assert!(PasswordProblem::Personal.to_string().contains("username"));
    }
}
