//! Admin API tests: a user's second factors (issue 17, operator reset).
//! `GET /admin/v1/users/{user_id}/factors` lists them without any secret;
//! `DELETE` removes every factor and recovery code (204) and records
//! `admin_change` (`user_factors_reset`) and `mfa_removed` (`factor` `all`,
//! `via` `operator`). The factors are written through the repository, as
//! the account page would leave them.

use chrono::{Duration, Utc};
use portcullis::domain::event::{DetailKey, EventKind};
use portcullis::domain::mfa::{Factor, FactorKind};
use portcullis::domain::{TokenHash, UserId};
use portcullis::ports::Store;
use portcullis::ports::prelude::*;
use reqwest::{Method, StatusCode};

use super::users::{actions, alice_id};
use super::{admin_token, call, read_token};
use crate::both_backends;
use crate::flow;
use crate::helpers::spawn_app_recording;

/// Secret-looking values the factors hold; no answer may carry one.
pub const TOTP_SEALED: &str = "sealed-totp-secret-never-shown";
/// See [`TOTP_SEALED`].
pub const CREDENTIAL: &str = "{\"cred\":\"stored-credential-never-shown\"}";

/// Gives `user` a confirmed TOTP factor, an unconfirmed one (an enrolment
/// in progress, which does not count), two passkeys and three recovery
/// codes; returns the ids of the factors that count (TOTP, then passkeys).
pub async fn enrol(store: &dyn Store, user: &UserId) -> Vec<String> {
    let now = Utc::now();
    let factor = |i: i64, id: &str, kind: FactorKind, name: &str, confirmed: bool| Factor {
        id: id.to_owned(),
        user_id: user.clone(),
        kind,
        name: name.to_owned(),
        secret_sealed: (kind == FactorKind::Totp).then(|| TOTP_SEALED.to_owned()),
        credential_id: (kind == FactorKind::Passkey).then(|| format!("cred-{id}")),
        credential: (kind == FactorKind::Passkey).then(|| CREDENTIAL.to_owned()),
        last_step: None,
        confirmed_at: confirmed.then_some(now),
        // Oldest first, in the order listed below.
        created_at: now - Duration::minutes(10 - i),
        last_used_at: None,
    };
    // The random end of the user id (UUID v7 ids share their time prefix).
    let suffix = &user.as_str()[user.as_str().len() - 8..];
    let ids = [
        format!("{suffix}-0000-4000-8000-000000000001"),
        format!("{suffix}-0000-4000-8000-000000000002"),
        format!("{suffix}-0000-4000-8000-000000000003"),
        format!("{suffix}-0000-4000-8000-000000000004"),
    ];
    for f in [
        factor(0, &ids[0], FactorKind::Totp, "Authenticator app", true),
        factor(1, &ids[1], FactorKind::Passkey, "Laptop", true),
        factor(2, &ids[2], FactorKind::Passkey, "Phone", true),
        factor(3, &ids[3], FactorKind::Totp, "Pending app", false),
    ] {
        store.factors().insert_factor(&f).await.unwrap();
    }
    // Code hashes are unique across users: each user's codes differ.
    let codes: Vec<TokenHash> = ["aaaabbbbcccc", "ddddeeeeffff", "gggghhhhiiii"]
        .iter()
        .map(|c| TokenHash::of(&format!("{suffix}{c}")))
        .collect();
    store
        .factors()
        .replace_recovery_codes(user, &codes, now)
        .await
        .unwrap();
    ids[..3].to_vec()
}

both_backends!(
    factors_are_listed_and_reset_by_an_operator,
    |backend| async move {
        let (app, sink) = spawn_app_recording(backend).await;
        flow::user(&app, "alice").await;
        flow::user(&app, "bob").await;
        let alice = UserId::new(alice_id(&app).await);
        let bob = app
            .state
            .store
            .users()
            .user_by_username(&portcullis::domain::Username::parse("bob").unwrap())
            .await
            .unwrap()
            .unwrap()
            .id;
        let store = app.state.store.as_ref();
        let ids = enrol(store, &alice).await;
        enrol(store, &bob).await;
        let token = admin_token(&app).await;
        let reader = read_token(&app).await;
        let path = format!("/admin/v1/users/{}/factors", alice.as_str());

        // A reader lists them: kind, name, times; never a secret.
        let (status, body) = call(&app, Method::GET, &path, &reader, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["user_id"], alice.as_str());
        assert_eq!(body["recovery_codes_left"], 3);
        let factors = body["factors"].as_array().unwrap();
        let listed: Vec<(&str, &str, &str)> = factors
            .iter()
            .map(|f| {
                (
                    f["id"].as_str().unwrap(),
                    f["kind"].as_str().unwrap(),
                    f["name"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            vec![
                (ids[0].as_str(), "totp", "Authenticator app"),
                (ids[1].as_str(), "passkey", "Laptop"),
                (ids[2].as_str(), "passkey", "Phone"),
            ],
            "the confirmed factors only: {body}"
        );
        for f in factors {
            assert!(f["created_at"].is_string(), "{f}");
            assert!(f["last_used_at"].is_null(), "{f}");
            let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                ["created_at", "id", "kind", "last_used_at", "name"],
                "{f}"
            );
        }
        let text = body.to_string();
        assert!(!text.contains("never-shown"), "{text}");
        assert!(!text.contains("cred-"), "{text}");

        // A reader cannot reset.
        let (status, _) = call(&app, Method::DELETE, &path, &reader, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(store.factors().list_factors(&alice).await.unwrap().len(), 4);

        // A writer resets: every factor and recovery code of alice goes.
        let (status, body) = call(&app, Method::DELETE, &path, &token, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert!(
            store
                .factors()
                .list_factors(&alice)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.factors().recovery_codes_left(&alice).await.unwrap(),
            0
        );
        let (status, body) = call(&app, Method::GET, &path, &reader, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["factors"], serde_json::json!([]));
        assert_eq!(body["recovery_codes_left"], 0);
        // Bob keeps his.
        assert_eq!(store.factors().list_factors(&bob).await.unwrap().len(), 4);
        assert_eq!(store.factors().recovery_codes_left(&bob).await.unwrap(), 3);

        // The events: who did it, and what went.
        assert_eq!(
            actions(&sink),
            vec![("user_factors_reset".to_owned(), alice.as_str().to_owned())]
        );
        let removed = sink.of_kind(EventKind::MfaRemoved);
        assert_eq!(removed.len(), 1, "{removed:?}");
        let e = &removed[0];
        assert_eq!(e.subject_id(), Some(alice.as_str()));
        assert_eq!(e.detail_value(DetailKey::Factor), Some("all"));
        assert_eq!(e.detail_value(DetailKey::Via), Some("operator"));
        assert_eq!(e.detail_value(DetailKey::RevokedCount), Some("4"));

        // A second reset finds nothing to remove: still 204, no mfa_removed.
        let (status, _) = call(&app, Method::DELETE, &path, &token, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(sink.of_kind(EventKind::MfaRemoved).len(), 1);
    }
);

both_backends!(
    factors_of_an_unknown_user_are_not_found,
    |backend| async move {
        let (app, sink) = spawn_app_recording(backend).await;
        let token = admin_token(&app).await;
        for path in [
            "/admin/v1/users/0190e000-0000-7000-8000-000000000000/factors",
            "/admin/v1/users/%FF/factors",
        ] {
            for method in [Method::GET, Method::DELETE] {
                let (status, body) = call(&app, method.clone(), path, &token, None).await;
                assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
                assert_eq!(body["error"], "not_found", "{method} {path}");
            }
        }
        // Without a token: the admin layer's 401.
        let resp = app
            .http
            .get(app.url("/admin/v1/users/0190e000-0000-7000-8000-000000000000/factors"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(actions(&sink).is_empty());
        assert!(sink.of_kind(EventKind::MfaRemoved).is_empty());
    }
);

/// Every event the CLI's file sink wrote under `data_dir`.
fn file_events(data_dir: &std::path::Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(data_dir.join("events")) else {
        return out;
    };
    for entry in entries {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        out.extend(text.lines().map(|l| serde_json::from_str(l).unwrap()));
    }
    out
}

both_backends!(cli_lists_and_resets_a_users_factors, |backend| async move {
    use crate::cli::{failed, ok, portcullis};
    let db = crate::helpers::TestDb::new(backend).await;
    for (u, e) in [("alice", "alice@example.com"), ("bob", "bob@example.org")] {
        ok(&portcullis(
            &db,
            &[
                "user",
                "create",
                "--username",
                u,
                "--email",
                e,
                "--password-stdin",
            ],
            Some("correct horse battery staple\n"),
        ));
    }
    let store = db.store().await;
    let id_of = async |name: &str| {
        store
            .users()
            .user_by_username(&portcullis::domain::Username::parse(name).unwrap())
            .await
            .unwrap()
            .unwrap()
            .id
    };
    let alice = id_of("alice").await;
    let bob = id_of("bob").await;
    let ids = enrol(&store, &alice).await;
    enrol(&store, &bob).await;

    // Listed by username or by id: kind, name, times, never a secret.
    let listed: serde_json::Value = serde_json::from_str(
        ok(&portcullis(
            &db,
            &["user", "factors", "alice", "--json"],
            None,
        ))
        .trim(),
    )
    .unwrap();
    assert_eq!(listed["user_id"], alice.as_str());
    assert_eq!(listed["recovery_codes_left"], 3);
    let got: Vec<&str> = listed["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids, "{listed}");
    let by_id: serde_json::Value = serde_json::from_str(
        ok(&portcullis(
            &db,
            &["user", "factors", alice.as_str(), "--json"],
            None,
        ))
        .trim(),
    )
    .unwrap();
    assert_eq!(by_id, listed);
    let table = ok(&portcullis(&db, &["user", "factors", "alice"], None));
    for needle in ["totp", "Authenticator app", "passkey", "Laptop", "Phone"] {
        assert!(table.contains(needle), "{needle}: {table}");
    }
    assert!(table.contains("recovery codes left: 3"), "{table}");
    assert!(!table.contains("Pending app"), "{table}");
    assert!(!table.contains("never-shown"), "{table}");

    // Unknown users fail, and nothing is recorded.
    failed(&portcullis(&db, &["user", "factors", "nobody"], None));
    failed(&portcullis(&db, &["user", "reset-mfa", "nobody"], None));
    assert!(file_events(&db.dir.path().join("data")).is_empty());

    // The reset: every factor and recovery code of alice goes.
    let out = portcullis(&db, &["user", "reset-mfa", "alice"], None);
    ok(&out);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("4 factors"), "{said}");
    assert!(
        store
            .factors()
            .list_factors(&alice)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.factors().recovery_codes_left(&alice).await.unwrap(),
        0
    );
    assert_eq!(store.factors().list_factors(&bob).await.unwrap().len(), 4);

    // Recorded: mfa_removed (all, by the operator) and admin_change by the CLI.
    let events = file_events(&db.dir.path().join("data"));
    let removed: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "mfa_removed")
        .collect();
    assert_eq!(removed.len(), 1, "{events:?}");
    assert_eq!(removed[0]["subject"], alice.as_str());
    assert_eq!(removed[0]["detail"]["factor"], "all");
    assert_eq!(removed[0]["detail"]["via"], "operator");
    assert_eq!(removed[0]["detail"]["revoked_count"], "4");
    let changes: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "admin_change")
        .collect();
    assert_eq!(changes.len(), 1, "{events:?}");
    assert_eq!(changes[0]["detail"]["action"], "user_factors_reset");
    assert_eq!(changes[0]["detail"]["target"], alice.as_str());
    assert_eq!(changes[0]["detail"]["initiator"], "cli");
});
