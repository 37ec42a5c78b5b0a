//! Typed payloads of the events Skyhook sends.
//!
//! Unknown fields are ignored so that new fields on the sender's side do not
//! break deployed receivers. Any other event can be taken as
//! [`serde_json::Value`] (see [`GenericEvent`]).

use serde::{Deserialize, Serialize};

/// Any event, untyped. Its `"type"` field says what it is.
pub type GenericEvent = serde_json::Value;

/// `quotation.created`: a customer submitted a quotation request; its files
/// can be downloaded from `{project_url}/quotation/files/{file.id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotationCreated {
    /// Always [`QuotationCreated::TYPE`].
    #[serde(rename = "type")]
    pub type_: String,
    /// When the event happened, RFC 3339 (`2026-11-28T12:00:00.000Z`). Kept a
    /// string so this crate needs no date library.
    pub created_at: String,
    /// Base URL of the project, e.g. `http://127.0.0.1:8071/projects/app_…`.
    pub project_url: String,
    /// The quotation itself.
    pub quotation: Quotation,
    /// Files attached to the quotation (absent means none).
    #[serde(default)]
    pub files: Vec<QuotationFile>,
}

impl QuotationCreated {
    /// The event type string.
    pub const TYPE: &'static str = "quotation.created";

    /// Where to download `file` (send the quotation secret as a bearer token).
    pub fn file_url(&self, file: &QuotationFile) -> String {
        format!(
            "{}/quotation/files/{}",
            self.project_url.trim_end_matches('/'),
            file.id
        )
    }
}

/// A quotation request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quotation {
    /// `quo_…`.
    pub id: String,
    /// Customer details as the form sent them; shape varies per project.
    pub customer: serde_json::Value,
    /// The configured product; shape varies per project.
    pub configuration: serde_json::Value,
}

/// One file attached to a quotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotationFile {
    /// `file_…`.
    pub id: String,
    /// Original file name, e.g. `drawing.pdf`.
    pub name: String,
    /// MIME type, e.g. `application/pdf`.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
}
