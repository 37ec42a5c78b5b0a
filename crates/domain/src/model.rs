//! The records Skyhook keeps and the states a delivery moves through.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::signing::SecretSet;

/// String-to-string metadata, as Svix defines it.
pub type Metadata = BTreeMap<String, String>;

/// An application (a *project* in the product): the tenant that owns endpoints and messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    /// `app_…`
    pub id: String,
    /// Caller-chosen unique name, usable wherever the id is.
    pub uid: Option<String>,
    /// Display name.
    pub name: String,
    /// Deliveries per second per endpoint (stored, enforced by the delivery rate limiter).
    pub throttle_rate: Option<u16>,
    /// Caller metadata.
    pub metadata: Metadata,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// A kind of event that endpoints can subscribe to.
#[derive(Debug, Clone, PartialEq)]
pub struct EventType {
    /// Unique name, e.g. `quotation.created`.
    pub name: String,
    /// Human description.
    pub description: String,
    /// Archived types are hidden from subscription but still deliverable.
    pub archived: bool,
    /// Deprecated flag, informational.
    pub deprecated: bool,
    /// JSON schemas by version, stored as given.
    pub schemas: Option<serde_json::Value>,
    /// Optional group.
    pub group_name: Option<String>,
    /// Feature flags, stored as given.
    pub feature_flags: Vec<String>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// A URL of an application that receives its messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// `ep_…`
    pub id: String,
    /// Owning application id.
    pub app_id: String,
    /// Caller-chosen name, unique within the application.
    pub uid: Option<String>,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Human description.
    pub description: String,
    /// Deliveries per second.
    pub throttle_rate: Option<u16>,
    /// A disabled endpoint receives nothing.
    pub disabled: bool,
    /// Subscribed event types; empty means all.
    pub event_types: Vec<String>,
    /// Subscribed channels; empty means all.
    pub channels: Vec<String>,
    /// Caller metadata.
    pub metadata: Metadata,
    /// Custom headers sent with every delivery.
    pub headers: BTreeMap<String, String>,
    /// Signing secrets: the current one and any still in their rotation grace period.
    pub secrets: SecretSet,
    /// Since when every attempt has failed (`None` while the last attempt succeeded);
    /// kept by the store, read to disable endpoints that fail for too long.
    pub failing_since: Option<Millis>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// An event accepted for an application.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `msg_…`; also the `webhook-id` of every delivery.
    pub id: String,
    /// Owning application id.
    pub app_id: String,
    /// Caller's idempotent event id, unique per application.
    pub event_id: Option<String>,
    /// Event type name.
    pub event_type: String,
    /// The JSON payload exactly as received: delivered byte for byte.
    pub payload: String,
    /// Channels for routing.
    pub channels: Vec<String>,
    /// Tags, stored as given.
    pub tags: Vec<String>,
    /// Acceptance time.
    pub created_at: Millis,
}

/// Status of one message for one endpoint, numbered as in Svix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryStatus {
    /// Delivered (a 2xx answer).
    Success = 0,
    /// Waiting for its next attempt.
    Pending = 1,
    /// Given up after the last scheduled attempt.
    Fail = 2,
    /// An attempt is in flight.
    Sending = 3,
}

impl DeliveryStatus {
    /// The Svix number.
    pub fn code(self) -> i64 {
        self as i64
    }

    /// From the Svix number.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::Success,
            1 => Self::Pending,
            2 => Self::Fail,
            3 => Self::Sending,
            _ => return None,
        })
    }

    /// The Svix `statusText`.
    pub fn text(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Pending => "pending",
            Self::Fail => "fail",
            Self::Sending => "sending",
        }
    }
}

/// Why an attempt was made, numbered as in Svix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerType {
    /// Part of the retry schedule.
    Scheduled = 0,
    /// Resend or recover by a person.
    Manual = 1,
}

impl TriggerType {
    /// From the Svix number.
    pub fn from_code(code: i64) -> Self {
        if code == 1 {
            Self::Manual
        } else {
            Self::Scheduled
        }
    }
}

/// The record of one HTTP attempt to deliver a message to an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// `atmpt_…`
    pub id: String,
    /// Message delivered.
    pub msg_id: String,
    /// Endpoint tried.
    pub endpoint_id: String,
    /// URL the attempt went to.
    pub url: String,
    /// Success or fail.
    pub status: DeliveryStatus,
    /// HTTP status, or 0 when no answer came (timeout, refused, blocked).
    pub response_status_code: i64,
    /// First 64 KiB of the answer, or the connection error.
    pub response: String,
    /// Time from sending to the last byte of the answer.
    pub response_duration_ms: i64,
    /// Scheduled or manual.
    pub trigger_type: TriggerType,
    /// When the attempt finished.
    pub created_at: Millis,
}

/// One message's state for one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// Endpoint id.
    pub endpoint_id: String,
    /// Current status.
    pub status: DeliveryStatus,
    /// When the next attempt is due, if pending.
    pub next_attempt: Option<Millis>,
}

/// Counts of an endpoint's deliveries by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Delivered.
    pub success: i64,
    /// Waiting.
    pub pending: i64,
    /// Failed for good.
    pub fail: i64,
    /// In flight.
    pub sending: i64,
}

/// Uid of the endpoint that is a project's webhooks plugin (CONTRACT §4).
pub const WEBHOOKS_PLUGIN_UID: &str = "webhooks-plugin";
