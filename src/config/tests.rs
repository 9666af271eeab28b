//! Unit tests of the configuration.

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_are_the_embedded_set_up() {
    let c = Config::from_raw(RawSettings::default()).unwrap();
    assert_eq!(c.issuer, "http://127.0.0.1:8080");
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.database_url, "sqlite://./data/portcullis.db?mode=rwc");
    assert!(c.migrate_on_start);
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        "issuer = \"https://file.example\"\nlisten = \"127.0.0.1:9000\"\n",
    )
    .unwrap();
    let c = Config::load(
        Some(&file),
        &env(&[("PORTCULLIS_LISTEN", "127.0.0.1:9100")]),
    )
    .unwrap();
    assert_eq!(c.issuer, "https://file.example");
    assert_eq!(c.listen.port(), 9100);
}

#[test]
fn data_dir_moves_the_default_database() {
    let c = Config::load(None, &env(&[("PORTCULLIS_DATA_DIR", "/srv/p")])).unwrap();
    assert_eq!(c.database_url, "sqlite:///srv/p/portcullis.db?mode=rwc");
}

#[test]
fn bad_values_name_the_setting() {
    for (name, value) in [
        ("PORTCULLIS_LISTEN", "not-an-address"),
        ("PORTCULLIS_ISSUER", "ftp://x"),
        ("PORTCULLIS_ISSUER", "https://x.example/?q=1"),
        ("PORTCULLIS_DATABASE_URL", "mysql://x"),
        ("PORTCULLIS_MIGRATE_ON_START", "maybe"),
        ("PORTCULLIS_MAX_BODY_BYTES", "-1"),
        ("PORTCULLIS_LOG_FORMAT", "xml"),
    ] {
        let err = Config::load(None, &env(&[(name, value)])).unwrap_err();
        assert_eq!(err.setting, name, "{value}");
        let line = err.to_string();
        assert!(line.contains(name) && !line.contains('\n'), "{line}");
    }
}

const AUTH_VARIABLES: [&str; 8] = [
    "PORTCULLIS_SESSION_IDLE_SECS",
    "PORTCULLIS_SESSION_MAX_SECS",
    "PORTCULLIS_AUTH_CODE_TTL_SECS",
    "PORTCULLIS_PKCE_ALLOW_PLAIN",
    "PORTCULLIS_LOGIN_MAX_FAILURES",
    "PORTCULLIS_LOGIN_IP_MAX_FAILURES",
    "PORTCULLIS_LOGIN_FAILURE_WINDOW_SECS",
    "PORTCULLIS_LOGIN_LOCKOUT_SECS",
];

#[test]
fn documented_auth_variables_are_validated() {
    for name in AUTH_VARIABLES {
        let err = Config::load(None, &env(&[(name, "notanumber")]))
            .expect_err(&format!("{name}=notanumber was accepted"));
        assert_eq!(err.setting, name);
        let line = err.to_string();
        assert!(line.contains(name) && !line.contains('\n'), "{line}");
    }
}

#[test]
fn documented_auth_variables_reach_the_config() {
    let c = Config::load(
        None,
        &env(&[
            ("PORTCULLIS_SESSION_IDLE_SECS", "600"),
            ("PORTCULLIS_SESSION_MAX_SECS", "7200"),
            ("PORTCULLIS_AUTH_CODE_TTL_SECS", "120"),
            ("PORTCULLIS_PKCE_ALLOW_PLAIN", "true"),
            ("PORTCULLIS_LOGIN_MAX_FAILURES", "7"),
            ("PORTCULLIS_LOGIN_IP_MAX_FAILURES", "70"),
            ("PORTCULLIS_LOGIN_ACCOUNT_MAX_FAILURES", "40"),
            ("PORTCULLIS_FIRST_PARTY_OFFLINE_WITHOUT_CONSENT", "true"),
            ("PORTCULLIS_LOGIN_FAILURE_WINDOW_SECS", "60"),
            ("PORTCULLIS_LOGIN_LOCKOUT_SECS", "30"),
            ("PORTCULLIS_DEVICE_CODE_TTL_SECS", "900"),
            ("PORTCULLIS_DEVICE_POLL_INTERVAL_SECS", "7"),
            ("PORTCULLIS_DEVICE_USER_CODE_MAX_FAILURES", "3"),
            ("PORTCULLIS_DELIVERY_RETRY_MAX_SECS", "120"),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.auth,
        AuthSettings {
            session_idle: chrono::Duration::seconds(600),
            session_max: chrono::Duration::seconds(7200),
            code_ttl: chrono::Duration::seconds(120),
            pkce_allow_plain: true,
            first_party_offline_without_consent: true,
            login_max_failures: 7,
            login_account_max_failures: 40,
            login_ip_max_failures: 70,
            login_failure_window: chrono::Duration::seconds(60),
            login_lockout: chrono::Duration::seconds(30),
            device_code_ttl: chrono::Duration::seconds(900),
            device_poll_interval: chrono::Duration::seconds(7),
            device_user_code_max_failures: 3,
            delivery_retry_max: chrono::Duration::seconds(120),
            delivery_max_age: chrono::Duration::seconds(86_400),
        }
    );
}

#[test]
fn dpop_proofs_live_a_minute_and_nonces_are_off_unless_set() {
    let c = Config::load(None, &env(&[])).unwrap();
    assert_eq!(c.tokens.dpop_proof_window, chrono::Duration::seconds(60));
    assert!(!c.tokens.dpop_nonce);
    let c = Config::load(
        None,
        &env(&[
            ("PORTCULLIS_DPOP_PROOF_WINDOW_SECS", "120"),
            ("PORTCULLIS_DPOP_NONCE", "true"),
        ]),
    )
    .unwrap();
    assert_eq!(c.tokens.dpop_proof_window, chrono::Duration::seconds(120));
    assert!(c.tokens.dpop_nonce);
    for bad in ["0", "601", "soon"] {
        assert!(
            Config::load(None, &env(&[("PORTCULLIS_DPOP_PROOF_WINDOW_SECS", bad)])).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn the_refresh_grace_window_is_ten_seconds_unless_set() {
    let c = Config::load(None, &env(&[])).unwrap();
    assert_eq!(c.tokens.refresh_grace, chrono::Duration::seconds(10));
    let c = Config::load(None, &env(&[("PORTCULLIS_REFRESH_GRACE_SECS", "0")])).unwrap();
    assert_eq!(c.tokens.refresh_grace, chrono::Duration::zero());
    assert!(Config::load(None, &env(&[("PORTCULLIS_REFRESH_GRACE_SECS", "301")])).is_err());
}

#[test]
fn the_account_lock_must_sit_above_the_per_address_lock() {
    // Issue 14 item 1: the per-account threshold is the higher one.
    for (per_address, per_account) in [("5", "5"), ("10", "5"), ("1000", "100")] {
        let err = Config::load(
            None,
            &env(&[
                ("PORTCULLIS_LOGIN_MAX_FAILURES", per_address),
                ("PORTCULLIS_LOGIN_ACCOUNT_MAX_FAILURES", per_account),
            ]),
        )
        .expect_err(&format!("{per_address} / {per_account} was accepted"));
        assert_eq!(err.setting, "PORTCULLIS_LOGIN_ACCOUNT_MAX_FAILURES");
        let line = err.to_string();
        assert!(
            line.contains("PORTCULLIS_LOGIN_ACCOUNT_MAX_FAILURES")
                && line.contains("PORTCULLIS_LOGIN_MAX_FAILURES")
                && !line.contains('\n'),
            "{line}"
        );
    }
    // The defaults, and only the per-address one raised below the default
    // per-account one, are fine.
    Config::load(None, &env(&[])).unwrap();
    let c = Config::load(None, &env(&[("PORTCULLIS_LOGIN_MAX_FAILURES", "99")])).unwrap();
    assert_eq!(c.auth.login_account_max_failures, 100);
    let err = Config::load(None, &env(&[("PORTCULLIS_LOGIN_MAX_FAILURES", "100")])).unwrap_err();
    assert_eq!(err.setting, "PORTCULLIS_LOGIN_ACCOUNT_MAX_FAILURES");
}

#[test]
fn the_settings_scripts_bench_exports_are_accepted() {
    // scripts/bench turns the throttles off this way; before the table the
    // sign-in throttle variable was ignored, so its value was never checked.
    let c = Config::load(
        None,
        &env(&[
            ("PORTCULLIS_LOGIN_IP_MAX_FAILURES", "1000000"),
            ("PORTCULLIS_LOGIN_MAX_FAILURES", "1000"),
            ("PORTCULLIS_LOGIN_ACCOUNT_MAX_FAILURES", "1000000"),
            ("PORTCULLIS_RATE_LIMIT_TOKEN_PER_MIN", "0"),
            ("PORTCULLIS_RATE_LIMIT_AUTHORIZE_PER_MIN", "0"),
            ("PORTCULLIS_RATE_LIMIT_LOGIN_PER_MIN", "0"),
        ]),
    )
    .unwrap();
    assert_eq!(c.auth.login_ip_max_failures, 1_000_000);
    assert_eq!(c.auth.login_max_failures, 1000);
    assert_eq!(c.auth.login_account_max_failures, 1_000_000);
}

#[test]
fn unknown_variables_are_refused_with_the_closest_name() {
    let err = Config::load(None, &env(&[("PORTCULLIS_ISUER", "https://x.example")]))
        .expect_err("PORTCULLIS_ISUER was accepted");
    assert_eq!(err.setting, "PORTCULLIS_ISUER");
    let line = err.to_string();
    assert!(line.contains("did you mean PORTCULLIS_ISSUER?"), "{line}");
    assert!(!line.contains('\n'), "{line}");
    let err = Config::load(None, &env(&[("PORTCULLIS_AUTH_CODE_TTL", "30")]))
        .expect_err("PORTCULLIS_AUTH_CODE_TTL was accepted");
    assert!(
        err.to_string().contains("PORTCULLIS_AUTH_CODE_TTL_SECS"),
        "{err}"
    );
}

#[test]
fn variables_of_the_tools_and_other_programs_are_not_settings() {
    Config::load(
        None,
        &env(&[
            ("PORTCULLIS_TEST_POSTGRES_URL", "postgres://x"),
            ("PORTCULLIS_TEST_ANYTHING", "x"),
            ("PORTCULLIS_CACHE_DIR", "/var/cache/portcullis"),
            ("PORTCULLIS_KMS_PORT", "5599"),
            ("HOME", "/root"),
            ("RUST_LOG", "debug"),
        ]),
    )
    .unwrap();
}

#[test]
fn unknown_file_keys_name_the_closest_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    std::fs::write(&file, "isuer = \"https://typo.example\"\n").unwrap();
    let err = Config::load(Some(&file), &HashMap::new()).unwrap_err();
    let line = err.to_string();
    assert!(
        line.contains("isuer") && line.contains("did you mean issuer?"),
        "{line}"
    );
    assert!(!line.contains('\n'), "{line}");
}

#[test]
fn the_file_takes_numbers_and_booleans() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        "max_body_bytes = 65536\nmigrate_on_start = false\npkce_allow_plain = true\n\
         auth_code_ttl_secs = 30\nrequest_timeout_secs = \"45\"\nallow_http_redirect_uris = \"yes\"\n",
    )
    .unwrap();
    let c = Config::load(Some(&file), &HashMap::new()).unwrap();
    assert_eq!(c.max_body_bytes, 65536);
    assert!(!c.migrate_on_start);
    assert!(c.auth.pkce_allow_plain);
    assert_eq!(c.auth.code_ttl, chrono::Duration::seconds(30));
    assert_eq!(c.request_timeout, Duration::from_secs(45));
    assert!(c.allow_http_redirect_uris);
    for (text, key) in [
        ("max_body_bytes = 1.5\n", "max_body_bytes"),
        ("migrate_on_start = 1\n", "migrate_on_start"),
        ("issuer = true\n", "issuer"),
        ("max_body_bytes = 10\n", "PORTCULLIS_MAX_BODY_BYTES"),
    ] {
        std::fs::write(&file, text).unwrap();
        let err = Config::load(Some(&file), &HashMap::new()).unwrap_err();
        assert!(err.to_string().contains(key), "{text}: {err}");
    }
}

#[test]
fn unknown_file_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    std::fs::write(&file, "isuer = \"https://typo.example\"\n").unwrap();
    let err = Config::load(Some(&file), &HashMap::new()).unwrap_err();
    assert_eq!(err.setting, "--config");
}

#[test]
fn events_default_to_files_under_the_data_dir() {
    let c = Config::load(None, &env(&[("PORTCULLIS_DATA_DIR", "/srv/p")])).unwrap();
    match c.events {
        EventConfig::Files { dir } => assert_eq!(dir, PathBuf::from("/srv/p/events")),
        EventConfig::ClickHouse(_) => panic!("files expected"),
    }
    assert_eq!(c.event_pipeline.batch_size, 1000);
    assert_eq!(c.event_pipeline.queue_capacity, 10_000);
}

#[test]
fn clickhouse_settings_select_clickhouse() {
    let c = Config::load(
        None,
        &env(&[
            ("PORTCULLIS_DATA_DIR", "/srv/p"),
            ("PORTCULLIS_CLICKHOUSE_URL", "http://ch.internal:8123/"),
            ("PORTCULLIS_CLICKHOUSE_USER", "portcullis"),
            ("PORTCULLIS_CLICKHOUSE_PASSWORD", "s3cret-pw"),
            ("PORTCULLIS_EVENTS_TTL_DAYS", "30"),
            ("PORTCULLIS_EVENTS_BATCH_SIZE", "500"),
        ]),
    )
    .unwrap();
    let EventConfig::ClickHouse(ch) = &c.events else {
        panic!("clickhouse expected")
    };
    assert_eq!(ch.url, "http://ch.internal:8123");
    assert_eq!(ch.database, "portcullis");
    assert_eq!(ch.user.as_deref(), Some("portcullis"));
    assert_eq!(ch.ttl_days, 30);
    assert_eq!(ch.spool_dir, PathBuf::from("/srv/p/spool"));
    assert_eq!(c.event_pipeline.batch_size, 500);
    let debug = format!("{c:?}");
    assert!(!debug.contains("s3cret-pw"), "{debug}");
}

#[test]
fn raw_settings_debug_redacts_passwords() {
    let raw = RawSettings {
        clickhouse_password: Some("s3cret-pw".into()),
        clickhouse_user: Some("u".into()),
        ..RawSettings::default()
    };
    let debug = format!("{raw:?}");
    assert!(!debug.contains("s3cret-pw"), "{debug}");
    assert!(debug.contains("PORTCULLIS_CLICKHOUSE_USER"), "{debug}");
}

#[test]
fn bad_event_settings_name_the_setting() {
    for (pairs, name) in [
        (
            vec![("PORTCULLIS_CLICKHOUSE_URL", "tcp://x:9000")],
            "PORTCULLIS_CLICKHOUSE_URL",
        ),
        (
            vec![("PORTCULLIS_CLICKHOUSE_URL", "http://u:p@x:8123")],
            "PORTCULLIS_CLICKHOUSE_URL",
        ),
        (
            vec![
                ("PORTCULLIS_CLICKHOUSE_URL", "http://x:8123"),
                ("PORTCULLIS_CLICKHOUSE_DATABASE", "a; DROP"),
            ],
            "PORTCULLIS_CLICKHOUSE_DATABASE",
        ),
        (
            vec![("PORTCULLIS_CLICKHOUSE_USER", "u")],
            "PORTCULLIS_CLICKHOUSE_USER",
        ),
        (
            vec![("PORTCULLIS_EVENTS_QUEUE_CAPACITY", "0")],
            "PORTCULLIS_EVENTS_QUEUE_CAPACITY",
        ),
        (
            vec![("PORTCULLIS_EVENTS_FLUSH_INTERVAL_MS", "soon")],
            "PORTCULLIS_EVENTS_FLUSH_INTERVAL_MS",
        ),
        (
            vec![
                ("PORTCULLIS_CLICKHOUSE_URL", "http://x:8123"),
                ("PORTCULLIS_EVENTS_TTL_DAYS", "-3"),
            ],
            "PORTCULLIS_EVENTS_TTL_DAYS",
        ),
    ] {
        let err = Config::load(None, &env(&pairs)).unwrap_err();
        assert_eq!(err.setting, name, "{pairs:?}");
    }
}

#[test]
fn alert_settings_select_the_queue() {
    let c = Config::load(None, &env(&[])).unwrap();
    assert_eq!(c.alerts, AlertConfig::default(), "off by default");
    let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/alerts.fifo";
    let c = Config::load(
        None,
        &env(&[
            ("PORTCULLIS_ALERTS_SQS_QUEUE_URL", url),
            ("PORTCULLIS_ALERTS_AUDIENCE", "soc"),
        ]),
    )
    .unwrap();
    assert_eq!(c.alerts.sqs_queue_url.as_deref(), Some(url));
    assert_eq!(c.alerts.audience.as_deref(), Some("soc"));
    for (pairs, name) in [
        (
            vec![("PORTCULLIS_ALERTS_SQS_QUEUE_URL", "alerts")],
            "PORTCULLIS_ALERTS_SQS_QUEUE_URL",
        ),
        (
            vec![("PORTCULLIS_ALERTS_SQS_QUEUE_URL", "ftp://x/1/q")],
            "PORTCULLIS_ALERTS_SQS_QUEUE_URL",
        ),
        (
            vec![("PORTCULLIS_ALERTS_AUDIENCE", "soc")],
            "PORTCULLIS_ALERTS_AUDIENCE",
        ),
    ] {
        let err = Config::load(None, &env(&pairs)).unwrap_err();
        assert_eq!(err.setting, name, "{pairs:?}");
    }
}

#[test]
fn issuer_trailing_slash_is_dropped() {
    let c = Config::load(None, &env(&[("PORTCULLIS_ISSUER", "https://id.example/")])).unwrap();
    assert_eq!(c.issuer, "https://id.example");
    assert!(c.issuer_is_https());
}

#[test]
fn keys_default_to_local_with_a_day_of_prepublication() {
    let c = Config::from_raw(RawSettings::default()).unwrap();
    assert_eq!(c.keys, KeyConfig::Local);
    assert_eq!(c.key_rotation.prepublish, Duration::from_hours(24));
    assert_eq!(c.key_rotation.refresh_interval, Duration::from_secs(30));
    assert_eq!(c.key_rotation.max_token_ttl, Duration::from_hours(24));
    assert_eq!(c.key_rotation.jwks_max_age(), Duration::from_mins(5));
}

#[test]
fn kms_modes_take_their_key_ids() {
    let c = Config::load(
        None,
        &env(&[
            ("PORTCULLIS_KMS_MODE", "direct"),
            ("PORTCULLIS_KMS_KEY_ID_ES256", "alias/es"),
            ("PORTCULLIS_KMS_KEY_ID_RS256", "alias/rs"),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.keys,
        KeyConfig::KmsDirect {
            es256_key_id: "alias/es".into(),
            rs256_key_id: "alias/rs".into(),
            wrapping_key_id: None,
        }
    );
    // Direct mode takes a wrapping key too: it seals the TOTP secrets.
    let c = Config::load(
        None,
        &env(&[
            ("PORTCULLIS_KMS_MODE", "direct"),
            ("PORTCULLIS_KMS_KEY_ID_ES256", "alias/es"),
            ("PORTCULLIS_KMS_KEY_ID_RS256", "alias/rs"),
            ("PORTCULLIS_KMS_WRAPPING_KEY_ID", "alias/wrap"),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.keys,
        KeyConfig::KmsDirect {
            es256_key_id: "alias/es".into(),
            rs256_key_id: "alias/rs".into(),
            wrapping_key_id: Some("alias/wrap".into()),
        }
    );
    let c = Config::load(
        None,
        &env(&[
            ("PORTCULLIS_KMS_MODE", "envelope"),
            ("PORTCULLIS_KMS_WRAPPING_KEY_ID", "alias/wrap"),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.keys,
        KeyConfig::KmsEnvelope {
            wrapping_key_id: "alias/wrap".into()
        }
    );
}

#[test]
fn bad_key_settings_name_the_setting() {
    for (pairs, name) in [
        (vec![("PORTCULLIS_KMS_MODE", "hsm")], "PORTCULLIS_KMS_MODE"),
        (
            vec![
                ("PORTCULLIS_KMS_MODE", "direct"),
                ("PORTCULLIS_KMS_KEY_ID_ES256", "k"),
            ],
            "PORTCULLIS_KMS_KEY_ID_RS256",
        ),
        (
            vec![("PORTCULLIS_KMS_MODE", "envelope")],
            "PORTCULLIS_KMS_WRAPPING_KEY_ID",
        ),
        (
            vec![("PORTCULLIS_KMS_WRAPPING_KEY_ID", "k")],
            "PORTCULLIS_KMS_WRAPPING_KEY_ID",
        ),
        (
            vec![
                ("PORTCULLIS_KMS_MODE", "envelope"),
                ("PORTCULLIS_KMS_WRAPPING_KEY_ID", "k"),
                ("PORTCULLIS_KMS_KEY_ID_ES256", "k"),
            ],
            "PORTCULLIS_KMS_KEY_ID_ES256",
        ),
        (
            vec![
                ("PORTCULLIS_KEY_REFRESH_SECS", "60"),
                ("PORTCULLIS_KEY_ROTATION_PREPUBLISH_SECS", "30"),
            ],
            "PORTCULLIS_KEY_ROTATION_PREPUBLISH_SECS",
        ),
        (
            vec![("PORTCULLIS_KEY_REFRESH_SECS", "0")],
            "PORTCULLIS_KEY_REFRESH_SECS",
        ),
        (
            vec![("PORTCULLIS_MAX_TOKEN_TTL_SECS", "ten")],
            "PORTCULLIS_MAX_TOKEN_TTL_SECS",
        ),
    ] {
        let err = Config::load(None, &env(&pairs)).unwrap_err();
        assert_eq!(err.setting, name, "{pairs:?}");
        assert!(!err.to_string().contains('\n'));
    }
}

#[test]
fn hardening_defaults_limit_gently_and_trust_no_proxy() {
    let c = Config::from_raw(RawSettings::default()).unwrap();
    assert_eq!(c.rate_limits, RateLimits::DEFAULT);
    assert!(c.trusted_proxies.is_empty());
    assert_eq!(c.cors_allowed_origins, CorsOrigins::None);
}

#[test]
fn hardening_settings_are_read_from_the_environment() {
    let c = Config::load(
        None,
        &env(&[
            ("PORTCULLIS_RATE_LIMIT_TOKEN_PER_MIN", "0"),
            ("PORTCULLIS_RATE_LIMIT_AUTHORIZE_PER_MIN", "120"),
            ("PORTCULLIS_RATE_LIMIT_LOGIN_PER_MIN", "10"),
            ("PORTCULLIS_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,::1"),
            (
                "PORTCULLIS_CORS_ALLOWED_ORIGINS",
                "https://App.Example:443/, http://localhost:3000",
            ),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.rate_limits,
        RateLimits {
            token_per_min: 0,
            authorize_per_min: 120,
            login_per_min: 10
        }
    );
    for ip in ["10.1.2.3", "192.168.1.7", "::1", "::ffff:10.9.9.9"] {
        assert!(c.trusted_proxies.contains(ip.parse().unwrap()), "{ip}");
    }
    for ip in ["11.0.0.1", "192.168.1.8", "::2"] {
        assert!(!c.trusted_proxies.contains(ip.parse().unwrap()), "{ip}");
    }
    assert_eq!(
        c.cors_allowed_origins,
        CorsOrigins::List(vec![
            "https://app.example".into(),
            "http://localhost:3000".into()
        ])
    );
    let any = Config::load(None, &env(&[("PORTCULLIS_CORS_ALLOWED_ORIGINS", "*")])).unwrap();
    assert_eq!(any.cors_allowed_origins, CorsOrigins::Any);
}

#[test]
fn bad_hardening_settings_name_the_setting() {
    for (name, value) in [
        ("PORTCULLIS_RATE_LIMIT_TOKEN_PER_MIN", "-5"),
        ("PORTCULLIS_RATE_LIMIT_LOGIN_PER_MIN", "lots"),
        ("PORTCULLIS_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("PORTCULLIS_TRUSTED_PROXIES", "proxy.internal"),
        (
            "PORTCULLIS_CORS_ALLOWED_ORIGINS",
            "https://app.example/path",
        ),
        ("PORTCULLIS_CORS_ALLOWED_ORIGINS", "app.example"),
        ("PORTCULLIS_CORS_ALLOWED_ORIGINS", "ftp://app.example"),
        ("PORTCULLIS_CORS_ALLOWED_ORIGINS", "*,https://app.example"),
    ] {
        let err = Config::load(None, &env(&[(name, value)])).unwrap_err();
        assert_eq!(err.setting, name, "{value}");
        assert!(!err.to_string().contains('\n'));
    }
}

#[test]
fn jwks_max_age_leaves_time_to_see_the_next_key() {
    let r = KeyRotation {
        prepublish: Duration::from_mins(2),
        refresh_interval: Duration::from_secs(30),
        max_token_ttl: Duration::from_mins(10),
    };
    assert_eq!(r.jwks_max_age(), Duration::from_secs(45));
}

#[test]
fn the_table_names_each_setting_once_and_consistently() {
    let mut seen = std::collections::HashSet::new();
    for s in SETTINGS {
        assert_eq!(
            s.env,
            format!("PORTCULLIS_{}", s.key.to_ascii_uppercase()),
            "{s:?}"
        );
        assert!(seen.insert(s.env), "{} is in the table twice", s.env);
        assert!(!s.doc.contains('|') && !s.doc.contains('\n'), "{s:?}");
        assert!(
            !NOT_SETTINGS
                .iter()
                .any(|n| s.env.starts_with(n.trim_end_matches('*'))),
            "{} is excluded by NOT_SETTINGS",
            s.env
        );
    }
    // Every default value, set explicitly, passes its setting's parser and
    // gives what leaving it unset gives.
    let mut raw = RawSettings {
        clickhouse_url: Some("http://ch.internal:8123".into()),
        ..RawSettings::default()
    };
    for s in SETTINGS {
        if let DefaultValue::Value(v) = s.default {
            *(s.field_mut)(&mut raw) = Some(v.to_owned());
        }
    }
    let explicit = Config::from_raw(raw).unwrap();
    let implicit = Config::from_raw(RawSettings {
        clickhouse_url: Some("http://ch.internal:8123".into()),
        ..RawSettings::default()
    })
    .unwrap();
    assert_eq!(format!("{explicit:?}"), format!("{implicit:?}"));
}

#[test]
fn every_setting_is_read_from_the_environment_and_the_file() {
    // A value no setting accepts: each setting must be read (and refused),
    // which proves the environment and the file both reach it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    for s in SETTINGS {
        let mut raw = RawSettings::default();
        raw.merge_env(&env(&[(s.env, "\u{1}")])).unwrap();
        assert_eq!((s.field)(&raw).as_deref(), Some("\u{1}"), "{}", s.env);
        std::fs::write(&file, format!("{} = \"x\"\n", s.key)).unwrap();
        let raw = RawSettings::from_toml(&std::fs::read_to_string(&file).unwrap(), &file).unwrap();
        assert_eq!((s.field)(&raw).as_deref(), Some("x"), "{}", s.key);
    }
}

/// The rows of README.md's configuration table (from its header line to
/// the first line that is not a table row).
fn readme_table(readme: &str) -> Vec<&str> {
    readme
        .lines()
        .skip_while(|l| !l.starts_with("| variable | default | meaning |"))
        .take_while(|l| l.starts_with('|'))
        .collect()
}

#[test]
fn readme_configuration_table_is_the_code_table() {
    let readme = include_str!("../../README.md");
    let expected = markdown_table();
    let expected: Vec<&str> = expected.lines().collect();
    for name in NOT_SETTINGS {
        assert!(
            readme.contains(&format!("`{name}`")),
            "README.md's configuration section should name `{name}` (NOT_SETTINGS)"
        );
    }
    let actual = readme_table(readme);
    if actual != expected {
        let missing: Vec<&&str> = expected.iter().filter(|l| !actual.contains(l)).collect();
        let extra: Vec<&&str> = actual.iter().filter(|l| !expected.contains(l)).collect();
        panic!(
            "README.md's configuration table differs from src/config/settings.rs.\n\
             rows the code has and README lacks (or words differently):\n{}\n\
             rows README has and the code lacks:\n{}\n\
             (order matters too) the whole table, to paste into README.md:\n{}",
            missing
                .iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
            extra
                .iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
            expected.join("\n")
        );
    }
}

#[test]
fn the_master_key_is_under_the_data_dir_unless_given() {
    let c = Config::from_raw(RawSettings::default()).unwrap();
    assert_eq!(c.master_key, MasterKeySource::DataDir);
    let c = Config::load(
        None,
        &env(&[("PORTCULLIS_MASTER_KEY_FILE", "/run/secrets/master.key")]),
    )
    .unwrap();
    assert_eq!(
        c.master_key,
        MasterKeySource::File(PathBuf::from("/run/secrets/master.key"))
    );
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let c = Config::load(None, &env(&[("PORTCULLIS_MASTER_KEY", key)])).unwrap();
    assert!(matches!(&c.master_key, MasterKeySource::Inline(k) if k.as_str() == key));
    // Never printed.
    assert!(!format!("{c:?}").contains(key), "{c:?}");
    let file = "master_key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n";
    let raw = RawSettings::from_toml(file, Path::new("p.toml")).unwrap();
    assert!(matches!(
        Config::from_raw(raw).unwrap().master_key,
        MasterKeySource::Inline(_)
    ));
}

#[test]
fn kms_direct_without_a_wrapping_key_takes_a_master_key_for_totp_secrets() {
    let c = Config::load(
        None,
        &env(&[
            ("PORTCULLIS_KMS_MODE", "direct"),
            ("PORTCULLIS_KMS_KEY_ID_ES256", "k"),
            ("PORTCULLIS_KMS_KEY_ID_RS256", "k"),
            ("PORTCULLIS_MASTER_KEY_FILE", "/run/secrets/master.key"),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.master_key,
        MasterKeySource::File("/run/secrets/master.key".into())
    );
}

#[test]
fn bad_master_key_settings_name_the_setting() {
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    for (pairs, name) in [
        // Both: a configuration error, whichever would win.
        (
            vec![
                ("PORTCULLIS_MASTER_KEY_FILE", "/run/secrets/master.key"),
                ("PORTCULLIS_MASTER_KEY", key),
            ],
            "PORTCULLIS_MASTER_KEY",
        ),
        // Set but empty (an unfilled secret) is not "unset".
        (
            vec![("PORTCULLIS_MASTER_KEY", " ")],
            "PORTCULLIS_MASTER_KEY",
        ),
        (
            vec![("PORTCULLIS_MASTER_KEY_FILE", "")],
            "PORTCULLIS_MASTER_KEY_FILE",
        ),
        // The KMS modes have no master key.
        (
            vec![
                ("PORTCULLIS_KMS_MODE", "envelope"),
                ("PORTCULLIS_KMS_WRAPPING_KEY_ID", "k"),
                ("PORTCULLIS_MASTER_KEY", key),
            ],
            "PORTCULLIS_MASTER_KEY",
        ),
        (
            vec![
                ("PORTCULLIS_KMS_MODE", "direct"),
                ("PORTCULLIS_KMS_KEY_ID_ES256", "k"),
                ("PORTCULLIS_KMS_KEY_ID_RS256", "k"),
                ("PORTCULLIS_KMS_WRAPPING_KEY_ID", "w"),
                ("PORTCULLIS_MASTER_KEY_FILE", "/k"),
            ],
            "PORTCULLIS_MASTER_KEY_FILE",
        ),
    ] {
        let err = Config::load(None, &env(&pairs)).unwrap_err();
        assert_eq!(err.setting, name, "{pairs:?}");
        let line = err.to_string();
        assert!(!line.contains('\n') && !line.contains(key), "{line}");
    }
}

#[test]
fn the_access_log_is_on_unless_turned_off() {
    assert!(Config::from_raw(RawSettings::default()).unwrap().access_log);
    let c = Config::load(None, &env(&[("PORTCULLIS_ACCESS_LOG", "false")])).unwrap();
    assert!(!c.access_log);
    let err = Config::load(None, &env(&[("PORTCULLIS_ACCESS_LOG", "sometimes")])).unwrap_err();
    assert_eq!(err.setting, "PORTCULLIS_ACCESS_LOG");
}
