//! The security-alert queue on Amazon SQS ([`AlertQueue`]): one
//! `SendMessage` per alert, the body the signed SET. The client is built
//! from the one AWS SDK configuration ([`aws`]) that KMS uses too.
//!
//! Deduplication by the event id: a FIFO queue (its URL ends in `.fifo`)
//! gets it as `MessageDeduplicationId` (SQS drops a copy sent within five
//! minutes) with `MessageGroupId` [`GROUP_ID`]; a standard queue, which
//! has no deduplication, gets it as the message attribute
//! [`DEDUP_ATTRIBUTE`] for the consumer. Every message also carries the
//! event type URI as the attribute [`EVENT_TYPE_ATTRIBUTE`].

use async_trait::async_trait;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::MessageAttributeValue;

use crate::adapters::aws;
use crate::ports::{AlertMessage, AlertQueue, AlertQueueError};

/// The `MessageGroupId` of every alert on a FIFO queue: one group, so the
/// consumer sees alerts in the order they were sent.
pub const GROUP_ID: &str = "portcullis-security-alerts";
/// The message attribute holding the deduplication id (the event id).
pub const DEDUP_ATTRIBUTE: &str = "dedup_id";
/// The message attribute holding the SET's event type URI.
pub const EVENT_TYPE_ATTRIBUTE: &str = "event_type";

/// An SQS client from the standard AWS settings ([`aws::from_environment`]:
/// `AWS_REGION`, the credentials chain, `AWS_ENDPOINT_URL` /
/// `AWS_ENDPOINT_URL_SQS`).
pub async fn client_from_environment() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&aws::from_environment().await)
}

/// An SQS client for an emulator at `endpoint` (tests:
/// [`aws::for_emulator`]).
pub fn client_for_emulator(endpoint: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&aws::for_emulator(endpoint))
}

/// Sends alerts to one SQS queue.
pub struct SqsAlertQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    fifo: bool,
}

impl SqsAlertQueue {
    /// The queue at `queue_url` (`PORTCULLIS_ALERTS_SQS_QUEUE_URL`) through
    /// `client`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: &str) -> Self {
        Self {
            client,
            // SQS names FIFO queues with this suffix, lower case.
            #[allow(clippy::case_sensitive_file_extension_comparisons)] // a queue name, not a file
            fifo: queue_url.ends_with(".fifo"),
            queue_url: queue_url.to_owned(),
        }
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, AlertQueueError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| AlertQueueError::Refused(e.to_string()))
}

fn sqs_error<E, R>(err: &SdkError<E, R>) -> AlertQueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(se) => AlertQueueError::Refused(format!(
            "{}: {}",
            se.err().code().unwrap_or("error"),
            se.err().message().unwrap_or("no message")
        )),
        SdkError::TimeoutError(_) => AlertQueueError::Unavailable("timed out".into()),
        _ => AlertQueueError::Unavailable(DisplayErrorContext(err).to_string()),
    }
}

#[async_trait]
impl AlertQueue for SqsAlertQueue {
    async fn send(&self, message: &AlertMessage) -> Result<(), AlertQueueError> {
        let mut send = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(&message.set)
            .message_attributes(EVENT_TYPE_ATTRIBUTE, attribute(&message.event_type)?)
            .message_attributes(DEDUP_ATTRIBUTE, attribute(&message.dedup_id)?);
        if self.fifo {
            send = send
                .message_deduplication_id(&message.dedup_id)
                .message_group_id(GROUP_ID);
        }
        send.send().await.map(|_| ()).map_err(|e| sqs_error(&e))
    }
}
