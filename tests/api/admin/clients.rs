//! Admin API tests: clients (issue 15): create, list (paged), show, update
//! (PATCH, the same rules as create), delete (its grants and tokens stop),
//! and secret rotation with an overlap window under a fixed clock.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{SubsecRound as _, Utc};
use portcullis::app::operator::NewClient;
use portcullis::domain::event::EventKind;
use portcullis::ports::Clock as _;
use portcullis::testing::FixedClock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{admin_client, admin_token, call, read_token, token_of};
use crate::both_backends;
use crate::flow::{self, TestClient};
use crate::helpers::{TestApp, spawn_app, spawn_app_full, spawn_app_recording, test_overrides};

const CLIENTS: &str = "/admin/v1/clients";

fn client_path(id: &str) -> String {
    format!("{CLIENTS}/{id}")
}

/// Creates a client through the API; returns its view (with the secret).
async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, view) = call(app, Method::POST, CLIENTS, token, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    view
}

fn web_app() -> Value {
    json!({
        "client_name": "Web app",
        "redirect_uris": [flow::REDIRECT],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "scope": "openid profile offline_access",
    })
}

/// The status of a client-credentials token request with `secret`.
async fn token_status(app: &TestApp, id: &str, secret: &str) -> StatusCode {
    app.http
        .post(app.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
}

/// The `admin_change` events recorded, as (acting client, action, target).
fn changes(sink: &portcullis::testing::MemoryEventSink) -> Vec<(String, String, String)> {
    sink.of_kind(EventKind::AdminChange)
        .into_iter()
        .map(|e| {
            let v = serde_json::to_value(&e).unwrap();
            let s = |x: &Value| x.as_str().unwrap_or_default().to_owned();
            (
                s(&v["client_id"]),
                s(&v["detail"]["action"]),
                s(&v["detail"]["target"]),
            )
        })
        .collect()
}

both_backends!(create_then_show_and_list_by_pages, |backend| async move {
    let (app, sink) = spawn_app_recording(backend).await;
    let operator = admin_client(&app, "admin:read admin:write").await;
    let token = token_of(&app, &operator).await;
    let created = create(&app, &token, web_app()).await;
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().expect("the secret, once");
    assert_eq!(created["client_name"], "Web app");
    assert_eq!(created["redirect_uris"], json!([flow::REDIRECT]));
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(created["response_types"], json!(["code"]));
    assert_eq!(created["client_secret_expires_at"], 0);
    // The secret works, and is shown only that once.
    assert_eq!(token_status(&app, &id, secret).await, StatusCode::OK);
    let reader = read_token(&app).await;
    let (status, shown) = call(&app, Method::GET, &client_path(&id), &reader, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(shown.get("client_secret").is_none(), "{shown}");
    let mut without_secret = created.clone();
    without_secret
        .as_object_mut()
        .unwrap()
        .remove("client_secret");
    assert_eq!(shown, without_secret);
    // The change names the acting client.
    assert!(
        changes(&sink).contains(&(operator.id.clone(), "client_created".into(), id.clone())),
        "{:?}",
        changes(&sink)
    );

    // Five more clients, then walk the list two at a time.
    let mut all = BTreeSet::from([id.clone(), operator.id.clone()]);
    for i in 0..5 {
        let c = create(
            &app,
            &token,
            json!({"client_name": format!("M2M {i}"), "grant_types": ["client_credentials"]}),
        )
        .await;
        all.insert(c["client_id"].as_str().unwrap().to_owned());
    }
    let (_, first) = call(&app, Method::GET, CLIENTS, &reader, None).await;
    let everyone: BTreeSet<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap().to_owned())
        .collect();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => format!("{CLIENTS}?limit=2"),
            Some(c) => format!("{CLIENTS}?limit=2&cursor={c}"),
        };
        let (status, page) = call(&app, Method::GET, &path, &reader, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        for c in items {
            assert!(c.get("client_secret").is_none());
            seen.push(c["client_id"].as_str().unwrap().to_owned());
        }
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "ordered by client id, each once");
    assert!(pages >= 4, "{pages} pages");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), everyone);
    assert!(everyone.is_superset(&all));

    for bad in [
        "?limit=0",
        "?limit=501",
        "?cursor=%25%25",
        "?limit=1&limit=2",
    ] {
        let (status, body) =
            call(&app, Method::GET, &format!("{CLIENTS}{bad}"), &reader, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"], "invalid_request");
    }
});

both_backends!(create_refuses_bad_metadata, |backend| async move {
    let app = spawn_app(backend).await;
    let token = admin_token(&app).await;
    let (_, before) = call(&app, Method::GET, CLIENTS, &token, None).await;
    for (body, error) in [
        (
            json!({"client_name": "X", "redirect_uris": ["not a uri"]}),
            "invalid_redirect_uri",
        ),
        (json!({"client_name": "X"}), "invalid_redirect_uri"),
        (
            json!({"client_name": "", "grant_types": ["client_credentials"]}),
            "invalid_request",
        ),
        (
            json!({"client_name": "X", "grant_types": ["implicit"]}),
            "invalid_request",
        ),
        (
            json!({"client_name": "X", "redirect_uris": "https://a.example/cb"}),
            "invalid_request",
        ),
    ] {
        let (status, resp) = call(&app, Method::POST, CLIENTS, &token, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {resp}");
        assert_eq!(resp["error"], error, "{body}: {resp}");
        assert!(
            resp["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
    }
    // Not JSON.
    let resp = app
        .http
        .post(app.url(CLIENTS))
        .bearer_auth(&token)
        .form(&[("client_name", "X")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (_, after) = call(&app, Method::GET, CLIENTS, &token, None).await;
    assert_eq!(before, after, "nothing was created");
});

both_backends!(
    a_redirect_uri_change_keeps_the_client_id,
    |backend| async move {
        let (app, sink) = spawn_app_recording(backend).await;
        let operator = admin_client(&app, "admin:read admin:write").await;
        let token = token_of(&app, &operator).await;
        let created = create(&app, &token, web_app()).await;
        let id = created["client_id"].as_str().unwrap().to_owned();
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        let new_uri = "https://app.example/new-callback";
        let (status, updated) = call(
            &app,
            Method::PATCH,
            &client_path(&id),
            &token,
            Some(json!({
                "redirect_uris": [new_uri],
                "client_name": "Renamed",
                "access_token_ttl": 300,
                "first_party": true,
            })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["client_id"], id);
        assert_eq!(updated["redirect_uris"], json!([new_uri]));
        assert_eq!(updated["client_name"], "Renamed");
        assert_eq!(updated["access_token_ttl"], 300);
        assert_eq!(updated["first_party"], true);
        assert_eq!(updated["scope"], created["scope"], "untouched fields stay");
        assert!(updated.get("client_secret").is_none());
        let (_, shown) = call(&app, Method::GET, &client_path(&id), &token, None).await;
        assert_eq!(shown, updated);
        assert!(changes(&sink).contains(&(
            operator.id.clone(),
            "client_updated".into(),
            id.clone()
        )));

        // The secret still works; /authorize takes the new URI, not the old.
        assert_eq!(token_status(&app, &id, &secret).await, StatusCode::OK);
        let old = flow::get_authorize(&app, &flow::query(&id, &[])).await;
        assert_eq!(old.status(), StatusCode::BAD_REQUEST);
        let q = flow::query(&id, &[]).replace(
            &url::form_urlencoded::byte_serialize(flow::REDIRECT.as_bytes()).collect::<String>(),
            &url::form_urlencoded::byte_serialize(new_uri.as_bytes()).collect::<String>(),
        );
        let new = flow::get_authorize(&app, &q).await;
        assert_eq!(new.status(), StatusCode::OK);
    }
);

both_backends!(a_bad_update_changes_nothing, |backend| async move {
    let app = spawn_app(backend).await;
    let token = admin_token(&app).await;
    let created = create(&app, &token, web_app()).await;
    let id = created["client_id"].as_str().unwrap().to_owned();
    let (_, before) = call(&app, Method::GET, &client_path(&id), &token, None).await;
    for (body, error) in [
        (
            json!({"redirect_uris": ["https://ok.example/cb", "javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["http://plain.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (
            json!({"client_name": "Fine", "grant_types": ["password"]}),
            "invalid_request",
        ),
        (
            json!({"client_name": "Fine", "access_token_ttl": 0}),
            "invalid_request",
        ),
        (
            json!({"client_name": "Fine", "token_endpoint_auth_method": "none"}),
            "invalid_request",
        ),
        (
            json!({"client_name": "Fine", "scope": 5}),
            "invalid_request",
        ),
    ] {
        let (status, resp) = call(
            &app,
            Method::PATCH,
            &client_path(&id),
            &token,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {resp}");
        assert_eq!(resp["error"], error, "{body}: {resp}");
    }
    let (_, after) = call(&app, Method::GET, &client_path(&id), &token, None).await;
    assert_eq!(before, after);
    // Unknown and malformed ids.
    for other in ["0123456789abcdef0123456789abcdef", "not%20an%20id"] {
        for method in [Method::GET, Method::PATCH, Method::DELETE, Method::POST] {
            let path = if method == Method::POST {
                format!("{}/secret", client_path(other))
            } else {
                client_path(other)
            };
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
            let (status, resp) = call(&app, method.clone(), &path, &token, body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {resp}");
            assert_eq!(resp["error"], "not_found");
        }
    }
});

both_backends!(
    deleting_a_client_stops_its_grants_and_tokens,
    |backend| async move {
        let (app, sink) = spawn_app_recording(backend).await;
        let operator = admin_client(&app, "admin:read admin:write").await;
        let token = token_of(&app, &operator).await;
        let signed = flow::sign_in(&app).await;
        let rp = signed.client.id.clone();
        let m2m = token_of(&app, &signed.client).await;
        let rs = flow::register(
            &app,
            NewClient {
                name: "API".into(),
                grant_types: vec!["client_credentials".into()],
                resource_server: true,
                // The server-wide audience of access tokens: it may read them all.
                audience: Some(app.issuer.clone()),
                ..NewClient::default()
            },
        )
        .await;
        let introspect = async |t: &str| -> bool {
            let v: Value = app
                .http
                .post(app.url("/introspect"))
                .basic_auth(&rs.id, rs.secret.as_deref())
                .form(&[("token", t)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["active"].as_bool().unwrap()
        };
        let userinfo = async || {
            app.http
                .get(app.url("/userinfo"))
                .bearer_auth(&signed.access_token)
                .send()
                .await
                .unwrap()
                .status()
        };
        assert_eq!(userinfo().await, StatusCode::OK);
        assert!(introspect(&m2m).await);

        let (status, body) = call(&app, Method::DELETE, &client_path(&rp), &token, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(body, Value::Null);
        assert!(changes(&sink).contains(&(
            operator.id.clone(),
            "client_deleted".into(),
            rp.clone()
        )));

        assert_eq!(userinfo().await, StatusCode::UNAUTHORIZED);
        assert!(!introspect(&signed.access_token).await);
        assert!(!introspect(&signed.refresh_token).await);
        assert!(
            !introspect(&m2m).await,
            "a client-credentials token stops too"
        );
        let refresh = app
            .http
            .post(app.url("/token"))
            .basic_auth(&rp, Some(&signed.secret))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &signed.refresh_token),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);
        let (status, _) = call(&app, Method::GET, &client_path(&rp), &token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(&app, Method::DELETE, &client_path(&rp), &token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

/// A server on a fixed clock (events recorded), with an operator token
/// and a confidential client-credentials client.
struct OnFixedClock {
    app: TestApp,
    clock: Arc<FixedClock>,
    sink: Arc<portcullis::testing::MemoryEventSink>,
    token: String,
    client: TestClient,
}

async fn on_fixed_clock(backend: crate::helpers::Backend) -> OnFixedClock {
    let clock = Arc::new(FixedClock::at(Utc::now().trunc_subsecs(0)));
    let sink = Arc::new(portcullis::testing::MemoryEventSink::new());
    let overrides = portcullis::factory::Overrides {
        clock: Some(clock.clone()),
        events: Some(sink.clone()),
        ..test_overrides()
    };
    let app = spawn_app_full(backend, |_| {}, overrides).await;
    let token = admin_token(&app).await;
    let client = admin_client(&app, "api").await;
    OnFixedClock {
        app,
        clock,
        sink,
        token,
        client,
    }
}

both_backends!(
    rotation_keeps_the_old_secret_for_the_overlap_then_stops_it,
    |backend| async move {
        let OnFixedClock {
            app,
            clock,
            sink,
            token,
            client,
        } = on_fixed_clock(backend).await;
        let old = client.secret.clone().unwrap();
        let path = format!("{}/secret", client_path(&client.id));
        let (status, rotated) = call(
            &app,
            Method::POST,
            &path,
            &token,
            Some(json!({"overlap_secs": 3600})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{rotated}");
        let new = rotated["client_secret"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        let until = clock.now() + chrono::Duration::seconds(3600);
        assert_eq!(rotated["previous_secret_expires_at"], until.timestamp());
        assert_eq!(rotated["client_id"], client.id);
        let rotations: Vec<_> = changes(&sink)
            .into_iter()
            .filter(|(_, action, target)| action == "client_secret_rotated" && *target == client.id)
            .collect();
        assert_eq!(rotations.len(), 1, "{:?}", changes(&sink));
        let events = serde_json::to_string(&sink.events()).unwrap();
        assert!(
            !events.contains(&new) && !events.contains(&old),
            "no secret in events"
        );

        assert_eq!(token_status(&app, &client.id, &old).await, StatusCode::OK);
        assert_eq!(token_status(&app, &client.id, &new).await, StatusCode::OK);
        clock.advance(chrono::Duration::seconds(3599));
        assert_eq!(token_status(&app, &client.id, &old).await, StatusCode::OK);
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(
            token_status(&app, &client.id, &old).await,
            StatusCode::UNAUTHORIZED,
            "the overlap is over"
        );
        assert_eq!(token_status(&app, &client.id, &new).await, StatusCode::OK);
        assert_eq!(
            token_status(&app, &client.id, "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
);

both_backends!(
    rotation_without_overlap_stops_the_old_secret_at_once,
    |backend| async move {
        let OnFixedClock {
            app,
            clock,
            token,
            client,
            ..
        } = on_fixed_clock(backend).await;
        let old = client.secret.clone().unwrap();
        let path = format!("{}/secret", client_path(&client.id));
        for bad in [
            json!({"overlap_secs": -1}),
            json!({"overlap_secs": 30 * 86_400 + 1}),
            json!({"overlap_secs": "1h"}),
        ] {
            let (status, resp) = call(&app, Method::POST, &path, &token, Some(bad.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {resp}");
        }
        assert_eq!(
            token_status(&app, &client.id, &old).await,
            StatusCode::OK,
            "unchanged"
        );
        // A first rotation with an overlap, then one without: neither older
        // secret works any more.
        let (_, first) = call(
            &app,
            Method::POST,
            &path,
            &token,
            Some(json!({"overlap_secs": 600})),
        )
        .await;
        let first = first["client_secret"].as_str().unwrap().to_owned();
        let (status, second) = call(&app, Method::POST, &path, &token, Some(json!({}))).await;
        assert_eq!(status, StatusCode::OK, "{second}");
        assert_eq!(
            second["previous_secret_expires_at"],
            clock.now().timestamp()
        );
        let second = second["client_secret"].as_str().unwrap();
        assert_eq!(
            token_status(&app, &client.id, &old).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            token_status(&app, &client.id, &first).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(token_status(&app, &client.id, second).await, StatusCode::OK);

        // A public client has no secret.
        let public = create(
            &app,
            &token,
            json!({"client_name": "SPA", "redirect_uris": [flow::REDIRECT], "token_endpoint_auth_method": "none"}),
        )
        .await;
        assert!(public.get("client_secret").is_none());
        let path = format!(
            "{}/secret",
            client_path(public["client_id"].as_str().unwrap())
        );
        let (status, _) = call(&app, Method::POST, &path, &token, Some(json!({}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
);

both_backends!(
    an_admin_client_cannot_lock_itself_out,
    |backend| async move {
        let app = crate::helpers::spawn_app(backend).await;
        let me = super::admin_client(&app, "admin:read admin:write").await;
        let token = super::token_of(&app, &me).await;
        let path = format!("/admin/v1/clients/{}", me.id);
        let (status, body) = super::call(&app, reqwest::Method::DELETE, &path, &token, None).await;
        assert_eq!(status, reqwest::StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"], "conflict");
        let (status, body) = super::call(
            &app,
            reqwest::Method::PATCH,
            &path,
            &token,
            Some(serde_json::json!({"scope": "admin:read"})),
        )
        .await;
        assert_eq!(status, reqwest::StatusCode::CONFLICT, "{body}");
        // Nothing changed: the client still holds admin:write and its token works.
        let (status, body) = super::call(&app, reqwest::Method::GET, &path, &token, None).await;
        assert_eq!(status, reqwest::StatusCode::OK);
        assert!(
            body["scope"].as_str().unwrap().contains("admin:write"),
            "{body}"
        );
        // Renaming itself is fine.
        let (status, _) = super::call(
            &app,
            reqwest::Method::PATCH,
            &path,
            &token,
            Some(serde_json::json!({"client_name": "Renamed"})),
        )
        .await;
        assert_eq!(status, reqwest::StatusCode::OK);
        // Another admin client may delete it.
        let other = super::admin_token(&app).await;
        let (status, _) = super::call(&app, reqwest::Method::DELETE, &path, &other, None).await;
        assert_eq!(status, reqwest::StatusCode::NO_CONTENT);
    }
);

both_backends!(
    admin_bodies_are_objects_of_known_fields,
    |backend| async move {
        let app = crate::helpers::spawn_app(backend).await;
        let token = admin_token(&app).await;
        for (body, why) in [
            (
                json!(["ArrayClient", [], [], ["client_credentials"]]),
                "an array",
            ),
            (
                json!({"client_name": "X", "grant_types": ["client_credentials"], "client_id": "mine"}),
                "client_id",
            ),
            (
                json!({"client_name": "X", "grant_types": ["client_credentials"], "client_secret": "s"}),
                "client_secret",
            ),
            (
                json!({"client_name": "X", "grant_types": ["client_credentials"], "redirect_uri": "typo"}),
                "a typo",
            ),
        ] {
            let (status, resp) =
                call(&app, Method::POST, "/admin/v1/clients", &token, Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {resp}");
            assert_eq!(resp["error"], "invalid_request", "{why}");
        }
        let (_, list) = call(&app, Method::GET, "/admin/v1/clients", &token, None).await;
        assert_eq!(
            list["items"].as_array().unwrap().len(),
            1,
            "only the admin client: {list}"
        );
        // An empty body with a JSON content type is an empty body.
        let me = list["items"][0]["client_id"].as_str().unwrap().to_owned();
        let resp = app
            .http
            .post(app.url(&format!("/admin/v1/clients/{me}/secret")))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
);

both_backends!(only_secret_clients_hold_a_secret, |backend| async move {
    let app = crate::helpers::spawn_app(backend).await;
    let token = admin_token(&app).await;
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]});
    let (status, body) = call(
        &app,
        Method::POST,
        "/admin/v1/clients",
        &token,
        Some(
            json!({"client_name": "Keys", "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body.get("client_secret").is_none(), "{body}");
    let id = body["client_id"].as_str().unwrap().to_owned();
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/admin/v1/clients/{id}/secret"),
        &token,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A secret client switched to private_key_jwt loses its secret.
    let (_, body) = call(
        &app,
        Method::POST,
        "/admin/v1/clients",
        &token,
        Some(json!({"client_name": "Secret", "grant_types": ["client_credentials"]})),
    )
    .await;
    let (id, secret) = (
        body["client_id"].as_str().unwrap().to_owned(),
        body["client_secret"].as_str().unwrap().to_owned(),
    );
    let cc = |id: String, secret: String| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(cc(id.clone(), secret.clone()).await, StatusCode::OK);
    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/admin/v1/clients/{id}"),
        &token,
        Some(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/admin/v1/clients/{id}"),
        &token,
        Some(json!({"token_endpoint_auth_method": "client_secret_basic"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        cc(id, secret).await,
        StatusCode::UNAUTHORIZED,
        "the old secret does not come back"
    );
});
