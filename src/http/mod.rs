//! The HTTP layer: router, middleware, extractors and handlers. Thin:
//! parse, call the protocol layer, render.

pub mod audit;
pub mod cors;
pub mod extractors;
pub mod fast;
pub mod middleware;
pub mod pages;
pub mod rate_limit;
pub mod routes;
pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::routing::{MethodRouter, delete, get, patch, post, put};

use crate::protocol::endpoints::{Endpoint, Listener, Method};
use crate::state::AppState;

/// The service the server runs: the public documents on the fast path
/// ([`fast`]), everything else through [`router`].
pub fn service(state: AppState) -> fast::FastDocuments<Router> {
    let docs = fast::Documents::new(&state);
    fast::FastDocuments::new(router_with(state, &docs.discovery()), docs)
}

/// Builds the public router: every route of the public listener and the
/// common middleware.
pub fn router(state: AppState) -> Router {
    let discovery = routes::discovery::publish(&state);
    router_with(state, &discovery)
}

/// The handler of `endpoint` for `method`: the one place where an entry
/// of the inventory (`protocol::endpoints`) meets its code. `None` for a
/// pair the inventory does not list.
#[allow(clippy::too_many_lines)] // one line per (endpoint, method), read top to bottom
fn handler(
    endpoint: Endpoint,
    method: Method,
    published: &Arc<routes::discovery::Published>,
) -> Option<MethodRouter<AppState>> {
    use Method::{Delete, Get, Patch, Post, Put};
    use routes::admin::{
        clients, events, factors, grants, initial_access_tokens, invitations, keys, resources,
        sessions, users,
    };
    use routes::{
        account, account_security, assets, authorize, device, email, health, introspect, jwks,
        logout, metrics, mfa_login, par, passkeys, password, register, revoke, signup, ssf, token,
        userinfo,
    };
    Some(match (endpoint, method) {
        (Endpoint::Discovery, Get) => routes::discovery::route(published.clone()),
        (Endpoint::Jwks | Endpoint::JwksWellKnown, Get) => get(jwks::get_jwks),
        (Endpoint::Authorize, Get) => get(authorize::get_authorize),
        (Endpoint::Authorize, Post) => post(authorize::post_authorize),
        (Endpoint::Login, Post) => post(authorize::post_login),
        (Endpoint::Consent, Post) => post(authorize::post_consent),
        (Endpoint::Token, Post) => post(token::post_token),
        (Endpoint::UserInfo, Get) => get(userinfo::userinfo),
        (Endpoint::UserInfo, Post) => post(userinfo::userinfo),
        (Endpoint::Revoke, Post) => post(revoke::post_revoke),
        (Endpoint::Introspect, Post) => post(introspect::post_introspect),
        (Endpoint::Logout, Get) => get(logout::logout),
        (Endpoint::Logout, Post) => post(logout::logout),
        (Endpoint::LogoutConfirm, Post) => post(logout::post_logout_confirm),
        (Endpoint::Healthz, Get) => get(health::get_healthz),
        (Endpoint::Readyz, Get) => get(health::get_readyz),
        (Endpoint::Metrics, Get) => get(metrics::get_metrics),
        (Endpoint::Stylesheet, Get) => get(assets::get_css),
        (Endpoint::FormPostScript, Get) => get(assets::get_form_post_js),
        (Endpoint::Register, Post) => post(register::post_register),
        (Endpoint::RegisterClient, Get) => get(register::get_registered_client),
        (Endpoint::RegisterClient, Put) => put(register::put_registered_client),
        (Endpoint::RegisterClient, Delete) => delete(register::delete_registered_client),
        (Endpoint::AdminClients, Get) => get(clients::get_clients),
        (Endpoint::AdminClients, Post) => post(clients::post_clients),
        (Endpoint::AdminClient, Get) => get(clients::get_client),
        (Endpoint::AdminClient, Patch) => patch(clients::patch_client),
        (Endpoint::AdminClient, Delete) => delete(clients::delete_client),
        (Endpoint::AdminClientSecret, Post) => post(clients::post_client_secret),
        (Endpoint::AdminInitialAccessTokens, Get) => {
            get(initial_access_tokens::get_initial_access_tokens)
        }
        (Endpoint::AdminInitialAccessTokens, Post) => {
            post(initial_access_tokens::post_initial_access_tokens)
        }
        (Endpoint::AdminInitialAccessToken, Delete) => {
            delete(initial_access_tokens::delete_initial_access_token)
        }
        (Endpoint::AdminUsers, Get) => get(users::get_users),
        (Endpoint::AdminUsers, Post) => post(users::post_users),
        (Endpoint::AdminUser, Get) => get(users::get_user),
        (Endpoint::AdminUser, Patch) => patch(users::patch_user),
        (Endpoint::AdminUser, Delete) => delete(users::delete_user),
        (Endpoint::AdminUserPassword, Post) => post(users::post_user_password),
        (Endpoint::AdminUserUnlock, Post) => post(users::post_user_unlock),
        (Endpoint::AdminUserSessions, Get) => get(sessions::get_user_sessions),
        (Endpoint::AdminUserSessions, Delete) => delete(sessions::delete_user_sessions),
        (Endpoint::AdminSession, Get) => get(sessions::get_session),
        (Endpoint::AdminSession, Delete) => delete(sessions::delete_session),
        (Endpoint::AdminGrants, Get) => get(grants::get_grants),
        (Endpoint::AdminGrant, Get) => get(grants::get_grant),
        (Endpoint::AdminGrant, Delete) => delete(grants::delete_grant),
        (Endpoint::AdminConsents, Get) => get(grants::get_consents),
        (Endpoint::AdminConsent, Delete) => delete(grants::delete_consent),
        (Endpoint::AdminKeys, Get) => get(keys::get_keys),
        (Endpoint::AdminKeysRotate, Post) => post(keys::post_keys_rotate),
        (Endpoint::AdminKeyRevoke, Post) => post(keys::post_key_revoke),
        (Endpoint::AdminEvents, Get) => get(events::get_events),
        (Endpoint::AdminEventStats, Get) => get(events::get_event_stats),
        (Endpoint::Account, Get) => get(account::get_account),
        (Endpoint::AccountLogin, Post) => post(account::post_account_login),
        (Endpoint::AccountLogout, Post) => post(account::post_account_logout),
        (Endpoint::AccountProfile, Post) => post(account::post_account_profile),
        (Endpoint::AccountEmail, Post) => post(account::post_account_email),
        (Endpoint::AccountPassword, Post) => post(account::post_account_password),
        (Endpoint::AccountSessionEnd, Post) => post(account::post_account_session_end),
        (Endpoint::AccountAppRevoke, Post) => post(account::post_account_app_revoke),
        (Endpoint::PasswordForgot, Get) => get(password::get_forgot),
        (Endpoint::PasswordForgot, Post) => post(password::post_forgot),
        (Endpoint::PasswordReset, Get) => get(password::get_reset),
        (Endpoint::PasswordReset, Post) => post(password::post_reset),
        (Endpoint::EmailVerify, Get) => get(email::get_verify),
        (Endpoint::EmailVerify, Post) => post(email::post_verify),
        (Endpoint::Signup, Get) => get(signup::get_signup),
        (Endpoint::Signup, Post) => post(signup::post_signup),
        (Endpoint::AdminInvitations, Post) => post(invitations::post_invitations),
        (Endpoint::LoginFactor, Post) => post(mfa_login::post_login_factor),
        (Endpoint::LoginPasskeyOptions, Post) => post(passkeys::post_login_passkey_options),
        (Endpoint::LoginPasskey, Post) => post(mfa_login::post_login_passkey),
        (Endpoint::PasskeyScript, Get) => get(passkeys::get_passkey_script),
        (Endpoint::AccountSecurity, Get) => get(account_security::get_account_security),
        (Endpoint::AccountTotp, Post) => post(account_security::post_account_totp),
        (Endpoint::AccountTotpConfirm, Post) => post(account_security::post_account_totp_confirm),
        (Endpoint::AccountTotpRemove, Post) => post(account_security::post_account_totp_remove),
        (Endpoint::AccountRecoveryCodes, Post) => {
            post(account_security::post_account_recovery_codes)
        }
        (Endpoint::AccountPasskeyOptions, Post) => post(passkeys::post_account_passkey_options),
        (Endpoint::AccountPasskeys, Post) => post(passkeys::post_account_passkeys),
        (Endpoint::AccountPasskeyRemove, Post) => post(passkeys::post_account_passkey_remove),
        (Endpoint::AdminUserFactors, Get) => get(factors::get_user_factors),
        (Endpoint::AdminUserFactors, Delete) => delete(factors::delete_user_factors),
        (Endpoint::DeviceAuthorization, Post) => post(device::post_device_authorization),
        (Endpoint::Device, Get) => get(device::get_device),
        (Endpoint::Device, Post) => post(device::post_device),
        (Endpoint::DeviceConsent, Post) => post(device::post_device_consent),
        (Endpoint::AdminResources, Get) => get(resources::get_resources),
        (Endpoint::AdminResources, Post) => post(resources::post_resources),
        (Endpoint::AdminResource, Get) => get(resources::get_resource),
        (Endpoint::AdminResource, Patch) => patch(resources::patch_resource),
        (Endpoint::AdminResource, Delete) => delete(resources::delete_resource),
        (Endpoint::Par, Post) => post(par::post_par),
        (Endpoint::SsfConfiguration, Get) => get(ssf::get_configuration),
        (Endpoint::SsfStream, Get) => get(ssf::read_stream),
        (Endpoint::SsfStream, Post) => post(ssf::create_stream),
        (Endpoint::SsfStream, Patch) => patch(ssf::update_stream),
        (Endpoint::SsfStream, Put) => put(ssf::replace_stream),
        (Endpoint::SsfStream, Delete) => delete(ssf::delete_stream),
        (Endpoint::SsfStatus, Get) => get(ssf::read_status),
        (Endpoint::SsfStatus, Post) => post(ssf::update_status),
        (Endpoint::SsfSubjectsAdd, Post) => post(ssf::add_subject),
        (Endpoint::SsfSubjectsRemove, Post) => post(ssf::remove_subject),
        (Endpoint::SsfVerify, Post) => post(ssf::verify),
        _ => return None,
    })
}

/// The router of the management listener (`PORTCULLIS_MANAGEMENT_LISTEN`):
/// the endpoints the inventory puts there (`/metrics`), with the common
/// middleware.
pub fn management(state: AppState) -> Router {
    let discovery = routes::discovery::publish(&state);
    routes_for(state, &discovery, Listener::Management)
}

fn router_with(state: AppState, published: &Arc<routes::discovery::Published>) -> Router {
    routes_for(state, published, Listener::Public)
}

fn routes_for(
    state: AppState,
    published: &Arc<routes::discovery::Published>,
    listener: Listener,
) -> Router {
    let config = state.config.clone();
    let mut routes = Router::new();
    // Dynamic registration off: its paths are not routed at all, so that
    // they answer like any unknown path (the fallback's 404).
    let registration = config.registration.mode.is_on();
    let signup = config.self_service.signup != crate::config::SignupMode::Off;
    for endpoint in Endpoint::ALL
        .into_iter()
        .filter(|e| e.listener() == listener)
        .filter(|e| registration || !e.is_registration())
        .filter(|e| signup || !e.is_signup())
    {
        let methods = endpoint
            .methods()
            .iter()
            .filter_map(|m| handler(endpoint, *m, published))
            .fold(MethodRouter::new(), MethodRouter::merge);
        // Every admin route behind the admin layer: authorization is not
        // left to each handler to remember.
        let methods = if endpoint.is_admin() {
            methods.route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                routes::admin::require,
            ))
        } else {
            methods
        };
        routes = routes.route(endpoint.path(), methods);
    }
    let routes = routes.fallback(routes::health::not_found).with_state(state);
    middleware::apply(routes, &config)
}
