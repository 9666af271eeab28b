//! Admin API tests: grants and consents (issue 15 item 1). Revoking goes
//! through the one grant-revocation operation, so every token of the grant
//! stops working: the refresh token gets `invalid_grant`, the access token
//! 401 at /userinfo.

use portcullis::app::operator::NewClient;
use portcullis::domain::event::EventKind;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::sessions::online_access_token;
use super::users::{actions, alice_id, refresh, userinfo_status};
use super::{admin_token, call, read_token};
use crate::both_backends;
use crate::flow;
use crate::helpers::{TestApp, spawn_app_recording};

async fn list(app: &TestApp, token: &str, path: &str) -> Vec<Value> {
    let (status, body) = call(app, Method::GET, path, token, None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body["items"].as_array().unwrap().clone()
}

both_backends!(
    grants_are_listed_by_user_or_client_and_revoked_with_every_token,
    |backend| async move {
        let (app, sink) = spawn_app_recording(backend).await;
        let s = flow::sign_in(&app).await;
        let online = online_access_token(&app, &s).await;
        let id = alice_id(&app).await;
        let token = admin_token(&app).await;
        let reader = read_token(&app).await;

        // At least one filter, well formed.
        for bad in [
            "/admin/v1/grants",
            "/admin/v1/grants?client_id=not%20a%20client",
            "/admin/v1/grants?user_id=",
            "/admin/v1/grants?user_id=a&user_id=b",
            "/admin/v1/grants?user_id=x&limit=0",
        ] {
            let (status, body) = call(&app, Method::GET, bad, &reader, None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
            assert_eq!(body["error"], "invalid_request");
        }

        let by_user = list(&app, &reader, &format!("/admin/v1/grants?user_id={id}")).await;
        assert_eq!(by_user.len(), 2, "{by_user:?}");
        let by_client = list(
            &app,
            &reader,
            &format!("/admin/v1/grants?client_id={}", s.client.id),
        )
        .await;
        assert_eq!(by_client, by_user);
        let both = list(
            &app,
            &reader,
            &format!("/admin/v1/grants?client_id={}&user_id={id}", s.client.id),
        )
        .await;
        assert_eq!(both, by_user);
        assert!(
            list(&app, &reader, "/admin/v1/grants?user_id=somebody-else")
                .await
                .is_empty()
        );
        // Paged.
        let (_, first) = call(
            &app,
            Method::GET,
            &format!("/admin/v1/grants?user_id={id}&limit=1"),
            &reader,
            None,
        )
        .await;
        let cursor = first["next_cursor"].as_str().unwrap();
        let (_, second) = call(
            &app,
            Method::GET,
            &format!("/admin/v1/grants?user_id={id}&limit=1&cursor={cursor}"),
            &reader,
            None,
        )
        .await;
        assert_eq!(
            vec![first["items"][0].clone(), second["items"][0].clone()],
            by_user
        );

        // The offline grant is the one whose scope has offline_access.
        let offline = by_user
            .iter()
            .find(|g| g["scope"].as_str().unwrap().contains("offline_access"))
            .unwrap();
        let gid = offline["grant_id"].as_str().unwrap().to_owned();
        assert_eq!(offline["user_id"], id.as_str());
        assert_eq!(offline["client_id"], s.client.id.as_str());
        assert_eq!(offline["revoked_at"], Value::Null);
        let path = format!("/admin/v1/grants/{gid}");
        let (status, shown) = call(&app, Method::GET, &path, &reader, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&shown, offline);

        let (status, _) = call(&app, Method::DELETE, &path, &reader, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(userinfo_status(&app, &s.access_token).await, StatusCode::OK);
        let (status, _) = call(&app, Method::DELETE, &path, &token, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            userinfo_status(&app, &s.access_token).await,
            StatusCode::UNAUTHORIZED,
            "the access token of the revoked grant"
        );
        assert_eq!(refresh(&app, &s).await.1["error"], "invalid_grant");
        // The other grant is untouched.
        assert_eq!(userinfo_status(&app, &online).await, StatusCode::OK);

        let (_, shown) = call(&app, Method::GET, &path, &reader, None).await;
        assert!(shown["revoked_at"].is_string(), "{shown}");
        assert_eq!(
            list(&app, &reader, &format!("/admin/v1/grants?user_id={id}"))
                .await
                .len(),
            1,
            "live grants only"
        );
        // Revoking again changes nothing and says so; unknown ids are 404.
        let (status, _) = call(&app, Method::DELETE, &path, &token, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        for unknown in [
            "/admin/v1/grants/nope",
            "/admin/v1/grants/0190e000-0000-4000-8000-000000000000",
        ] {
            let (status, _) = call(&app, Method::DELETE, unknown, &token, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
            let (status, _) = call(&app, Method::GET, unknown, &token, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
        }
        assert_eq!(
            actions(&sink)
                .into_iter()
                .filter(|(a, _)| a == "grant_revoked")
                .collect::<Vec<_>>(),
            [("grant_revoked".to_owned(), gid)],
            "one event, for the change"
        );
    }
);

both_backends!(
    consents_are_listed_and_revoked_with_their_grants,
    |backend| async move {
        let (app, sink) = spawn_app_recording(backend).await;
        let s = flow::sign_in(&app).await;
        let online = online_access_token(&app, &s).await;
        let id = alice_id(&app).await;
        // A second client alice consented to: untouched by the revocation.
        let other = flow::register(
            &app,
            NewClient {
                name: "Other".into(),
                redirect_uris: vec![flow::REDIRECT.into()],
                grant_types: vec!["authorization_code".into()],
                ..NewClient::default()
            },
        )
        .await;
        // alice's browser is signed in: the consent page comes at once.
        let html = flow::get_authorize(&app, &flow::query(&other.id, &[]))
            .await
            .text()
            .await
            .unwrap();
        let p = flow::redirect_params(&flow::consent(&app, &html, "allow").await);
        assert!(flow::param(&p, "code").is_some());
        let token = admin_token(&app).await;
        let reader = read_token(&app).await;

        for bad in [
            "/admin/v1/consents",
            "/admin/v1/consents?client_id=%20",
            "/admin/v1/consents?user_id=x&user_id=y",
        ] {
            let (status, _) = call(&app, Method::GET, bad, &reader, None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        }
        let mine = list(&app, &reader, &format!("/admin/v1/consents?user_id={id}")).await;
        assert_eq!(mine.len(), 2, "{mine:?}");
        let rp = list(
            &app,
            &reader,
            &format!("/admin/v1/consents?client_id={}", s.client.id),
        )
        .await;
        assert_eq!(rp.len(), 1);
        assert_eq!(rp[0]["user_id"], id.as_str());
        assert_eq!(rp[0]["client_id"], s.client.id.as_str());
        assert!(rp[0]["scope"].as_str().unwrap().contains("offline_access"));
        assert!(rp[0]["created_at"].is_string());

        let path = format!("/admin/v1/consents/{id}/{}", s.client.id);
        let (status, _) = call(&app, Method::DELETE, &path, &reader, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = call(&app, Method::DELETE, &path, &token, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        // Every grant of alice and RP went with it, offline or not.
        assert_eq!(refresh(&app, &s).await.1["error"], "invalid_grant");
        assert_eq!(
            userinfo_status(&app, &s.access_token).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            userinfo_status(&app, &online).await,
            StatusCode::UNAUTHORIZED
        );
        assert!(
            list(
                &app,
                &reader,
                &format!("/admin/v1/grants?client_id={}", s.client.id)
            )
            .await
            .is_empty()
        );
        assert_eq!(
            list(
                &app,
                &reader,
                &format!("/admin/v1/grants?client_id={}", other.id)
            )
            .await
            .len(),
            1,
            "the other client's grant lives"
        );
        let mine = list(&app, &reader, &format!("/admin/v1/consents?user_id={id}")).await;
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0]["client_id"], other.id.as_str());
        // The next authorization asks again.
        let resp = flow::get_authorize(&app, &s.query).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(
            resp.text()
                .await
                .unwrap()
                .contains("wants to access your account")
        );

        let (status, _) = call(&app, Method::DELETE, &path, &token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "nothing left to revoke");
        for unknown in [
            format!("/admin/v1/consents/{id}/not-a-client!"),
            format!("/admin/v1/consents/nobody/{}", s.client.id),
        ] {
            let (status, _) = call(&app, Method::DELETE, &unknown, &token, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
        }
        assert_eq!(
            actions(&sink)
                .into_iter()
                .filter(|(a, _)| a == "consent_revoked")
                .collect::<Vec<_>>(),
            [(
                "consent_revoked".to_owned(),
                format!("{id}:{}", s.client.id)
            )]
        );
        let revoked = sink.of_kind(EventKind::ConsentRevoked);
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0].subject_id(), Some(id.as_str()));
        assert_eq!(revoked[0].client_id(), Some(s.client.id.as_str()));
    }
);
