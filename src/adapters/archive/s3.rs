//! [`ObjectStore`] over an S3 bucket (`aws-sdk-s3`, built from the one AWS
//! SDK configuration, [`crate::adapters::aws`], as the KMS client is).

use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

use crate::adapters::aws;
use crate::ports::{ArchiveError, ObjectInfo, ObjectStore};

fn client_from(sdk: &aws_config::SdkConfig, path_style: bool) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A client from the standard AWS settings ([`aws::from_environment`]:
/// `AWS_REGION`, the credentials chain, `AWS_ENDPOINT_URL` /
/// `AWS_ENDPOINT_URL_S3`, the SDK's standard retries).
pub async fn client_from_environment() -> aws_sdk_s3::Client {
    client_from(&aws::from_environment().await, false)
}

/// A client for an S3 emulator at `endpoint` (tests: [`aws::for_emulator`],
/// path-style addressing, as an emulator on one address needs).
pub fn client_for_emulator(endpoint: &str) -> aws_sdk_s3::Client {
    client_from(&aws::for_emulator(endpoint), true)
}

/// One S3 bucket.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3ObjectStore {
    /// The bucket `bucket` through `client`.
    pub fn new(client: aws_sdk_s3::Client, bucket: &str) -> Self {
        Self {
            client,
            bucket: bucket.to_owned(),
        }
    }

    /// An S3 failure as an [`ArchiveError`] naming the operation and the
    /// object.
    fn failed<E, R>(&self, op: &str, key: &str, err: &SdkError<E, R>) -> ArchiveError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let what = aws::describe_error(err);
        ArchiveError::Unavailable(format!("S3 {op} s3://{}/{key}: {what}", self.bucket))
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), ArchiveError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.failed("PutObject", key, &e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(SdkError::ServiceError(se)) if se.err().is_no_such_key() => return Ok(None),
            Err(e) => return Err(self.failed("GetObject", key, &e)),
        };
        let body = out.body.collect().await.map_err(|e| {
            ArchiveError::Unavailable(format!(
                "S3 GetObject s3://{}/{key}: reading the body: {e}",
                self.bucket
            ))
        })?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    async fn delete(&self, key: &str) -> Result<(), ArchiveError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.failed("DeleteObject", key, &e))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ArchiveError> {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.failed("ListObjectsV2", prefix, &e))?;
            for o in page.contents() {
                if let Some(key) = o.key() {
                    found.push(ObjectInfo {
                        key: key.to_owned(),
                        size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                    });
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    fn location(&self) -> String {
        format!("s3://{}", self.bucket)
    }
}
