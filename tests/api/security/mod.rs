//! The security suite (issue "Security hardening, round two"): one file per
//! rule, so that a reviewer can read them together. docs/SECURITY.md maps
//! each invariant to its tests here.

mod client_assertions;
mod connections;
mod consent;
mod csrf;
mod housekeeping;
mod id_token_hint;
mod introspection_access;
mod login_throttle;
mod logout_browser;
mod metrics_listener;
mod outbound;
mod reauthentication;
mod revocation_reach;

/// `client update ID --resource-server FLAG [--audience A]` as the CLI and
/// `PATCH /admin/v1/clients/{id}` do it: the one client update
/// (`app::clients::patched` then `update_client`).
pub(crate) async fn set_resource_server(
    app: &crate::helpers::TestApp,
    id: &str,
    resource_server: bool,
    audience: Option<&str>,
) -> Result<portcullis::domain::Client, portcullis::app::operator::OperatorError> {
    use portcullis::app::client_metadata::ClientMetadata;
    use portcullis::app::clients;
    let store = app.state.store.as_ref();
    let existing = clients::find_client(store, id).await?;
    let metadata = clients::patched(
        &existing,
        ClientMetadata {
            resource_server: Some(resource_server),
            audience: audience.map(str::to_owned),
            ..ClientMetadata::default()
        },
    );
    clients::update_client(
        store,
        &portcullis::adapters::system::SystemClock,
        id,
        metadata,
        app.state.config.outbound.allow_insecure,
    )
    .await
}
