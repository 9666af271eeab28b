//! Who may introspect (issue 14 item 8; RFC 7662 §2.1, §2.3, §4): only a
//! confidential client registered as a resource server may call
//! `/introspect`; any other client gets 400 `unauthorized_client` (it
//! authenticated but is not authorized for the endpoint), a public one 401
//! `invalid_client`. A resource server learns about access tokens meant for
//! it (`aud`) or issued to it, and refresh tokens issued to it; anything else
//! is `{"active": false}`. The rule: `protocol::introspect`.

use portcullis::adapters::system::SystemClock;
use portcullis::app::operator::{self, NewClient};
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::flow::{self, TestClient, register};
use crate::helpers::TestApp;

async fn introspect(app: &TestApp, c: &TestClient, token: &str) -> (StatusCode, Value) {
    let mut r = app.http.post(app.url("/introspect"));
    r = match &c.secret {
        Some(s) => r.basic_auth(&c.id, Some(s)),
        None => r,
    };
    let form: Vec<(&str, &str)> = if c.secret.is_some() {
        vec![("token", token)]
    } else {
        vec![("token", token), ("client_id", c.id.as_str())]
    };
    let r = r.form(&form).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or_default())
}

fn service(name: &str, resource_server: bool) -> NewClient {
    NewClient {
        name: name.into(),
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["api:read".into()],
        resource_server,
        ..NewClient::default()
    }
}

both_backends!(
    only_resource_servers_introspect_and_only_their_tokens,
    |backend| async move {
        let app = crate::helpers::spawn_app(backend).await;
        // A relying party (not a resource server) and alice's tokens.
        let s = flow::sign_in(&app).await;
        let rp = TestClient {
            id: s.client.id.clone(),
            secret: Some(s.secret.clone()),
        };
        let snoop = register(&app, service("Another app", false)).await;
        let api = register(&app, service("The API", true)).await;
        let spa = register(&app, flow::client_req(true)).await;

        // Not a resource server: refused, even for its own token, and it
        // learns nothing about another client's token.
        for (who, c) in [("the token's own client", &rp), ("another client", &snoop)] {
            let (st, body) = introspect(&app, c, &s.access_token).await;
            assert_eq!(
                (st, body["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("unauthorized_client")),
                "{who}: {body}"
            );
            assert!(body.get("sub").is_none() && body.get("active").is_none());
        }
        let (st, body) = introspect(&app, &spa, &s.access_token).await;
        assert_eq!(
            (st, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "a public client: {body}"
        );

        // A resource server: the access token is meant for it (its aud is
        // the server-wide access-token audience, the issuer by default).
        let (st, body) = introspect(&app, &api, &s.access_token).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        assert_eq!(body["active"], true, "{body}");
        assert_eq!(body["aud"], app.issuer.as_str());
        assert_eq!(body["client_id"], rp.id.as_str());
        // Another client's refresh token: not described.
        let (st, body) = introspect(&app, &api, &s.refresh_token).await;
        assert_eq!(
            (st, body),
            (StatusCode::OK, serde_json::json!({"active": false}))
        );
        // Its own client_credentials token: issued to itself.
        let t: Value = app
            .http
            .post(app.url("/token"))
            .basic_auth(&api.id, api.secret.as_deref())
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let own = t["access_token"].as_str().unwrap();
        let (_, body) = introspect(&app, &api, own).await;
        assert_eq!(body["active"], true, "{body}");

        // Withdrawn (`client update --resource-server false`): refused again.
        let store = app.state.store.as_ref();
        operator::set_resource_server(store, &SystemClock, &api.id, false)
            .await
            .unwrap();
        let (st, body) = introspect(&app, &api, &s.access_token).await;
        assert_eq!(
            (st, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("unauthorized_client")),
            "{body}"
        );
        // A public client cannot be made one.
        let err = operator::set_resource_server(store, &SystemClock, &spa.id, true)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("public"), "{err}");
    }
);

both_backends!(
    the_cli_sets_and_withdraws_the_resource_server_flag,
    |backend| async move {
        use crate::cli::{failed, ok, portcullis};
        let db = crate::helpers::TestDb::new(backend).await;
        let args = [
            "client",
            "create",
            "--name",
            "API",
            "--grant-type",
            "client_credentials",
            "--resource-server",
            "--json",
        ];
        let v: Value = serde_json::from_str(ok(&portcullis(&db, &args, None)).trim()).unwrap();
        assert_eq!(v["resource_server"], true, "{v}");
        let id = v["client_id"].as_str().unwrap().to_owned();
        let update = |flag: &'static str| {
            let args = [
                "client",
                "update",
                id.as_str(),
                "--resource-server",
                flag,
                "--json",
            ];
            portcullis(&db, &args, None)
        };
        let v: Value = serde_json::from_str(ok(&update("false")).trim()).unwrap();
        assert_eq!(v["resource_server"], false, "{v}");
        let show = ok(&portcullis(&db, &["client", "show", &id, "--json"], None));
        let v: Value = serde_json::from_str(show.trim()).unwrap();
        assert_eq!(v["resource_server"], false, "stored: {v}");
        let err = failed(&update("maybe"));
        assert!(err.contains("--resource-server"), "{err}");
        let err = failed(&portcullis(&db, &["client", "update", &id], None));
        assert!(err.contains("nothing to change"), "{err}");
        // A public client cannot be one, at creation or later.
        let args = [
            "client",
            "create",
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "https://spa.example/cb",
            "--resource-server",
        ];
        let err = failed(&portcullis(&db, &args, None));
        assert!(err.contains("public"), "{err}");
    }
);
