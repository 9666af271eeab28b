//! Admin API tests: events (issue 15): the filtered query and the stats,
//! read from the configured store (here the JSON Lines files).

use portcullis::domain::event::{Event, EventKind};
use reqwest::Method;
use serde_json::Value;

use super::{admin_token, call};
use crate::both_backends;
use crate::events::{client, other_client, stamp, user};
use crate::helpers::spawn_app;

both_backends!(admin_queries_events_with_filters, |backend| async move {
    let app = spawn_app(backend).await;
    let token = admin_token(&app).await;
    let now = app.state.clock.now();
    let h = chrono::Duration::hours;
    let old = Event::new(EventKind::TokenIssued, stamp(now - h(30))).client(&client());
    let mine = Event::new(EventKind::TokenIssued, stamp(now - h(2)))
        .client(&client())
        .subject(&user());
    let other = Event::new(EventKind::ConsentDenied, stamp(now - h(1))).client(&other_client());
    for e in [&old, &mine, &other] {
        app.state.events.emit(e.clone());
    }
    app.state.events.flush().await.unwrap();
    let ids = |v: &Value| -> Vec<String> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let id = |e: &Event| e.event_id().to_string();
    let get = |q: String| {
        let (app, token) = (&app, &token);
        async move {
            call(
                app,
                Method::GET,
                &format!("/admin/v1/events{q}"),
                token,
                None,
            )
            .await
        }
    };

    let (s, v) = get(format!(
        "?client_id={}&kind=token_issued",
        client().as_str()
    ))
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(ids(&v), [id(&mine), id(&old)], "newest first");
    let (s, v) = get(format!("?client_id={}&from=24h", client().as_str())).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(ids(&v), [id(&mine)]);
    let (_, v) = get(format!("?subject={}", user().as_str())).await;
    assert_eq!(ids(&v), [id(&mine)]);
    let (_, v) = get(format!("?client_id={}&limit=1", other_client().as_str())).await;
    assert_eq!(ids(&v), [id(&other)]);
    assert_eq!(v["events"][0]["kind"], "consent_denied");

    for bad in [
        "?kind=nope",
        "?limit=0",
        "?limit=1001",
        "?limit=x",
        "?from=yesterday",
        "?from=1h&to=2h",
        "?kind=logout&kind=logout",
    ] {
        let (s, v) = get(bad.to_owned()).await;
        assert_eq!(
            (s.as_u16(), v["error"].as_str()),
            (400, Some("invalid_request")),
            "{bad}"
        );
    }

    let (s, v) = get("/stats?since=24h".to_owned()).await;
    assert_eq!(s, 200, "{v}");
    // (token_issued also counts the admin's own token.)
    assert_eq!(v["by_kind"]["consent_denied"], 1);
    assert_eq!(v["by_client"][client().as_str()]["total"], 1);
    let (s, v) = get("/stats".to_owned()).await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = get("/stats?since=nope".to_owned()).await;
    assert_eq!(s, 400);
    let (s, _) = call(&app, Method::GET, "/admin/v1/events", "not-a-token", None).await;
    assert_eq!(s, 401);
});
