//! The JSON shapes of the Svix API and their conversions from domain records.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use skyhook_domain::clock::to_rfc3339;
use skyhook_domain::model::{
    Application, Attempt, DeliveryStatus, Destination, Endpoint, EndpointStats, EventType, Message,
    Metadata,
};
use utoipa::ToSchema;

/// `Some(None)` for an explicit `null`, `None` for an absent field (PATCH semantics).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationIn {
    pub name: String,
    pub uid: Option<String>,
    pub throttle_rate: Option<u16>,
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub uid: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u16>)]
    pub throttle_rate: Option<Option<u16>>,
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationOut {
    id: String,
    uid: Option<String>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    throttle_rate: Option<u16>,
    #[schema(value_type = HashMap<String, String>)]
    metadata: Metadata,
    created_at: String,
    updated_at: String,
}

impl From<Application> for ApplicationOut {
    fn from(a: Application) -> Self {
        Self {
            id: a.id,
            uid: a.uid,
            name: a.name,
            throttle_rate: a.throttle_rate,
            metadata: a.metadata,
            created_at: to_rfc3339(a.created_at),
            updated_at: to_rfc3339(a.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeIn {
    pub name: Option<String>,
    pub description: String,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub deprecated: bool,
    pub schemas: Option<serde_json::Value>,
    pub group_name: Option<String>,
    #[serde(default)]
    pub feature_flags: Vec<String>,
}

#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypePatch {
    pub description: Option<String>,
    pub archived: Option<bool>,
    pub deprecated: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<Option<serde_json::Value>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub group_name: Option<Option<String>>,
    pub feature_flags: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeOut {
    name: String,
    description: String,
    archived: bool,
    deprecated: bool,
    schemas: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_name: Option<String>,
    feature_flags: Vec<String>,
    created_at: String,
    updated_at: String,
}

impl From<EventType> for EventTypeOut {
    fn from(e: EventType) -> Self {
        Self {
            name: e.name,
            description: e.description,
            archived: e.archived,
            deprecated: e.deprecated,
            schemas: e.schemas,
            group_name: e.group_name,
            feature_flags: e.feature_flags,
            created_at: to_rfc3339(e.created_at),
            updated_at: to_rfc3339(e.updated_at),
        }
    }
}

/// `EndpointIn` and `EndpointUpsertIn` (PUT): `url` required, the rest defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointIn {
    pub url: String,
    #[serde(default)]
    pub description: String,
    pub uid: Option<String>,
    pub throttle_rate: Option<u16>,
    #[serde(default)]
    pub disabled: bool,
    // Older Svix clients call event types `filterTypes`.
    #[serde(default, alias = "filterTypes")]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    pub secret: Option<String>,
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub metadata: Option<Metadata>,
    pub headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub uid: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u16>)]
    pub throttle_rate: Option<Option<u16>>,
    pub disabled: Option<bool>,
    #[serde(default, alias = "filterTypes", deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub event_types: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub channels: Option<Option<Vec<String>>>,
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    id: String,
    uid: Option<String>,
    url: String,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    throttle_rate: Option<u16>,
    disabled: bool,
    event_types: Option<Vec<String>>,
    channels: Option<Vec<String>>,
    #[schema(value_type = HashMap<String, String>)]
    metadata: Metadata,
    created_at: String,
    updated_at: String,
}

fn non_empty(v: Vec<String>) -> Option<Vec<String>> {
    if v.is_empty() { None } else { Some(v) }
}

impl From<Endpoint> for EndpointOut {
    fn from(e: Endpoint) -> Self {
        Self {
            id: e.id,
            uid: e.uid,
            url: e.url,
            description: e.description,
            throttle_rate: e.throttle_rate,
            disabled: e.disabled,
            event_types: non_empty(e.event_types),
            channels: non_empty(e.channels),
            metadata: e.metadata,
            created_at: to_rfc3339(e.created_at),
            updated_at: to_rfc3339(e.updated_at),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EndpointSecretOut {
    pub key: String,
}

#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSecretRotateIn {
    pub key: Option<String>,
    pub grace_period_seconds: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EndpointHeadersIn {
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHeadersPatchIn {
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub delete_headers: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointHeadersOut {
    pub headers: BTreeMap<String, String>,
    pub sensitive: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EndpointStats)]
pub struct EndpointStatsOut {
    success: i64,
    pending: i64,
    sending: i64,
    fail: i64,
    canceled: i64,
}

impl From<EndpointStats> for EndpointStatsOut {
    fn from(s: EndpointStats) -> Self {
        Self {
            success: s.success,
            pending: s.pending,
            sending: s.sending,
            fail: s.fail,
            canceled: 0,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RecoverIn {
    pub since: String,
    pub until: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageIn {
    pub event_type: String,
    pub event_id: Option<String>,
    /// Kept as the exact bytes received: delivered byte for byte.
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub application: Option<ApplicationIn>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageOut {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<String>,
    event_type: String,
    #[schema(value_type = Object)]
    payload: Box<RawValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    channels: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    timestamp: String,
}

fn payload(text: String, with_content: bool) -> Box<RawValue> {
    let text = if with_content { text } else { "{}".to_string() };
    RawValue::from_string(text)
        .unwrap_or_else(|_| RawValue::from_string("{}".into()).expect("valid JSON"))
}

impl MessageOut {
    pub fn new(m: Message, with_content: bool) -> Self {
        Self {
            id: m.id,
            event_id: m.event_id,
            event_type: m.event_type,
            payload: payload(m.payload, with_content),
            channels: m.channels,
            tags: m.tags,
            timestamp: to_rfc3339(m.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointMessageOut {
    #[serde(flatten)]
    message: MessageOut,
    status: i64,
    status_text: &'static str,
    next_attempt: Option<String>,
}

impl EndpointMessageOut {
    pub fn new(m: Message, d: Destination, with_content: bool) -> Self {
        Self {
            message: MessageOut::new(m, with_content),
            status: d.status.code(),
            status_text: d.status.text(),
            next_attempt: d.next_attempt.map(to_rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageEndpointOut {
    #[serde(flatten)]
    endpoint: EndpointOut,
    status: i64,
    status_text: &'static str,
    next_attempt: Option<String>,
}

impl MessageEndpointOut {
    pub fn new(e: Endpoint, d: Destination) -> Self {
        Self {
            endpoint: e.into(),
            status: d.status.code(),
            status_text: d.status.text(),
            next_attempt: d.next_attempt.map(to_rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttemptOut {
    id: String,
    msg_id: String,
    endpoint_id: String,
    url: String,
    response: String,
    response_status_code: i64,
    response_duration_ms: i64,
    status: i64,
    status_text: &'static str,
    trigger_type: i64,
    timestamp: String,
}

impl From<Attempt> for MessageAttemptOut {
    fn from(a: Attempt) -> Self {
        let status: DeliveryStatus = a.status;
        Self {
            id: a.id,
            msg_id: a.msg_id,
            endpoint_id: a.endpoint_id,
            url: a.url,
            response: a.response,
            response_status_code: a.response_status_code,
            response_duration_ms: a.response_duration_ms,
            status: status.code(),
            status_text: status.text(),
            trigger_type: a.trigger_type as i64,
            timestamp: to_rfc3339(a.created_at),
        }
    }
}
