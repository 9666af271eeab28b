//! The AWS KMS client shared by the two KMS back ends, and how its errors
//! become [`KeyError`]s.

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};

use crate::adapters::aws;
use crate::ports::KeyError;

fn client_from(sdk: &aws_config::SdkConfig) -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::config::Builder::from(sdk)
        .interceptor(super::kms_metrics::KmsMetrics)
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

/// A client from the standard AWS settings ([`aws::from_environment`]:
/// `AWS_REGION`, the credentials chain, `AWS_ENDPOINT_URL` /
/// `AWS_ENDPOINT_URL_KMS` for an emulator, the SDK's standard retries).
pub async fn client_from_environment() -> aws_sdk_kms::Client {
    client_from(&aws::from_environment().await)
}

/// A client for a KMS emulator at `endpoint` (tests, benchmarks:
/// [`aws::for_emulator`]).
pub fn client_for_emulator(endpoint: &str) -> aws_sdk_kms::Client {
    client_from(&aws::for_emulator(endpoint))
}

/// A KMS failure: the dependency is failing, so the request may succeed
/// later (`temporarily_unavailable`). The message names the operation, the
/// key and KMS's error code; it never holds key material.
pub fn kms_error<E, R>(op: &str, key_id: &str, err: &SdkError<E, R>) -> KeyError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let what = aws::describe_error(err);
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
