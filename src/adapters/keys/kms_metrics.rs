//! Counts and times every AWS KMS call (`portcullis_kms_calls_total`,
//! `portcullis_kms_call_seconds`) with an SDK interceptor on the KMS client,
//! so that each call site needs nothing and new calls are covered too.

use std::time::Instant;

use aws_sdk_kms::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// When the current call started.
#[derive(Debug, Clone, Copy)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

/// The interceptor: records [`crate::metrics::kms_call`] once per call
/// (after retries), with the operation name and whether it succeeded.
#[derive(Debug, Clone, Copy)]
pub struct KmsMetrics;

impl Intercept for KmsMetrics {
    fn name(&self) -> &'static str {
        "PortcullisKmsMetrics"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let elapsed = cfg
            .load::<Started>()
            .map(|s| s.0.elapsed())
            .unwrap_or_default();
        let op = cfg
            .load::<Metadata>()
            .map_or("other", |m| op_label(m.name()));
        let ok = matches!(context.output_or_error(), Some(Ok(_)));
        crate::metrics::kms_call(op, ok, elapsed);
        Ok(())
    }
}

/// A fixed label per operation (labels must be `'static` and bounded).
fn op_label(name: &str) -> &'static str {
    const OPS: &[&str] = &[
        "Sign",
        "Verify",
        "GetPublicKey",
        "Encrypt",
        "Decrypt",
        "GenerateDataKey",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "DescribeKey",
        "CreateKey",
        "CreateAlias",
        "ListKeys",
        "ListAliases",
    ];
    OPS.iter()
        .find(|op| **op == name)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_map_to_fixed_labels() {
        assert_eq!(op_label("Sign"), "Sign");
        assert_eq!(op_label("GenerateDataKeyPair"), "GenerateDataKeyPair");
        assert_eq!(op_label("SomethingNew"), "other");
    }
}
