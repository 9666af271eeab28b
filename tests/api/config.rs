//! Configuration as the binary sees it: settings from the process
//! environment, one line and exit code 2 for a bad one.

use std::process::{Command, Output};

/// Runs `portcullis migrate` in a fresh directory with `vars` added to the
/// inherited environment (which holds `PORTCULLIS_TEST_*`, so those must
/// keep working).
fn migrate_with(vars: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.arg("migrate")
        .current_dir(dir.path())
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env("PORTCULLIS_DATA_DIR", dir.path().join("data"));
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn one_line_error(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    err
}

#[test]
fn documented_auth_variables_are_validated_at_start_up() {
    for name in [
        "PORTCULLIS_SESSION_IDLE_SECS",
        "PORTCULLIS_SESSION_MAX_SECS",
        "PORTCULLIS_AUTH_CODE_TTL_SECS",
        "PORTCULLIS_PKCE_ALLOW_PLAIN",
        "PORTCULLIS_LOGIN_MAX_FAILURES",
        "PORTCULLIS_LOGIN_IP_MAX_FAILURES",
        "PORTCULLIS_LOGIN_FAILURE_WINDOW_SECS",
        "PORTCULLIS_LOGIN_LOCKOUT_SECS",
    ] {
        let err = one_line_error(&migrate_with(&[(name, "notanumber")]));
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn an_account_lock_not_above_the_per_address_lock_stops_start_up() {
    // Issue 14 item 1: PORTCULLIS_LOGIN_ACCOUNT_MAX_FAILURES must be the
    // higher threshold.
    let err = one_line_error(&migrate_with(&[
        ("PORTCULLIS_LOGIN_MAX_FAILURES", "10"),
        ("PORTCULLIS_LOGIN_ACCOUNT_MAX_FAILURES", "10"),
    ]));
    assert!(
        err.contains("PORTCULLIS_LOGIN_ACCOUNT_MAX_FAILURES")
            && err.contains("PORTCULLIS_LOGIN_MAX_FAILURES"),
        "{err}"
    );
}

#[test]
fn an_unknown_variable_stops_start_up_naming_the_closest() {
    let err = one_line_error(&migrate_with(&[("PORTCULLIS_LISTN", "127.0.0.1:0")]));
    assert!(
        err.contains("PORTCULLIS_LISTN") && err.contains("did you mean PORTCULLIS_LISTEN?"),
        "{err}"
    );
}

#[test]
fn variables_of_the_test_tools_do_not_stop_start_up() {
    let out = migrate_with(&[
        ("PORTCULLIS_TEST_STATE_DIR", "/var/tmp/portcullis-test"),
        ("PORTCULLIS_CACHE_DIR", "/var/cache/portcullis"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
