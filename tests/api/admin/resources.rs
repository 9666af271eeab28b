//! `/admin/v1/resources` (issue 18, RFC 8707): the APIs registered as
//! resources. Create, list (paged), show, update, delete; validation
//! errors, 404, 409 (a registered id; an API clients still allow), and an
//! `admin_change` event per change naming the acting client.

use portcullis::app::operator::NewClient;
use portcullis::domain::event::EventKind;
use reqwest::Method;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{admin_client, call, read_token, token_of};
use crate::both_backends;
use crate::flow::{REDIRECT, register};
use crate::helpers::spawn_app_recording;

const API: &str = "https://api.example.com/v1";
const PATH: &str = "/admin/v1/resources/https%3A%2F%2Fapi.example.com%2Fv1";

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

both_backends!(
    resources_are_created_listed_changed_and_deleted,
    |backend| async move {
        let (app, sink) = spawn_app_recording(backend).await;
        let admin = admin_client(&app, "admin:read admin:write").await;
        let token = token_of(&app, &admin).await;
        let (status, body) = call(
        &app,
        Method::POST,
        "/admin/v1/resources",
        &token,
        Some(json!({"resource_id": API, "name": "Orders", "scopes": ["orders:write", "orders:read"]})),
    )
    .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["resource_id"], API);
        assert_eq!(body["name"], "Orders");
        assert_eq!(body["scopes"], json!(["orders:read", "orders:write"]));
        assert!(body["created_at"].is_string());

        let (status, again) = call(
            &app,
            Method::POST,
            "/admin/v1/resources",
            &token,
            Some(json!({"resource_id": API, "name": "Again", "scopes": ["x"]})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{again}");

        let (status, shown) = call(&app, Method::GET, PATH, &token, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(shown, body);

        let (status, _) = call(
        &app,
        Method::POST,
        "/admin/v1/resources",
        &token,
        Some(json!({"resource_id": "urn:example:billing", "name": "Billing", "scopes": ["billing"]})),
    )
    .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, page) = call(
            &app,
            Method::GET,
            "/admin/v1/resources?limit=1",
            &token,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["items"][0]["resource_id"], API, "ordered by id");
        let cursor = page["next_cursor"].as_str().unwrap();
        let (_, page) = call(
            &app,
            Method::GET,
            &format!("/admin/v1/resources?limit=1&cursor={cursor}"),
            &token,
            None,
        )
        .await;
        assert_eq!(page["items"][0]["resource_id"], "urn:example:billing");
        assert!(page.get("next_cursor").is_none());

        let (status, patched) = call(
            &app,
            Method::PATCH,
            PATH,
            &token,
            Some(json!({"scopes": ["orders:admin"]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["name"], "Orders", "unchanged");
        assert_eq!(patched["scopes"], json!(["orders:admin"]));

        // A client allows it: the deletion is refused, naming the client.
        let c = register(
            &app,
            NewClient {
                name: "RP".into(),
                redirect_uris: vec![REDIRECT.into()],
                allowed_resources: vec![API.into()],
                ..NewClient::default()
            },
        )
        .await;
        let (status, body) = call(&app, Method::DELETE, PATH, &token, None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            body["error_description"].as_str().unwrap().contains(&c.id),
            "{body}"
        );
        let (status, _) = call(
            &app,
            Method::PATCH,
            &format!("/admin/v1/clients/{}", c.id),
            &token,
            Some(json!({"allowed_resources": []})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = call(&app, Method::DELETE, PATH, &token, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, _) = call(&app, Method::GET, PATH, &token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let mine: Vec<(String, String)> = changes(&sink)
            .into_iter()
            .filter(|(_, a, _)| a.starts_with("resource_"))
            .map(|(who, action, target)| {
                assert_eq!(who, admin.id);
                (action, target)
            })
            .collect();
        assert_eq!(
            mine,
            [
                ("resource_created".to_owned(), API.to_owned()),
                (
                    "resource_created".to_owned(),
                    "urn:example:billing".to_owned()
                ),
                ("resource_updated".to_owned(), API.to_owned()),
                ("resource_deleted".to_owned(), API.to_owned()),
            ]
        );
    }
);

both_backends!(bad_resources_are_refused, |backend| async move {
    let (app, sink) = spawn_app_recording(backend).await;
    let admin = admin_client(&app, "admin:read admin:write").await;
    let token = token_of(&app, &admin).await;
    for (why, body) in [
        (
            "not absolute",
            json!({"resource_id": "api", "name": "A", "scopes": ["a"]}),
        ),
        (
            "a fragment",
            json!({"resource_id": "https://a.example/#x", "name": "A", "scopes": ["a"]}),
        ),
        (
            "no name",
            json!({"resource_id": API, "name": " ", "scopes": ["a"]}),
        ),
        (
            "no scope",
            json!({"resource_id": API, "name": "A", "scopes": []}),
        ),
        (
            "an OpenID scope",
            json!({"resource_id": API, "name": "A", "scopes": ["openid"]}),
        ),
        (
            "not a scope token",
            json!({"resource_id": API, "name": "A", "scopes": ["a b"]}),
        ),
        ("a missing field", json!({"resource_id": API, "name": "A"})),
        (
            "an unknown field",
            json!({"resource_id": API, "name": "A", "scopes": ["a"], "aud": "x"}),
        ),
    ] {
        let (status, body) = call(
            &app,
            Method::POST,
            "/admin/v1/resources",
            &token,
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
        assert_eq!(body["error"], "invalid_request", "{why}");
    }
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"name": "B"}))),
        (Method::DELETE, None),
    ] {
        let (status, _) = call(&app, method.clone(), PATH, &token, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
    }
    // A reader may list, not create.
    let reader = read_token(&app).await;
    let (status, _) = call(&app, Method::GET, "/admin/v1/resources", &reader, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &app,
        Method::POST,
        "/admin/v1/resources",
        &reader,
        Some(json!({"resource_id": API, "name": "A", "scopes": ["a"]})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A client may not allow an unregistered resource.
    let (status, body) = call(
        &app,
        Method::POST,
        "/admin/v1/clients",
        &token,
        Some(json!({"client_name": "RP", "redirect_uris": [REDIRECT], "allowed_resources": [API]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains(API),
        "{body}"
    );
    assert!(
        changes(&sink)
            .iter()
            .all(|(_, a, _)| !a.starts_with("resource_")),
        "nothing changed"
    );
});
