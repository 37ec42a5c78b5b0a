//! Operational webhooks: events about Skyhook itself, sent to the endpoints of the
//! application with uid `skyhook-operational` (configured like any application).

use serde_json::json;

use crate::clock::{Millis, to_rfc3339};
use crate::ids;
use crate::model::{Application, Endpoint, Message};

/// The uid of the application whose endpoints receive operational webhooks.
pub const OPERATIONAL_APP_UID: &str = "skyhook-operational";
/// Sent when an endpoint is disabled for failing too long.
pub const ENDPOINT_DISABLED: &str = "endpoint.disabled";

/// Whether an endpoint failing since `failing_since` has failed for `disable_after_ms`.
pub fn should_disable(failing_since: Option<Millis>, now: Millis, disable_after_ms: i64) -> bool {
    failing_since.is_some_and(|since| now - since >= disable_after_ms)
}

/// The `endpoint.disabled` message for `operational_app`, in Svix's shape plus `createdAt`.
pub fn endpoint_disabled(
    operational_app: &Application,
    app: &Application,
    endpoint: &Endpoint,
    now: Millis,
) -> Message {
    let payload = json!({
        "type": ENDPOINT_DISABLED,
        "createdAt": to_rfc3339(now),
        "data": {
            "appId": app.id,
            "appUid": app.uid,
            "endpointId": endpoint.id,
            "endpointUid": endpoint.uid,
            "failSince": endpoint.failing_since.map(to_rfc3339),
            "trigger": "automatic",
        },
    });
    Message {
        id: ids::new_id(ids::MESSAGE, now),
        app_id: operational_app.id.clone(),
        event_id: None,
        event_type: ENDPOINT_DISABLED.to_string(),
        payload: payload.to_string(),
        channels: Vec::new(),
        tags: Vec::new(),
        created_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_disabled_only_after_failing_for_the_whole_period() {
        assert!(!should_disable(None, 10_000, 1_000));
        assert!(!should_disable(Some(9_500), 10_000, 1_000));
        assert!(should_disable(Some(9_000), 10_000, 1_000));
    }
}
