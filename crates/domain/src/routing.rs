//! Which endpoints receive a message.

use crate::model::Endpoint;

/// Whether `endpoint` should get a message of `event_type` on `channels`.
///
/// An endpoint with no event types takes every type, one with no channels takes every
/// channel; otherwise the message's type must be listed and its channels must intersect.
pub fn accepts(endpoint: &Endpoint, event_type: &str, channels: &[String]) -> bool {
    !endpoint.disabled
        && (endpoint.event_types.is_empty() || endpoint.event_types.iter().any(|t| t == event_type))
        && (endpoint.channels.is_empty() || endpoint.channels.iter().any(|c| channels.contains(c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SecretSet;

    fn endpoint(types: &[&str], channels: &[&str]) -> Endpoint {
        Endpoint {
            id: "ep_1".into(),
            app_id: "app_1".into(),
            uid: None,
            url: "https://example.com".into(),
            description: String::new(),
            throttle_rate: None,
            disabled: false,
            event_types: types.iter().map(|s| s.to_string()).collect(),
            channels: channels.iter().map(|s| s.to_string()).collect(),
            metadata: Default::default(),
            headers: Default::default(),
            secrets: SecretSet::generate(),
            failing_since: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn empty_filters_accept_everything() {
        assert!(accepts(&endpoint(&[], &[]), "a.b", &[]));
        assert!(accepts(&endpoint(&[], &[]), "a.b", &["x".into()]));
    }

    #[test]
    fn event_types_must_match() {
        let ep = endpoint(&["user.created"], &[]);
        assert!(accepts(&ep, "user.created", &[]));
        assert!(!accepts(&ep, "user.deleted", &[]));
    }

    #[test]
    fn channels_must_intersect() {
        let ep = endpoint(&[], &["eu", "us"]);
        assert!(accepts(&ep, "t", &["us".into(), "apac".into()]));
        assert!(!accepts(&ep, "t", &["apac".into()]));
        assert!(!accepts(&ep, "t", &[]));
    }

    #[test]
    fn disabled_endpoints_get_nothing() {
        let mut ep = endpoint(&[], &[]);
        ep.disabled = true;
        assert!(!accepts(&ep, "t", &[]));
    }
}
