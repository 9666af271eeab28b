//! Every repository on SQLite and PostgreSQL (docs/ARCHITECTURE.md, "Tests").

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use portcullis::domain::{
    AuthorizationCode, Client, ClientId, Consent, Grant, GrantType, KeyState, RedirectUri,
    RefreshToken, RevokedAccessToken, ScopeSet, Session, SigningKeyRecord, TokenEndpointAuthMethod,
    TokenHash, User, UserId, Username,
};
use portcullis::ports::StoreError;
use portcullis::ports::prelude::*;

use crate::both_backends;
use crate::helpers::TestDb;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn client(id: &str) -> Client {
    Client {
        id: ClientId::parse(id).unwrap(),
        name: "Test app".into(),
        secret_hash: Some(TokenHash::of("s3cret")),
        secret_rotated_at: Some(t0()),
        previous_secret_hash: Some(TokenHash::of("previous")),
        previous_secret_expires_at: Some(t0() + chrono::Duration::hours(1)),
        auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        redirect_uris: vec![RedirectUri::parse("https://app.example/cb", false).unwrap()],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: ScopeSet::parse("openid profile").unwrap(),
        first_party: false,
        require_pkce: true,
        require_mfa: false,
        resource_audience: None,
        id_token_signed_response_alg: None,
        jwks: None,
        jwks_uri: None,
        access_token_ttl_secs: Some(600),
        id_token_ttl_secs: None,
        refresh_token_ttl_secs: None,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        allowed_resources: Vec::new(),
        require_pushed_authorization_requests: false,
        dpop_bound_access_tokens: false,
        profile: None,
        request_uris: vec!["https://app.example/requests/1.jwt#hash".into()],
        created_at: t0(),
        updated_at: t0(),
    }
}

fn user(name: &str) -> User {
    User {
        id: UserId::new(uuid::Uuid::now_v7().to_string()),
        username: Username::parse(name).unwrap(),
        email: format!("{name}@example.com"),
        email_verified: false,
        name: Some("Alice A.".into()),
        password_hash: "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA".into(),
        disabled: false,
        created_at: t0(),
        updated_at: t0(),
    }
}

fn code(hash: &TokenHash, u: &User) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: hash.clone(),
        grant_id: "g1".into(),
        client_id: ClientId::parse("c1").unwrap(),
        user_id: u.id.clone(),
        redirect_uri: "https://app.example/cb".into(),
        scope: ScopeSet::parse("openid").unwrap(),
        nonce: Some("n-0S6_WzA2Mj".into()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        code_challenge_method: Some("S256".into()),
        session_id: Some("s1".into()),
        auth_time: t0(),
        amr: Some("[\"pwd\"]".into()),
        claims: None,
        created_at: t0(),
        expires_at: t0() + Duration::seconds(60),
        consumed_at: None,
        acr: None,
        resources: Vec::new(),
        dpop_jkt: None,
    }
}

fn refresh(hash: &TokenHash, family: &str, u: &User) -> RefreshToken {
    RefreshToken {
        token_hash: hash.clone(),
        family_id: family.into(),
        client_id: ClientId::parse("c1").unwrap(),
        user_id: u.id.clone(),
        scope: ScopeSet::parse("openid offline_access").unwrap(),
        session_id: None,
        auth_time: t0(),
        acr: None,
        resources: Vec::new(),
        successor: None,
        dpop_jkt: None,
        created_at: t0(),
        expires_at: t0() + Duration::days(30),
        rotated_at: None,
        revoked_at: None,
    }
}

both_backends!(
    clients_round_trip_and_secret_rotation,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let c = client("c1");
        store.clients().insert_client(&c).await.unwrap();
        assert_eq!(
            store.clients().get_client(&c.id).await.unwrap(),
            Some(c.clone())
        );
        assert!(matches!(
            store.clients().insert_client(&c).await,
            Err(StoreError::Conflict(_))
        ));
        // A rotation with an overlap: the replaced secret becomes the
        // previous one; the older previous one is gone.
        let until = t0() + chrono::Duration::minutes(5);
        assert!(
            store
                .clients()
                .set_client_secret(&c.id, &TokenHash::of("new"), Some(until), t0())
                .await
                .unwrap()
        );
        let got = store.clients().get_client(&c.id).await.unwrap().unwrap();
        assert!(got.secret_hash.unwrap().matches("new"));
        assert!(got.previous_secret_hash.unwrap().matches("s3cret"));
        assert_eq!(got.previous_secret_expires_at, Some(until));
        // Without: no previous secret remains.
        assert!(
            store
                .clients()
                .set_client_secret(&c.id, &TokenHash::of("newer"), None, t0())
                .await
                .unwrap()
        );
        let got = store.clients().get_client(&c.id).await.unwrap().unwrap();
        assert!(got.secret_hash.as_ref().unwrap().matches("newer"));
        assert_eq!(got.previous_secret_hash, None);
        assert_eq!(got.previous_secret_expires_at, None);
        // An update changes settings, never the secrets or the creation.
        let changed = Client {
            name: "Renamed".into(),
            secret_hash: Some(TokenHash::of("ignored")),
            created_at: t0() + chrono::Duration::days(1),
            updated_at: t0() + chrono::Duration::days(2),
            ..c.clone()
        };
        assert!(store.clients().update_client(&changed).await.unwrap());
        let got = store.clients().get_client(&c.id).await.unwrap().unwrap();
        assert_eq!(got.name, "Renamed");
        assert!(got.secret_hash.as_ref().unwrap().matches("newer"));
        assert_eq!(got.created_at, c.created_at);
        assert_eq!(got.updated_at, changed.updated_at);
        let unknown = Client {
            id: ClientId::parse("nobody").unwrap(),
            ..c.clone()
        };
        assert!(!store.clients().update_client(&unknown).await.unwrap());
        store.clients().insert_client(&client("c0")).await.unwrap();
        store.clients().insert_client(&client("c2")).await.unwrap();
        let page = |after: Option<&'static str>, limit| {
            let store = &store;
            async move {
                store
                    .clients()
                    .list_clients_page(after, limit)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|c| c.id.to_string())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(page(None, 2).await, ["c0", "c1"]);
        assert_eq!(page(Some("c0"), 2).await, ["c1", "c2"]);
        assert_eq!(page(Some("c2"), 2).await, Vec::<String>::new());
        assert!(
            store
                .clients()
                .delete_client(&ClientId::parse("c2").unwrap())
                .await
                .unwrap()
        );
        let ids: Vec<_> = store
            .clients()
            .list_clients()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id.to_string())
            .collect();
        assert_eq!(ids, ["c0", "c1"]);
        assert!(store.clients().delete_client(&c.id).await.unwrap());
        assert!(!store.clients().delete_client(&c.id).await.unwrap());
        assert_eq!(store.clients().get_client(&c.id).await.unwrap(), None);
    }
);

both_backends!(users_are_unique_by_username, |backend| async move {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let alice = user("alice");
    store.users().insert_user(&alice).await.unwrap();
    let again = user("alice");
    assert!(matches!(
        store.users().insert_user(&again).await,
        Err(StoreError::Conflict(_))
    ));
    let got = store
        .users()
        .user_by_username(&alice.username)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, alice);
    assert_eq!(
        store.users().user_by_id(&alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert!(
        store
            .users()
            .set_user_disabled(&alice.username, true, t0())
            .await
            .unwrap()
    );
    assert!(
        store
            .users()
            .user_by_id(&alice.id)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert!(
        store
            .users()
            .set_user_password(&alice.username, "$argon2id$x", t0())
            .await
            .unwrap()
    );
    let nobody = Username::parse("nobody").unwrap();
    assert!(
        !store
            .users()
            .set_user_password(&nobody, "$argon2id$x", t0())
            .await
            .unwrap()
    );
    assert_eq!(store.users().list_users().await.unwrap().len(), 1);
});

both_backends!(
    a_code_is_consumed_exactly_once_under_concurrency,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let store: Arc<dyn Store> = Arc::new(db.store().await);
        let u = user("bob");
        let hash = TokenHash::of("the-code");
        store.codes().insert_code(&code(&hash, &u)).await.unwrap();
        assert_eq!(
            store
                .codes()
                .get_code(&hash)
                .await
                .unwrap()
                .unwrap()
                .nonce
                .as_deref(),
            Some("n-0S6_WzA2Mj")
        );
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            let hash = hash.clone();
            tasks.push(tokio::spawn(async move {
                store.codes().consume_code(&hash, t0()).await.unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            if t.await.unwrap() {
                wins += 1;
            }
        }
        assert_eq!(wins, 1, "exactly one redemption may win");
        assert!(
            store
                .codes()
                .get_code(&hash)
                .await
                .unwrap()
                .unwrap()
                .consumed_at
                .is_some()
        );
        assert_eq!(
            store
                .codes()
                .purge_expired_codes(t0() + Duration::seconds(61))
                .await
                .unwrap(),
            1
        );
        assert_eq!(store.codes().get_code(&hash).await.unwrap(), None);
    }
);

both_backends!(
    refresh_rotation_is_single_use_and_family_revocation_is_total,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let u = user("carol");
        let (a, b) = (TokenHash::of("rt-a"), TokenHash::of("rt-b"));
        store
            .refresh_tokens()
            .insert_refresh_token(&refresh(&a, "fam", &u))
            .await
            .unwrap();
        store
            .refresh_tokens()
            .insert_refresh_token(&refresh(&b, "fam", &u))
            .await
            .unwrap();
        store
            .refresh_tokens()
            .insert_refresh_token(&refresh(&TokenHash::of("other"), "fam2", &u))
            .await
            .unwrap();
        assert!(
            store
                .refresh_tokens()
                .rotate_refresh_token(&a, t0(), None)
                .await
                .unwrap()
        );
        assert!(
            !store
                .refresh_tokens()
                .rotate_refresh_token(&a, t0(), None)
                .await
                .unwrap(),
            "a rotated token cannot rotate again"
        );
        assert_eq!(
            store
                .refresh_tokens()
                .revoke_refresh_family("fam", t0())
                .await
                .unwrap(),
            2
        );
        assert!(
            store
                .refresh_tokens()
                .get_refresh_token(&b)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
        assert!(
            !store
                .refresh_tokens()
                .rotate_refresh_token(&b, t0(), None)
                .await
                .unwrap(),
            "a revoked token cannot rotate"
        );
        let other = store
            .refresh_tokens()
            .get_refresh_token(&TokenHash::of("other"))
            .await
            .unwrap()
            .unwrap();
        assert!(other.revoked_at.is_none(), "other families are untouched");
    }
);

both_backends!(
    unit_of_work_commits_once_and_rolls_back_when_dropped,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        {
            let uow = store.begin().await.unwrap();
            uow.clients()
                .insert_client(&client("dropped"))
                .await
                .unwrap();
            uow.users().insert_user(&user("dropped")).await.unwrap();
            // dropped without commit
        }
        assert_eq!(
            store
                .clients()
                .get_client(&ClientId::parse("dropped").unwrap())
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .users()
                .user_by_username(&Username::parse("dropped").unwrap())
                .await
                .unwrap(),
            None
        );

        let uow = store.begin().await.unwrap();
        uow.clients().insert_client(&client("kept")).await.unwrap();
        let g = Grant {
            id: "g-kept".into(),
            client_id: ClientId::parse("kept").unwrap(),
            user_id: UserId::new("u1"),
            scope: ScopeSet::parse("openid").unwrap(),
            session_id: None,
            created_at: t0(),
            revoked_at: None,
        };
        uow.grants().insert_grant(&g).await.unwrap();
        uow.commit().await.unwrap();
        assert!(
            store
                .clients()
                .get_client(&ClientId::parse("kept").unwrap())
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(store.grants().get_grant("g-kept").await.unwrap(), Some(g));
        assert!(store.grants().revoke_grant("g-kept", t0()).await.unwrap());
        assert!(!store.grants().revoke_grant("g-kept", t0()).await.unwrap());
    }
);

both_backends!(
    sessions_are_found_by_hash_and_end_once,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let s = Session {
            id: "sid-1".into(),
            id_hash: TokenHash::of("cookie-value"),
            user_id: Some(UserId::new("u1")),
            auth_time: Some(t0()),
            amr: Some("[\"pwd\"]".into()),
            created_at: t0(),
            last_seen_at: t0(),
            expires_at: t0() + Duration::hours(8),
            ended_at: None,
            ip: None,
            user_agent: None,
            acr: None,
            second_factor_due: false,
        };
        store.sessions().insert_session(&s).await.unwrap();
        assert_eq!(
            store
                .sessions()
                .session_by_hash(&TokenHash::of("cookie-value"))
                .await
                .unwrap(),
            Some(s.clone())
        );
        assert_eq!(
            store
                .sessions()
                .session_by_hash(&TokenHash::of("other"))
                .await
                .unwrap(),
            None
        );
        assert!(
            store
                .sessions()
                .touch_session("sid-1", t0() + Duration::minutes(5))
                .await
                .unwrap()
        );
        assert!(store.sessions().end_session("sid-1", t0()).await.unwrap());
        assert!(!store.sessions().end_session("sid-1", t0()).await.unwrap());
        assert!(
            store
                .sessions()
                .session_by_id("sid-1")
                .await
                .unwrap()
                .unwrap()
                .ended_at
                .is_some()
        );
    }
);

both_backends!(consent_upserts_and_revokes, |backend| async move {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (u, c) = (UserId::new("u1"), ClientId::parse("c1").unwrap());
    let mut consent = Consent {
        user_id: u.clone(),
        client_id: c.clone(),
        scopes: ScopeSet::parse("openid").unwrap(),
        created_at: t0(),
        updated_at: t0(),
        revoked_at: None,
    };
    store.consents().upsert_consent(&consent).await.unwrap();
    consent.scopes = ScopeSet::parse("openid email").unwrap();
    store.consents().upsert_consent(&consent).await.unwrap();
    let got = store.consents().get_consent(&u, &c).await.unwrap().unwrap();
    assert_eq!(got.scopes.to_string(), "email openid");
    assert!(store.consents().revoke_consent(&u, &c, t0()).await.unwrap());
    assert_eq!(store.consents().get_consent(&u, &c).await.unwrap(), None);
    store.consents().upsert_consent(&consent).await.unwrap();
    assert!(
        store
            .consents()
            .get_consent(&u, &c)
            .await
            .unwrap()
            .is_some(),
        "granting again revives it"
    );
});

both_backends!(
    signing_key_transitions_are_conditional,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let key = SigningKeyRecord {
            kid: "k1".into(),
            alg: "ES256".into(),
            state: KeyState::Next,
            backend: "local".into(),
            public_jwk: "{}".into(),
            private_key_sealed: Some("c2VhbGVk".into()),
            kms_key_id: None,
            created_at: t0(),
            activates_at: t0(),
            retired_at: None,
            expires_at: None,
            revoked_at: None,
        };
        store.signing_keys().insert_signing_key(&key).await.unwrap();
        assert!(
            store
                .signing_keys()
                .transition_signing_key("k1", KeyState::Next, KeyState::Active, None, None)
                .await
                .unwrap()
        );
        assert!(
            !store
                .signing_keys()
                .transition_signing_key("k1", KeyState::Next, KeyState::Active, None, None)
                .await
                .unwrap(),
            "a second instance racing the same transition loses"
        );
        let exp = t0() + Duration::hours(1);
        assert!(
            store
                .signing_keys()
                .transition_signing_key(
                    "k1",
                    KeyState::Active,
                    KeyState::Retired,
                    Some(t0()),
                    Some(exp)
                )
                .await
                .unwrap()
        );
        let keys = store.signing_keys().list_signing_keys().await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].state, KeyState::Retired);
        assert_eq!(keys[0].expires_at, Some(exp));
        assert_eq!(
            store
                .signing_keys()
                .purge_expired_signing_keys(exp + Duration::seconds(1))
                .await
                .unwrap(),
            1
        );
    }
);

both_backends!(
    revoked_access_tokens_are_idempotent_and_purged,
    |backend| async move {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let r = RevokedAccessToken {
            jti: "jti-1".into(),
            client_id: ClientId::parse("c1").unwrap(),
            revoked_at: t0(),
            expires_at: t0() + Duration::minutes(10),
        };
        store
            .revoked_tokens()
            .insert_revoked_token(&r)
            .await
            .unwrap();
        store
            .revoked_tokens()
            .insert_revoked_token(&r)
            .await
            .unwrap();
        assert!(
            store
                .revoked_tokens()
                .is_token_revoked("jti-1")
                .await
                .unwrap()
        );
        assert!(
            !store
                .revoked_tokens()
                .is_token_revoked("jti-2")
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .revoked_tokens()
                .purge_revoked_tokens(t0() + Duration::hours(1))
                .await
                .unwrap(),
            1
        );
        assert!(
            !store
                .revoked_tokens()
                .is_token_revoked("jti-1")
                .await
                .unwrap()
        );
    }
);
