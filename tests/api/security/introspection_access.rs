//! Who may introspect (issue 14 item 8; RFC 7662 §2.1, §2.3, §4): only a
//! confidential client registered as a resource server may call
//! `/introspect`; any other client gets 400 `unauthorized_client` (it
//! authenticated but is not authorized for the endpoint), a public one 401
//! `invalid_client`. Each resource server has an audience of its own
//! (`--audience`, default its client id) and learns about access tokens
//! whose `aud` contains it or that were issued to it, and refresh tokens
//! issued to it; anything else is `{"active": false}`. The server-wide
//! access-token audience (the issuer by default), which every access token
//! carries, is read only by a resource server registered with exactly that
//! audience. The rule: `protocol::introspect`.

use portcullis::app::operator::NewClient;
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

/// What a `client_credentials` client of [`service`] is.
#[derive(Clone, Copy)]
enum Rs<'a> {
    /// No resource server.
    No,
    /// A resource server of its own audience (its client id).
    Own,
    /// A resource server registered with `--audience`.
    Audience(&'a str),
}

fn service(name: &str, rs: Rs<'_>) -> NewClient {
    NewClient {
        name: name.into(),
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["api:read".into()],
        resource_server: !matches!(rs, Rs::No),
        audience: match rs {
            Rs::Audience(a) => Some(a.to_owned()),
            Rs::No | Rs::Own => None,
        },
        ..NewClient::default()
    }
}

async fn client_credentials(app: &TestApp, c: &TestClient) -> String {
    let t: Value = app
        .http
        .post(app.url("/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    t["access_token"].as_str().unwrap().to_owned()
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
        let snoop = register(&app, service("Another app", Rs::No)).await;
        // Resource server A serves its own audience (its client id).
        let api = register(&app, service("API A", Rs::Own)).await;
        // Resource server B is registered with the server-wide audience.
        let wide = register(&app, service("API B", Rs::Audience(&app.issuer))).await;
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

        // Alice's access token, issued to the relying party, carries the
        // server-wide audience (the issuer): not meant for A, which is told
        // nothing more.
        let (st, body) = introspect(&app, &api, &s.access_token).await;
        assert_eq!(
            (st, body),
            (StatusCode::OK, serde_json::json!({"active": false})),
            "a resource server of its own audience"
        );
        // B, registered with that audience, is told about it.
        let (st, body) = introspect(&app, &wide, &s.access_token).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        assert_eq!(body["active"], true, "{body}");
        assert_eq!(body["aud"], app.issuer.as_str());
        assert_eq!(body["client_id"], rp.id.as_str());
        // Another client's refresh token: described to neither.
        for c in [&api, &wide] {
            let (st, body) = introspect(&app, c, &s.refresh_token).await;
            assert_eq!(
                (st, body),
                (StatusCode::OK, serde_json::json!({"active": false}))
            );
        }
        // A's own client_credentials token: issued to itself, so active for
        // A (and for B, by its server-wide audience), not for another
        // resource server of its own audience.
        let own = client_credentials(&app, &api).await;
        let (_, body) = introspect(&app, &api, &own).await;
        assert_eq!(body["active"], true, "{body}");
        assert_eq!(body["client_id"], api.id.as_str());
        assert_eq!(introspect(&app, &wide, &own).await.1["active"], true);
        let other = register(&app, service("API C", Rs::Own)).await;
        assert_eq!(
            introspect(&app, &other, &own).await.1,
            serde_json::json!({"active": false})
        );

        // `client update ID --audience <server-wide>`: A reads them now.
        let c = crate::security::set_resource_server(&app, &api.id, true, Some(&app.issuer))
            .await
            .unwrap();
        assert_eq!(c.resource_audience.as_deref(), Some(app.issuer.as_str()));
        assert_eq!(
            introspect(&app, &api, &s.access_token).await.1["active"],
            true
        );
        // Bad audiences change nothing.
        for (bad, flag) in [("", true), ("a b", true), ("x\u{7}", true), ("api", false)] {
            let err = crate::security::set_resource_server(&app, &api.id, flag, Some(bad))
                .await
                .unwrap_err();
            assert!(err.to_string().contains("--audience"), "{bad:?}: {err}");
        }
        assert_eq!(
            introspect(&app, &api, &s.access_token).await.1["active"],
            true
        );

        // Withdrawn (`client update --resource-server false`): refused again.
        crate::security::set_resource_server(&app, &api.id, false, None)
            .await
            .unwrap();
        let (st, body) = introspect(&app, &api, &s.access_token).await;
        assert_eq!(
            (st, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("unauthorized_client")),
            "{body}"
        );
        // A public client cannot be made one.
        let err = crate::security::set_resource_server(&app, &spa.id, true, None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("public"), "{err}");
    }
);

both_backends!(
    the_cli_sets_and_withdraws_the_resource_server_and_its_audience,
    |backend| async move {
        use crate::cli::{failed, ok, portcullis};
        let db = crate::helpers::TestDb::new(backend).await;
        let json = |out| -> Value { serde_json::from_str(ok(&out).trim()).unwrap() };
        let create = |extra: &[&'static str]| {
            let mut args = vec![
                "client",
                "create",
                "--name",
                "API",
                "--grant-type",
                "client_credentials",
            ];
            args.extend_from_slice(extra);
            portcullis(&db, &args, None)
        };
        // Its own audience by default: its client id.
        let v = json(create(&["--resource-server", "--json"]));
        assert_eq!(v["resource_server"], true, "{v}");
        assert_eq!(v["resource_audience"], v["client_id"], "{v}");
        let id = v["client_id"].as_str().unwrap().to_owned();
        // Or the one given.
        let v = json(create(&[
            "--resource-server",
            "--audience",
            "https://api.example",
            "--json",
        ]));
        assert_eq!(v["resource_audience"], "https://api.example", "{v}");
        // --audience alone is no resource server.
        let err = failed(&create(&["--audience", "https://api.example"]));
        assert!(err.contains("--resource-server"), "{err}");
        let v = json(create(&["--json"]));
        assert_eq!(
            (&v["resource_server"], &v["resource_audience"]),
            (&Value::Bool(false), &Value::Null),
            "{v}"
        );

        let update = |args: &[&str]| {
            let mut all = vec!["client", "update", id.as_str()];
            all.extend_from_slice(args);
            all.push("--json");
            portcullis(&db, &all, None)
        };
        let v = json(update(&["--audience", "https://as.example"]));
        assert_eq!(v["resource_audience"], "https://as.example", "{v}");
        // true keeps the audience it has.
        let v = json(update(&["--resource-server", "true"]));
        assert_eq!(v["resource_audience"], "https://as.example", "{v}");
        let v = json(update(&["--resource-server", "false"]));
        assert_eq!(v["resource_server"], false, "{v}");
        let show = ok(&portcullis(&db, &["client", "show", &id, "--json"], None));
        let v: Value = serde_json::from_str(show.trim()).unwrap();
        assert_eq!(
            (&v["resource_server"], &v["resource_audience"]),
            (&Value::Bool(false), &Value::Null),
            "stored: {v}"
        );
        // Registered again: its client id.
        let v = json(update(&["--resource-server", "true"]));
        assert_eq!(v["resource_audience"], id.as_str(), "{v}");
        let err = failed(&update(&["--resource-server", "maybe"]));
        assert!(err.contains("--resource-server"), "{err}");
        let err = failed(&update(&["--resource-server", "false", "--audience", "x"]));
        assert!(err.contains("--audience"), "{err}");
        let err = failed(&update(&["--audience", "a b"]));
        assert!(err.contains("--audience"), "{err}");
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
