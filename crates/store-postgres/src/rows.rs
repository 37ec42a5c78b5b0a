//! Row → domain record mapping. JSON columns hold lists and maps.

use serde_json::from_str;
use skyhook_domain::model::{
    Application, Attempt, DeliveryStatus, Destination, Endpoint, EventType, Message, TriggerType,
};
use skyhook_store::{Result, StoreError};
use sqlx::Row;
use sqlx::postgres::PgRow;

pub(crate) const APP_COLS: &str = "id, uid, name, throttle_rate, metadata, created_at, updated_at";
pub(crate) const EVENT_TYPE_COLS: &str = "name, description, archived, deprecated, schemas, group_name, feature_flags, created_at, updated_at";
pub(crate) const ENDPOINT_COLS: &str = "e.id, e.app_id, e.uid, e.url, e.description, e.throttle_rate, e.disabled, \
     e.event_types, e.channels, e.metadata, e.headers, e.secrets, e.created_at, e.updated_at, e.failing_since";
pub(crate) const MESSAGE_COLS: &str = "m.id AS m_id, m.app_id AS m_app_id, m.event_id, m.event_type, m.payload, m.channels AS m_channels, m.tags, m.created_at AS m_created_at";
pub(crate) const ATTEMPT_COLS: &str = "id, msg_id, endpoint_id, url, status, response_status_code, response, \
     response_duration_ms, trigger_type, created_at";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("stored {what} is unreadable: {e}"))
}

fn json<T: serde::de::DeserializeOwned>(row: &PgRow, col: &str) -> Result<T> {
    let text: String = row.try_get(col).map_err(crate::map_err)?;
    from_str(&text).map_err(|e| corrupt(col, e))
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    row: &'r PgRow,
    col: &str,
) -> Result<T> {
    row.try_get(col).map_err(crate::map_err)
}

fn status(code: i64) -> Result<DeliveryStatus> {
    DeliveryStatus::from_code(code).ok_or_else(|| corrupt("status", code))
}

pub(crate) fn application(row: &PgRow) -> Result<Application> {
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

pub(crate) fn event_type(row: &PgRow) -> Result<EventType> {
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

pub(crate) fn endpoint(row: &PgRow) -> Result<Endpoint> {
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

pub(crate) fn message(row: &PgRow) -> Result<Message> {
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

pub(crate) fn destination(row: &PgRow) -> Result<Destination> {
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

pub(crate) fn attempt(row: &PgRow) -> Result<Attempt> {
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
