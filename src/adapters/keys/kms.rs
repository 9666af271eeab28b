//! The AWS KMS client shared by the two KMS back ends, and how its errors
//! become [`KeyError`]s.

use std::time::Duration;

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

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

/// The HTTPS client of every KMS call (and of the credential providers):
/// hyper 1 with rustls on ring, the TLS stack the rest of the server uses;
/// trusted roots from the platform store. Plain `http://` endpoints (an
/// emulator) work through it too.
fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// A client from the standard AWS settings: `AWS_REGION`, the credentials
/// chain, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_KMS` for an emulator, the
/// SDK's standard retries.
pub async fn client_from_environment() -> aws_sdk_kms::Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
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
        .http_client(https_client())
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

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt as _;

    use super::*;

    /// An `https://` endpoint gets a TLS handshake: the first bytes the
    /// server sees are a TLS handshake record (0x16) of a ClientHello, so a
    /// TLS connector is configured (KMS in production is https only).
    #[tokio::test]
    async fn https_endpoints_are_spoken_to_in_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 6];
            conn.read_exact(&mut head).await.unwrap();
            head
        });
        let client = client_for_emulator(&format!("https://{addr}"));
        let sent = client.list_keys().send().await;
        assert!(sent.is_err(), "no TLS server here");
        let head = server.await.unwrap();
        assert_eq!(head[0], 0x16, "a TLS handshake record, got {head:?}");
        assert_eq!(head[5], 0x01, "a ClientHello, got {head:?}");
    }
}
