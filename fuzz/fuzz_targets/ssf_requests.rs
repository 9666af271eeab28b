//! The Shared Signals stream management API's request bodies (SSF 1.0
//! §8), as `protocol::ssf` reads them after the JSON is parsed: a stream
//! request for each operation, a status, a verification and a subject
//! request. Whatever is accepted keeps the limits the rules promise and
//! carries no control character (a NUL cannot be stored in PostgreSQL).

#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::domain::destination::check_outbound_url;
use portcullis::protocol::ssf::{
    StatusRequest, StreamOp, StreamRequest, SubjectRef, parse_subject_request, parse_verification,
};
use serde_json::Value;

const ISSUER: &str = "https://id.example";

fn clean(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

fn check_stream(body: &Value, op: StreamOp) {
    let Ok(req) = StreamRequest::parse(body, op, false) else {
        return;
    };
    if let Some(url) = &req.endpoint_url {
        assert!(check_outbound_url(url, false).is_ok(), "{url:?}");
    }
    if let Some(h) = &req.authorization_header {
        assert!(!h.is_empty() && h.len() <= 4096);
        assert!(h.bytes().all(|b| (0x20..0x7f).contains(&b)), "{h:?}");
    }
    if let Some(events) = &req.events_requested {
        assert!(events.len() <= 32);
        assert!(
            events
                .iter()
                .all(|e| !e.is_empty() && e.len() <= 512 && clean(e))
        );
    }
    if let Some(d) = &req.description {
        assert!(d.chars().count() <= 256 && clean(d));
    }
    match op {
        StreamOp::Create => {
            assert!(req.stream_id.is_none() && req.endpoint_url.is_some());
            assert!(req.transmitter_supplied.is_empty());
        }
        StreamOp::Update | StreamOp::Replace => {
            assert!(req.stream_id.as_deref().is_some_and(clean));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for op in [StreamOp::Create, StreamOp::Update, StreamOp::Replace] {
        check_stream(&body, op);
    }
    if let Ok(s) = StatusRequest::parse(&body) {
        assert!(clean(&s.stream_id));
        assert!(
            s.reason
                .as_deref()
                .is_none_or(|r| r.chars().count() <= 256 && clean(r))
        );
    }
    if let Ok((id, state)) = parse_verification(&body) {
        assert!(clean(&id));
        assert!(state.as_deref().is_none_or(|s| s.len() <= 1024 && clean(s)));
    }
    if let Ok((id, subject)) = parse_subject_request(&body, ISSUER) {
        assert!(clean(&id));
        let (SubjectRef::Sub(v) | SubjectRef::Email(v)) = subject;
        assert!(!v.is_empty() && v.len() <= 320 && clean(&v), "{v:?}");
    }
});
