//! The CLI verbs of the users/sessions/grants slice of issue 15: the same
//! `src/app/` services as the admin API, run as a process against both back
//! ends (`user list --query`, `user show`, `user update`, `user delete`,
//! `session list|end|end-all`, `grant list|revoke`, `consent revoke`).

use chrono::{Duration, Utc};
use portcullis::domain::{
    ClientId, Consent, Grant, ScopeSet, Session, TokenHash, UserId, Username,
};
use portcullis::ports::prelude::*;
use serde_json::Value;

use crate::both_backends;
use crate::cli::{failed, ok, portcullis};
use crate::helpers::TestDb;

fn json(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

async fn seed_session_and_grant(
    store: &dyn Store,
    user: &UserId,
    client: &ClientId,
    sid: &str,
    gid: &str,
    scope: &str,
) {
    let now = Utc::now();
    store
        .sessions()
        .insert_session(&Session {
            id: sid.into(),
            id_hash: TokenHash::of(&format!("cookie-{sid}")),
            user_id: Some(user.clone()),
            auth_time: Some(now),
            amr: Some("[\"pwd\"]".into()),
            created_at: now,
            last_seen_at: now,
            expires_at: now + Duration::hours(8),
            ended_at: None,
            ip: None,
            user_agent: None,
            acr: None,
            second_factor_due: false,
        })
        .await
        .unwrap();
    store
        .grants()
        .insert_grant(&Grant {
            id: gid.into(),
            client_id: client.clone(),
            user_id: user.clone(),
            scope: ScopeSet::parse(scope).unwrap(),
            session_id: Some(sid.into()),
            created_at: now,
            revoked_at: None,
        })
        .await
        .unwrap();
    store
        .consents()
        .upsert_consent(&Consent {
            user_id: user.clone(),
            client_id: client.clone(),
            scopes: ScopeSet::parse(scope).unwrap(),
            created_at: now,
            updated_at: now,
            revoked_at: None,
        })
        .await
        .unwrap();
}

both_backends!(user_session_grant_and_consent_verbs, |backend| async move {
    let db = TestDb::new(backend).await;
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
    let created = json(&ok(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "RP",
            "--redirect-uri",
            "https://rp.example/cb",
            "--json",
        ],
        None,
    )));
    let client = ClientId::parse(created["client_id"].as_str().unwrap()).unwrap();
    let store = db.store().await;
    let alice = store
        .users()
        .user_by_username(&Username::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    let s1 = "0190e000-0000-4000-8000-000000000001";
    let s2 = "0190e000-0000-4000-8000-000000000002";
    let g1 = "0190e000-0000-4000-8000-0000000000a1";
    let g2 = "0190e000-0000-4000-8000-0000000000a2";
    seed_session_and_grant(&store, &alice, &client, s1, g1, "openid").await;
    seed_session_and_grant(&store, &alice, &client, s2, g2, "openid offline_access").await;

    // user list --query, show, update
    let listed = json(&ok(&portcullis(
        &db,
        &["user", "list", "--query", "EXAMPLE.ORG", "--json"],
        None,
    )));
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["username"], "bob");
    let shown = json(&ok(&portcullis(
        &db,
        &["user", "show", "alice", "--json"],
        None,
    )));
    assert_eq!(shown["user_id"], alice.as_str());
    assert!(!shown.to_string().contains("argon2"));
    let err = failed(&portcullis(
        &db,
        &["user", "update", "alice", "--email", "not-an-address"],
        None,
    ));
    assert!(err.contains("e-mail"), "{err}");
    ok(&portcullis(
        &db,
        &[
            "user",
            "update",
            "alice",
            "--email",
            "alice@new.example",
            "--clear-name",
        ],
        None,
    ));
    let shown = json(&ok(&portcullis(
        &db,
        &["user", "show", "alice", "--json"],
        None,
    )));
    assert_eq!(shown["email"], "alice@new.example");
    failed(&portcullis(&db, &["user", "show", "nobody"], None));

    // sessions
    let sessions = json(&ok(&portcullis(
        &db,
        &["session", "list", "alice", "--json"],
        None,
    )));
    assert_eq!(sessions.as_array().unwrap().len(), 2, "{sessions}");
    ok(&portcullis(&db, &["session", "end", s1], None));
    // As at logout: the grant made in the session (online) is revoked.
    let g = store.grants().get_grant(g1).await.unwrap().unwrap();
    assert!(g.revoked_at.is_some());
    failed(&portcullis(&db, &["session", "end", s1], None));
    let out = ok(&portcullis(&db, &["session", "end-all", "alice"], None));
    assert!(out.contains('1'), "{out}");
    let g = store.grants().get_grant(g2).await.unwrap().unwrap();
    assert!(
        g.revoked_at.is_none(),
        "offline_access outlives the session"
    );

    // grants
    let grants = json(&ok(&portcullis(
        &db,
        &["grant", "list", "--client", client.as_str(), "--json"],
        None,
    )));
    assert_eq!(grants.as_array().unwrap().len(), 1, "{grants}");
    assert_eq!(grants[0]["grant_id"], g2);
    let by_user = json(&ok(&portcullis(
        &db,
        &["grant", "list", "--user", "alice", "--json"],
        None,
    )));
    assert_eq!(by_user, grants);
    failed(&portcullis(&db, &["grant", "list"], None));
    ok(&portcullis(&db, &["grant", "revoke", g2], None));
    let g = store.grants().get_grant(g2).await.unwrap().unwrap();
    assert!(g.revoked_at.is_some());
    failed(&portcullis(&db, &["grant", "revoke", "nope"], None));

    // consent
    assert!(
        store
            .consents()
            .get_consent(&alice, &client)
            .await
            .unwrap()
            .is_some()
    );
    ok(&portcullis(
        &db,
        &["consent", "revoke", "alice", client.as_str()],
        None,
    ));
    assert!(
        store
            .consents()
            .get_consent(&alice, &client)
            .await
            .unwrap()
            .is_none()
    );
    failed(&portcullis(
        &db,
        &["consent", "revoke", "alice", client.as_str()],
        None,
    ));

    // delete
    ok(&portcullis(&db, &["user", "delete", "alice"], None));
    assert!(store.users().user_by_id(&alice).await.unwrap().is_none());
    failed(&portcullis(&db, &["user", "delete", "alice"], None));
    let listed = json(&ok(&portcullis(&db, &["user", "list", "--json"], None)));
    assert_eq!(listed.as_array().unwrap().len(), 1);
});
