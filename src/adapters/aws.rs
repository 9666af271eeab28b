//! The one AWS SDK configuration every AWS client of the server is built
//! from (KMS, S3, SQS): the HTTPS client, the timeouts, and where region,
//! credentials and endpoints come from. docs/OPERATIONS.md "AWS".
//!
//! In production: `AWS_REGION`, the standard credentials chain
//! (environment, profile, web identity, container and instance roles) and
//! the standard endpoint overrides (`AWS_ENDPOINT_URL`, or per service
//! `AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_SQS`),
//! loaded once by [`from_environment`]. For an emulator (tests,
//! benchmarks): [`for_emulator`].

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Bounds on every AWS call, so that a hung service fails a request (or a
/// background task's attempt) instead of holding it.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(15))
        .build()
}

/// The HTTPS client of every AWS call (and of the credential providers):
/// hyper 1 with rustls on ring, the TLS stack the rest of the server uses;
/// trusted roots from the platform store. Plain `http://` endpoints (an
/// emulator) work through it too.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The configuration from the standard AWS settings (region, credentials
/// chain, endpoint overrides, the SDK's standard retries), with our HTTPS
/// client and timeouts.
pub async fn from_environment() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(timeouts())
        .load()
        .await
}

/// The configuration for an AWS emulator at `endpoint` (moto in the
/// tests): dummy credentials, region `us-east-1`, no retries (failures are
/// fast). Every service of the emulator is at the one endpoint.
pub fn for_emulator(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .region(Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("test", "test", None, None, "emulator"),
            ),
        )
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts())
        .build()
}

/// What went wrong with an AWS call, for an error message: the service's
/// error code and message, "timed out", or "unreachable (...)" with the
/// cause. Never holds request or response bodies.
pub fn describe_error<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(se) => format!(
            "{}: {}",
            se.err().code().unwrap_or("error"),
            se.err().message().unwrap_or("no message")
        ),
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(_) => format!("unreachable ({})", DisplayErrorContext(err)),
        _ => DisplayErrorContext(err).to_string(),
    }
}
