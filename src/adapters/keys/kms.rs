//! The AWS KMS client shared by the two KMS back ends, and how its errors
//! become [`KeyError`]s.

use std::time::Duration;

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::ports::KeyError;

/// Bounds on every KMS call, so that a hung KMS fails a request instead of
/// holding it until the request timeout.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(15))
        .build()
}

/// A client from the standard AWS settings: `AWS_REGION`, the credentials
/// chain, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_KMS` for an emulator, the
/// SDK's standard retries.
pub async fn client_from_environment() -> aws_sdk_kms::Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await;
    let config = aws_sdk_kms::config::Builder::from(&sdk)
        .interceptor(super::kms_metrics::KmsMetrics)
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

/// A client for a KMS emulator at `endpoint` (tests, benchmarks): dummy
/// credentials, region `us-east-1`, and no retries, so that failures are
/// fast.
pub fn client_for_emulator(endpoint: &str) -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "emulator"))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts())
        .interceptor(super::kms_metrics::KmsMetrics)
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

/// A KMS failure: the dependency is failing, so the request may succeed
/// later (`temporarily_unavailable`). The message names the operation, the
/// key and KMS's error code; it never holds key material.
pub fn kms_error<E, R>(op: &str, key_id: &str, err: &SdkError<E, R>) -> KeyError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let what = match err {
        SdkError::ServiceError(se) => format!(
            "{}: {}",
            se.err().code().unwrap_or("error"),
            se.err().message().unwrap_or("no message")
        ),
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(_) => {
            format!("unreachable ({})", DisplayErrorContext(err))
        }
        _ => DisplayErrorContext(err).to_string(),
    };
    KeyError::Unavailable(format!("KMS {op} with key {key_id}: {what}"))
}
