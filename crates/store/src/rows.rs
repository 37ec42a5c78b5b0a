//! Row → domain record mapping, shared by the SQLite and PostgreSQL stores: both keep
//! the same columns (times as millisecond integers, lists and maps as JSON text), so
//! only reading one column is backend-specific ([`RowAccess`]).

use serde_json::from_str;
use skyhook_domain::model::{
    Application, Attempt, DeliveryStatus, Destination, Endpoint, EventType, Message, TriggerType,
};

use crate::{Result, StoreError};

/// Reading one column of a result row; each backend implements it for its row type.
pub trait RowAccess {
    /// A text column that may be NULL.
    fn text(&self, col: &str) -> Result<Option<String>>;
    /// An integer column that may be NULL.
    fn int(&self, col: &str) -> Result<Option<i64>>;
    /// A boolean column.
    fn flag(&self, col: &str) -> Result<bool>;
}

/// A value read from one column.
pub trait FromColumn: Sized {
    /// Reads column `col` of `row`.
    fn from_column(row: &impl RowAccess, col: &str) -> Result<Self>;
}

fn not_null<T>(value: Option<T>, col: &str) -> Result<T> {
    value.ok_or_else(|| corrupt(col, "NULL"))
}

impl FromColumn for String {
    fn from_column(row: &impl RowAccess, col: &str) -> Result<Self> {
        not_null(row.text(col)?, col)
    }
}

impl FromColumn for Option<String> {
    fn from_column(row: &impl RowAccess, col: &str) -> Result<Self> {
        row.text(col)
    }
}

impl FromColumn for i64 {
    fn from_column(row: &impl RowAccess, col: &str) -> Result<Self> {
        not_null(row.int(col)?, col)
    }
}

impl FromColumn for Option<i64> {
    fn from_column(row: &impl RowAccess, col: &str) -> Result<Self> {
        row.int(col)
    }
}

impl FromColumn for bool {
    fn from_column(row: &impl RowAccess, col: &str) -> Result<Self> {
        row.flag(col)
    }
}

/// Columns of an application row.
pub const APP_COLS: &str = "id, uid, name, throttle_rate, metadata, created_at, updated_at";
/// Columns of an event type row.
pub const EVENT_TYPE_COLS: &str = "name, description, archived, deprecated, schemas, group_name, feature_flags, created_at, updated_at";
/// Columns of an endpoint row (aliased `e`).
pub const ENDPOINT_COLS: &str = "e.id, e.app_id, e.uid, e.url, e.description, e.throttle_rate, e.disabled, \
     e.event_types, e.channels, e.metadata, e.headers, e.secrets, e.created_at, e.updated_at, e.failing_since";
/// Columns of a message row (aliased `m`, with `m_` names where they clash).
pub const MESSAGE_COLS: &str = "m.id AS m_id, m.app_id AS m_app_id, m.event_id, m.event_type, m.payload, m.channels AS m_channels, m.tags, m.created_at AS m_created_at";
/// Columns of an attempt row.
pub const ATTEMPT_COLS: &str = "id, msg_id, endpoint_id, url, status, response_status_code, response, \
     response_duration_ms, trigger_type, created_at";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("stored {what} is unreadable: {e}"))
}

fn json<T: serde::de::DeserializeOwned>(row: &impl RowAccess, col: &str) -> Result<T> {
    let text: String = get(row, col)?;
    from_str(&text).map_err(|e| corrupt(col, e))
}

fn get<T: FromColumn>(row: &impl RowAccess, col: &str) -> Result<T> {
    T::from_column(row, col)
}

fn status(code: i64) -> Result<DeliveryStatus> {
    DeliveryStatus::from_code(code).ok_or_else(|| corrupt("status", code))
}

/// An application.
pub fn application(row: &impl RowAccess) -> Result<Application> {
    Ok(Application {
        id: get(row, "id")?,
        uid: get(row, "uid")?,
        name: get(row, "name")?,
        throttle_rate: get::<Option<i64>>(row, "throttle_rate")?.map(|r| r as u16),
        metadata: json(row, "metadata")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

/// An event type.
pub fn event_type(row: &impl RowAccess) -> Result<EventType> {
    let schemas: Option<String> = get(row, "schemas")?;
    Ok(EventType {
        name: get(row, "name")?,
        description: get(row, "description")?,
        archived: get(row, "archived")?,
        deprecated: get(row, "deprecated")?,
        schemas: schemas
            .map(|s| from_str(&s))
            .transpose()
            .map_err(|e| corrupt("schemas", e))?,
        group_name: get(row, "group_name")?,
        feature_flags: json(row, "feature_flags")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

/// An endpoint.
pub fn endpoint(row: &impl RowAccess) -> Result<Endpoint> {
    Ok(Endpoint {
        id: get(row, "id")?,
        app_id: get(row, "app_id")?,
        uid: get(row, "uid")?,
        url: get(row, "url")?,
        description: get(row, "description")?,
        throttle_rate: get::<Option<i64>>(row, "throttle_rate")?.map(|r| r as u16),
        disabled: get(row, "disabled")?,
        event_types: json(row, "event_types")?,
        channels: json(row, "channels")?,
        metadata: json(row, "metadata")?,
        headers: json(row, "headers")?,
        secrets: json(row, "secrets")?,
        failing_since: get(row, "failing_since")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

/// A message (columns of `MESSAGE_COLS`).
pub fn message(row: &impl RowAccess) -> Result<Message> {
    Ok(Message {
        id: get(row, "m_id")?,
        app_id: get(row, "m_app_id")?,
        event_id: get(row, "event_id")?,
        event_type: get(row, "event_type")?,
        payload: get(row, "payload")?,
        channels: json(row, "m_channels")?,
        tags: json(row, "tags")?,
        created_at: get(row, "m_created_at")?,
    })
}

/// A message's state at an endpoint (`d_status`, `d_endpoint_id`, `d_run_at`).
pub fn destination(row: &impl RowAccess) -> Result<Destination> {
    let s = status(get(row, "d_status")?)?;
    Ok(Destination {
        endpoint_id: get(row, "d_endpoint_id")?,
        status: s,
        next_attempt: if s == DeliveryStatus::Pending {
            get(row, "d_run_at")?
        } else {
            None
        },
    })
}

/// An attempt.
pub fn attempt(row: &impl RowAccess) -> Result<Attempt> {
    Ok(Attempt {
        id: get(row, "id")?,
        msg_id: get(row, "msg_id")?,
        endpoint_id: get(row, "endpoint_id")?,
        url: get(row, "url")?,
        status: status(get(row, "status")?)?,
        response_status_code: get(row, "response_status_code")?,
        response: get(row, "response")?,
        response_duration_ms: get(row, "response_duration_ms")?,
        trigger_type: TriggerType::from_code(get(row, "trigger_type")?),
        created_at: get(row, "created_at")?,
    })
}
