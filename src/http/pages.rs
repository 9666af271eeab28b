//! Hosted pages (askama): login, consent and the form-post response.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::error::no_store;

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    /// Application name.
    pub client_name: &'a str,
    /// The carried authorization request.
    pub request: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// Pre-filled username.
    pub username: &'a str,
    /// Error message.
    pub message: Option<&'a str>,
}

/// One line of the consent page.
pub struct ScopeLine {
    /// Plain-words description.
    pub text: String,
    /// The scope value.
    pub scope: String,
}

/// The consent page.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    /// Application name.
    pub client_name: &'a str,
    /// Signed-in user.
    pub username: &'a str,
    /// What is asked.
    pub lines: Vec<ScopeLine>,
    /// The carried authorization request.
    pub request: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
}

/// The OAuth 2.0 Form Post Response Mode page.
#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostPage<'a> {
    /// The client's redirect URI.
    pub action: &'a str,
    /// Response parameters.
    pub fields: &'a [(&'static str, String)],
}

/// Plain words for a scope, one line per scope and its claims.
pub fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Confirm who you are (your account identifier)".to_owned(),
        "profile" => "See your name and basic profile (name, username)".to_owned(),
        "email" => "See your e-mail address and whether it is verified".to_owned(),
        "offline_access" => "Keep access when you are not using the application".to_owned(),
        "address" => "See your postal address".to_owned(),
        "phone" => "See your phone number".to_owned(),
        other => format!("Use the permission \u{201c}{other}\u{201d}"),
    }
}

/// Renders a page with `no-store` and the pages' CSP.
pub fn html(
    status: StatusCode,
    body: Result<String, askama::Error>,
    csp: Option<String>,
) -> Response {
    let Ok(body) = body else {
        tracing::error!("page rendering failed");
        return crate::error::render_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The page could not be shown. Try again later.",
        );
    };
    let mut resp = (status, Html(body)).into_response();
    no_store(&mut resp);
    if let Some(v) = csp.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// The origin to allow in `form-action` for a form post to `uri`.
pub fn form_action_source(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u.origin().ascii_serialization(),
        Ok(u) => format!("{}:", u.scheme()),
        Err(_) => "'none'".to_owned(),
    }
}
