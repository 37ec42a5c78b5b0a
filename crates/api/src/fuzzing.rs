//! The entry point `cargo fuzz` drives (`crates/api/fuzz`): every JSON body the API
//! accepts goes through the same parsing and field rules as in a request, and no input
//! may panic. Kept in the library so the fuzz target sees exactly the code that runs.

use axum::body::Bytes;

use crate::dto::{ApplicationIn, EndpointIn, EndpointPatch, EventTypeIn, MessageIn, RecoverIn};
use crate::extract::parse_json;
use crate::validate;

/// Parses `data` as each request body and applies the field rules to what parses.
pub fn json_inputs(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(app) = parse_json::<ApplicationIn>(&bytes) {
        let _ = validate::text("name", &app.name);
        let _ = app.uid.as_deref().map(|u| validate::uid("app", u));
        let _ = app
            .metadata
            .as_ref()
            .map(|m| validate::map("metadata", m.iter()));
    }
    if let Ok(ep) = parse_json::<EndpointIn>(&bytes) {
        let _ = validate::endpoint_url(&ep.url, true);
        let _ = validate::channels("channels", ep.channels.as_deref().unwrap_or_default());
        let _ = ep.headers.as_ref().map(validate::custom_headers);
        let _ = ep
            .secret
            .as_deref()
            .map(skyhook_domain::signing::validate_key);
    }
    let _ = parse_json::<EndpointPatch>(&bytes);
    let _ = parse_json::<EventTypeIn>(&bytes);
    if let Ok(msg) = parse_json::<MessageIn>(&bytes) {
        let _ = validate::json_depth(msg.payload.get());
        let _ = validate::name("eventType", &msg.event_type);
        let _ = validate::channels("channels", &msg.channels);
    }
    if let Ok(r) = parse_json::<RecoverIn>(&bytes) {
        let _ = skyhook_domain::clock::parse_rfc3339(&r.since);
    }
}
