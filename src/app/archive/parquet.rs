//! The archive's file format: events as one Parquet file (zstd), with
//! typed columns for the common fields and the details as a JSON object.
//! docs/EVENTS.md, "Archive", documents each column; [`SCHEMA_VERSION`]
//! names this layout in every manifest.
//!
//! The output is deterministic: the same events in the same order give the
//! same bytes (no timestamps or random ids in the file), so archiving an
//! hour again writes the same object.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, ListArray, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::DateTime;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::domain::event::{Event, EventParts};
use crate::ports::ArchiveError;

/// The version of the column layout below (the manifests' `schema_version`).
pub const SCHEMA_VERSION: u32 = 1;

/// Rows per Parquet row group.
const ROW_GROUP: usize = 65_536;

/// The nullable text columns, in schema order after `outcome`.
const OPTIONAL_TEXT: [&str; 8] = [
    "client_id",
    "subject",
    "session_id",
    "grant_type",
    "error_code",
    "ip",
    "user_agent",
    "request_id",
];

/// The Arrow schema of the file (docs/EVENTS.md, "Parquet schema").
pub fn schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new(
            "occurred_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("kind", DataType::Utf8, false),
        Field::new("outcome", DataType::Utf8, false),
    ];
    fields.extend(
        OPTIONAL_TEXT
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true)),
    );
    fields.push(Field::new(
        "scopes",
        DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
        false,
    ));
    fields.push(Field::new("details", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

fn corrupt(what: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Corrupt(format!("Parquet: {what}"))
}

fn optional_text(e: &Event, column: &str) -> Option<String> {
    match column {
        "client_id" => e.client_id().map(str::to_owned),
        "subject" => e.subject_id().map(str::to_owned),
        "session_id" => e.session_id().map(str::to_owned),
        "grant_type" => e.grant_type_str().map(str::to_owned),
        "error_code" => e.error_code().map(str::to_owned),
        "ip" => e.ip().map(|ip| ip.to_string()),
        "user_agent" => e.user_agent().map(str::to_owned),
        "request_id" => e.request_id().map(str::to_owned),
        _ => None,
    }
}

/// The events as one zstd-compressed Parquet file, in the order given.
pub fn encode(events: &[Event]) -> Result<Vec<u8>, ArchiveError> {
    let text = |f: &dyn Fn(&Event) -> String| -> ArrayRef {
        Arc::new(events.iter().map(|e| Some(f(e))).collect::<StringArray>())
    };
    let mut columns: Vec<ArrayRef> = vec![
        text(&|e| e.event_id().to_string()),
        Arc::new(
            TimestampMillisecondArray::from(
                events
                    .iter()
                    .map(|e| e.occurred_at().timestamp_millis())
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        text(&|e| e.kind().as_str().to_owned()),
        text(&|e| e.outcome_value().as_str().to_owned()),
    ];
    for column in OPTIONAL_TEXT {
        columns.push(Arc::new(
            events
                .iter()
                .map(|e| optional_text(e, column))
                .collect::<StringArray>(),
        ));
    }
    let mut scopes = ListBuilder::new(StringBuilder::new());
    for e in events {
        for s in e.scope_list() {
            scopes.values().append_value(s);
        }
        scopes.append(true);
    }
    columns.push(Arc::new(scopes.finish()));
    let mut details = Vec::with_capacity(events.len());
    for e in events {
        details.push(Some(
            serde_json::to_string(e.detail_map()).map_err(corrupt)?,
        ));
    }
    columns.push(Arc::new(StringArray::from(details)));

    let batch = RecordBatch::try_new(schema(), columns).map_err(corrupt)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .set_created_by(format!("portcullis event archive v{SCHEMA_VERSION}"))
        .build();
    let mut writer =
        ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props)).map_err(corrupt)?;
    writer.write(&batch).map_err(corrupt)?;
    writer.into_inner().map_err(corrupt)
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, ArchiveError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| corrupt(format!("column {name} is missing or has another type")))
}

fn value(a: &StringArray, i: usize) -> Option<String> {
    (!a.is_null(i)).then(|| a.value(i).to_owned())
}

/// Reads a file [`encode`] wrote back into events, in file order.
pub fn decode(bytes: Vec<u8>) -> Result<Vec<Event>, ArchiveError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(corrupt)?
        .build()
        .map_err(corrupt)?;
    let mut events = Vec::new();
    for batch in reader {
        let batch = batch.map_err(corrupt)?;
        let ids = column::<StringArray>(&batch, "event_id")?;
        let at = column::<TimestampMillisecondArray>(&batch, "occurred_at")?;
        let kinds = column::<StringArray>(&batch, "kind")?;
        let outcomes = column::<StringArray>(&batch, "outcome")?;
        let mut optional = BTreeMap::new();
        for name in OPTIONAL_TEXT {
            optional.insert(name, column::<StringArray>(&batch, name)?);
        }
        let scopes = column::<ListArray>(&batch, "scopes")?;
        let details = column::<StringArray>(&batch, "details")?;
        let opt = |name: &str, i: usize| optional.get(name).and_then(|a| value(a, i));
        for i in 0..batch.num_rows() {
            let scope_values = scopes.value(i);
            let scope_values = scope_values
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| corrupt("scopes are not text"))?;
            events.push(Event::from_parts(EventParts {
                event_id: ids.value(i).parse().map_err(corrupt)?,
                occurred_at: DateTime::from_timestamp_millis(at.value(i))
                    .ok_or_else(|| corrupt("occurred_at out of range"))?,
                kind: kinds.value(i).parse().map_err(corrupt)?,
                client_id: opt("client_id", i),
                subject: opt("subject", i),
                session_id: opt("session_id", i),
                scopes: (0..scope_values.len())
                    .map(|j| scope_values.value(j).to_owned())
                    .collect(),
                grant_type: opt("grant_type", i),
                outcome: outcomes.value(i).parse().map_err(corrupt)?,
                error_code: opt("error_code", i),
                ip: opt("ip", i)
                    .map(|ip| ip.parse())
                    .transpose()
                    .map_err(corrupt)?,
                user_agent: opt("user_agent", i),
                request_id: opt("request_id", i),
                detail: serde_json::from_str(details.value(i)).map_err(corrupt)?,
            }));
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{DetailKey, EventKind, EventStamp, LoginFailureReason, Outcome};
    use crate::domain::{ClientId, GrantType, ScopeSet, UserId};
    use chrono::TimeZone;

    fn events() -> Vec<Event> {
        let at = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 13, 5, 7).unwrap();
        let client = ClientId::parse("billing").unwrap();
        vec![
            Event::token_issued(
                EventStamp::new(at, [1; 10]),
                &client,
                GrantType::AuthorizationCode,
                &[crate::domain::event::TokenKind::AccessToken],
                &ScopeSet::parse("openid profile").unwrap(),
            )
            .subject(&UserId::new("alice"))
            .session("sid-1")
            .request(
                Some("2001:db8::7".parse().unwrap()),
                Some("Mozilla/5.0 \"quoted\""),
                Some("req-1"),
            ),
            Event::login_failed(
                EventStamp::new(at, [2; 10]),
                LoginFailureReason::BadPassword,
            )
            .detail(DetailKey::Reason, "bad_password"),
            Event::new(EventKind::Logout, EventStamp::new(at, [3; 10])).outcome(Outcome::Failure),
        ]
    }

    #[test]
    fn events_survive_the_round_trip_field_for_field() {
        let events = events();
        let bytes = encode(&events).unwrap();
        assert_eq!(&bytes[..4], b"PAR1");
        assert_eq!(decode(bytes).unwrap(), events);
    }

    #[test]
    fn the_same_events_give_the_same_bytes() {
        assert_eq!(encode(&events()).unwrap(), encode(&events()).unwrap());
    }

    #[test]
    fn an_empty_file_decodes_to_nothing() {
        assert!(decode(encode(&[]).unwrap()).unwrap().is_empty());
    }

    #[test]
    fn garbage_is_reported_as_corrupt() {
        assert!(matches!(
            decode(b"not parquet".to_vec()),
            Err(ArchiveError::Corrupt(_))
        ));
    }

    #[test]
    fn the_columns_are_compressed_with_zstd() {
        use parquet::file::reader::FileReader as _;
        let bytes = encode(&events()).unwrap();
        let reader =
            parquet::file::serialized_reader::SerializedFileReader::new(bytes::Bytes::from(bytes))
                .unwrap();
        let meta = reader.metadata();
        for c in meta.row_group(0).columns() {
            assert!(
                matches!(c.compression(), Compression::ZSTD(_)),
                "{:?}",
                c.column_path()
            );
        }
    }
}
