//! Quotations: a customer's quotation request with its generated files, the rules an
//! upload must follow, and the `quotation.created` payload announcing it.
//!
//! Everything here is pure: the API turns a request (JSON with base64 files, or
//! multipart) into a [`QuotationRequest`], [`build`] checks it and produces the
//! quotation, its file contents and its `quotation.created` [`Message`], and the store
//! commits all three in one transaction.

use serde::Serialize;
use serde_json::Value;

use crate::clock::{Millis, to_rfc3339};
use crate::ids;
use crate::model::Message;

/// The event type announcing a new quotation; it exists out of the box.
pub const EVENT_TYPE: &str = "quotation.created";
/// Largest accepted file: 10 MiB.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Largest accepted sum of a quotation's files: 25 MiB.
pub const MAX_TOTAL_BYTES: usize = 25 * 1024 * 1024;
/// Most files one quotation may carry.
pub const MAX_FILES: usize = 100;
/// Largest accepted request body: the files' total in base64 (4/3) plus 1 MiB for the
/// rest of the JSON (or the multipart framing).
pub const MAX_REQUEST_BYTES: usize = MAX_TOTAL_BYTES / 3 * 4 + 1024 * 1024;
/// Longest file name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Content type of a file that names none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";
/// Prefix of quotation secrets.
pub const SECRET_PREFIX: &str = "qs_";

/// A stored quotation request.
#[derive(Debug, Clone, PartialEq)]
pub struct Quotation {
    /// `quo_…`
    pub id: String,
    /// The project (application) it belongs to.
    pub app_id: String,
    /// The `quotation.created` message announcing it (`msg_…`).
    pub message_id: String,
    /// Customer details as the form sent them (a JSON object).
    pub customer: Value,
    /// The configured product (a JSON object; `{}` when none was sent).
    pub configuration: Value,
    /// Its files' metadata, in upload order.
    pub files: Vec<QuotationFile>,
    /// Submission time.
    pub created_at: Millis,
}

/// Metadata of one file of a quotation; the bytes are stored beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotationFile {
    /// `file_…`
    pub id: String,
    /// The quotation it belongs to.
    pub quotation_id: String,
    /// File name as uploaded, e.g. `drawing.pdf`.
    pub name: String,
    /// MIME type, e.g. `application/pdf`.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// One uploaded file before checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// File name.
    pub name: String,
    /// MIME type, if the client gave one.
    pub content_type: Option<String>,
    /// The bytes.
    pub content: Vec<u8>,
}

/// A quotation request as received, before checking.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuotationRequest {
    /// Required: a JSON object.
    pub customer: Option<Value>,
    /// Optional: a JSON object.
    pub configuration: Option<Value>,
    /// The files, in order.
    pub files: Vec<Upload>,
}

/// A checked quotation ready to be committed: the quotation, the bytes of each of its
/// files (`contents[i]` belongs to `quotation.files[i]`) and its `quotation.created` message.
#[derive(Debug, Clone, PartialEq)]
pub struct NewQuotation {
    /// The quotation with its files' metadata.
    pub quotation: Quotation,
    /// File contents, parallel to `quotation.files`.
    pub contents: Vec<Vec<u8>>,
    /// The `quotation.created` message (its `event_id` is the quotation id).
    pub message: Message,
}

/// Why a quotation request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotationError {
    /// A field breaks a rule (HTTP 422); `loc` is its path, e.g. `["files", "0", "name"]`.
    #[error("{}: {msg}", loc.join("."))]
    Invalid {
        /// Path of the offending field.
        loc: Vec<String>,
        /// What is wrong.
        msg: String,
    },
    /// A size limit is exceeded (HTTP 413).
    #[error("{0}")]
    TooLarge(String),
}

fn invalid(loc: &[&str], msg: impl Into<String>) -> QuotationError {
    QuotationError::Invalid {
        loc: loc.iter().map(|s| s.to_string()).collect(),
        msg: msg.into(),
    }
}

/// The `projectUrl` of application `app_id`: `{public_url}/projects/{app_id}`.
pub fn project_url(public_url: &str, app_id: &str) -> String {
    format!("{}/projects/{app_id}", public_url.trim_end_matches('/'))
}

/// A new quotation secret: `qs_` and 40 random base62 characters (≈238 bits).
pub fn generate_secret() -> String {
    format!("{SECRET_PREFIX}{}", ids::random_base62(40))
}

/// Refuses file number `index` when it is larger than [`MAX_FILE_BYTES`]; usable while
/// a file is still arriving.
pub fn check_file_size(index: usize, size: usize) -> Result<(), QuotationError> {
    if size > MAX_FILE_BYTES {
        return Err(QuotationError::TooLarge(format!(
            "file {index} is larger than the {MAX_FILE_BYTES}-byte (10 MiB) limit per file"
        )));
    }
    Ok(())
}

/// Refuses a quotation whose files add up to more than [`MAX_TOTAL_BYTES`].
pub fn check_total_size(total: usize) -> Result<(), QuotationError> {
    if total > MAX_TOTAL_BYTES {
        return Err(QuotationError::TooLarge(format!(
            "the files add up to more than the {MAX_TOTAL_BYTES}-byte (25 MiB) limit per quotation"
        )));
    }
    Ok(())
}

/// Decodes the `contentBase64` of file number `index` (standard alphabet, padding
/// optional, line breaks and spaces ignored, as `base64` tools wrap their output).
pub fn decode_base64(index: usize, text: &str) -> Result<Vec<u8>, QuotationError> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    // Refuse before decoding what would be too large anyway.
    let padding = compact.iter().rev().take_while(|&&b| b == b'=').count();
    check_file_size(index, (compact.len() - padding) * 3 / 4)?;
    let bytes = ENGINE.decode(&compact).map_err(|e| {
        invalid(
            &["files", &index.to_string(), "contentBase64"],
            format!("not valid base64: {e}"),
        )
    })?;
    check_file_size(index, bytes.len())?;
    Ok(bytes)
}

fn check_name(index: usize, name: &str) -> Result<(), QuotationError> {
    let loc = ["files", &index.to_string(), "name"];
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(invalid(
            &loc,
            format!("must be 1-{MAX_NAME_BYTES} bytes long"),
        ));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
        || name == "."
        || name == ".."
    {
        return Err(invalid(
            &loc,
            "must be a plain file name: no path separators or control characters",
        ));
    }
    Ok(())
}

fn check_content_type(index: usize, ct: Option<&str>) -> Result<String, QuotationError> {
    let ct = ct.map(str::trim).filter(|s| !s.is_empty());
    let Some(ct) = ct else {
        return Ok(DEFAULT_CONTENT_TYPE.to_string());
    };
    let (main, sub) = ct.split_once('/').unwrap_or(("", ""));
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let sub_type = sub.split(';').next().unwrap_or("").trim();
    if ct.len() > 255
        || !token(main)
        || !token(sub_type)
        || !ct.bytes().all(|b| (0x20..0x7f).contains(&b))
    {
        return Err(invalid(
            &["files", &index.to_string(), "contentType"],
            "must be a MIME type such as application/pdf",
        ));
    }
    Ok(ct.to_string())
}

fn object_or_empty(field: &str, v: Option<Value>) -> Result<Value, QuotationError> {
    match v {
        None | Some(Value::Null) => Ok(Value::Object(Default::default())),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(invalid(&[field], "must be a JSON object")),
    }
}

/// Checks `req` and builds the quotation of application `app_id`, its file contents
/// and its `quotation.created` message, all stamped `now`.
pub fn build(
    app_id: &str,
    project_url: &str,
    req: QuotationRequest,
    now: Millis,
) -> Result<NewQuotation, QuotationError> {
    let customer = match req.customer {
        None | Some(Value::Null) => return Err(invalid(&["customer"], "field required")),
        Some(v @ Value::Object(_)) => v,
        Some(_) => return Err(invalid(&["customer"], "must be a JSON object")),
    };
    let configuration = object_or_empty("configuration", req.configuration)?;
    if req.files.len() > MAX_FILES {
        return Err(invalid(
            &["files"],
            format!("at most {MAX_FILES} files per quotation"),
        ));
    }
    let id = ids::new_id(ids::QUOTATION, now);
    let mut total = 0usize;
    let mut files = Vec::with_capacity(req.files.len());
    let mut contents = Vec::with_capacity(req.files.len());
    for (i, upload) in req.files.into_iter().enumerate() {
        check_name(i, &upload.name)?;
        let content_type = check_content_type(i, upload.content_type.as_deref())?;
        check_file_size(i, upload.content.len())?;
        total += upload.content.len();
        check_total_size(total)?;
        files.push(QuotationFile {
            id: ids::new_id(ids::FILE, now),
            quotation_id: id.clone(),
            name: upload.name,
            content_type,
            size: upload.content.len() as u64,
        });
        contents.push(upload.content);
    }
    let quotation = Quotation {
        id: id.clone(),
        app_id: app_id.to_string(),
        message_id: ids::new_id(ids::MESSAGE, now),
        customer,
        configuration,
        files,
        created_at: now,
    };
    let message = Message {
        id: quotation.message_id.clone(),
        app_id: app_id.to_string(),
        event_id: Some(id),
        event_type: EVENT_TYPE.to_string(),
        payload: created_payload(project_url, &quotation),
        channels: Vec::new(),
        tags: Vec::new(),
        created_at: now,
    };
    Ok(NewQuotation {
        quotation,
        contents,
        message,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedPayload<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    created_at: String,
    project_url: &'a str,
    quotation: PayloadQuotation<'a>,
    files: Vec<PayloadFile<'a>>,
}

#[derive(Serialize)]
struct PayloadQuotation<'a> {
    id: &'a str,
    customer: &'a Value,
    configuration: &'a Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PayloadFile<'a> {
    id: &'a str,
    name: &'a str,
    content_type: &'a str,
    size: u64,
}

/// The `quotation.created` payload (CONTRACT §4): `type`, `createdAt`, `projectUrl`,
/// the quotation (`id`, `customer`, `configuration`) and its files' `id`, `name`,
/// `contentType`, `size`, in that order.
pub fn created_payload(project_url: &str, q: &Quotation) -> String {
    let payload = CreatedPayload {
        kind: EVENT_TYPE,
        created_at: to_rfc3339(q.created_at),
        project_url,
        quotation: PayloadQuotation {
            id: &q.id,
            customer: &q.customer,
            configuration: &q.configuration,
        },
        files: q
            .files
            .iter()
            .map(|f| PayloadFile {
                id: &f.id,
                name: &f.name,
                content_type: &f.content_type,
                size: f.size,
            })
            .collect(),
    };
    serde_json::to_string(&payload).expect("plain data serialises")
}

/// A `Content-Disposition: attachment` value for `name` that no name can break out of:
/// an ASCII fallback with quotes, backslashes and non-ASCII replaced by `_`, and the
/// exact name in RFC 5987 `filename*` form.
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upload(name: &str, ct: Option<&str>, content: &[u8]) -> Upload {
        Upload {
            name: name.into(),
            content_type: ct.map(str::to_string),
            content: content.to_vec(),
        }
    }

    fn request(files: Vec<Upload>) -> QuotationRequest {
        QuotationRequest {
            customer: Some(json!({"name": "Ada", "email": "ada@example.com"})),
            configuration: Some(json!({"width": 1200})),
            files,
        }
    }

    #[test]
    fn builds_the_quotation_its_files_and_its_message() {
        let req = request(vec![
            upload("drawing.pdf", Some("application/pdf"), b"%PDF-1.7"),
            upload("notes.txt", None, b"hello"),
        ]);
        let new = build("app_1", "http://h/projects/app_1", req, 1_764_331_200_000).unwrap();
        let q = &new.quotation;
        assert!(ids::is_id(ids::QUOTATION, &q.id));
        assert_eq!(q.files.len(), 2);
        assert!(ids::is_id(ids::FILE, &q.files[0].id));
        assert_eq!(q.files[1].content_type, DEFAULT_CONTENT_TYPE);
        assert_eq!(q.files[0].size, 8);
        assert_eq!(new.contents[1], b"hello");
        assert_eq!(new.message.event_type, EVENT_TYPE);
        assert_eq!(new.message.id, q.message_id);
        assert_eq!(new.message.event_id.as_deref(), Some(q.id.as_str()));
        let p: Value = serde_json::from_str(&new.message.payload).unwrap();
        assert_eq!(p["type"], "quotation.created");
        assert_eq!(p["createdAt"], "2025-11-28T12:00:00.000Z");
        assert_eq!(p["projectUrl"], "http://h/projects/app_1");
        assert_eq!(p["quotation"]["id"], q.id.as_str());
        assert_eq!(p["quotation"]["customer"]["name"], "Ada");
        assert_eq!(p["quotation"]["configuration"]["width"], 1200);
        assert_eq!(
            p["files"][0],
            json!({"id": q.files[0].id, "name": "drawing.pdf", "contentType": "application/pdf", "size": 8})
        );
        assert!(
            new.message
                .payload
                .starts_with(r#"{"type":"quotation.created","createdAt":"#)
        );
    }

    #[test]
    fn customer_is_required_and_must_be_an_object() {
        let mut req = request(vec![]);
        req.customer = None;
        assert!(matches!(
            build("a", "u", req.clone(), 0),
            Err(QuotationError::Invalid { loc, .. }) if loc == ["customer"]
        ));
        req.customer = Some(json!("ada"));
        assert!(build("a", "u", req.clone(), 0).is_err());
        req.customer = Some(json!({}));
        req.configuration = None;
        let q = build("a", "u", req.clone(), 0).unwrap().quotation;
        assert_eq!(q.configuration, json!({}));
        req.configuration = Some(json!([1]));
        assert!(build("a", "u", req, 0).is_err());
    }

    #[test]
    fn sizes_are_limited_per_file_and_in_total() {
        let big = vec![0u8; MAX_FILE_BYTES + 1];
        let err = build("a", "u", request(vec![upload("x", None, &big)]), 0).unwrap_err();
        assert!(matches!(err, QuotationError::TooLarge(_)));
        let nine = vec![0u8; 9 * 1024 * 1024];
        let files = (0..3)
            .map(|i| upload(&format!("{i}"), None, &nine))
            .collect();
        let err = build("a", "u", request(files), 0).unwrap_err();
        assert!(matches!(err, QuotationError::TooLarge(m) if m.contains("add up")));
        let exact = vec![0u8; MAX_FILE_BYTES];
        assert!(build("a", "u", request(vec![upload("x", None, &exact)]), 0).is_ok());
    }

    #[test]
    fn names_and_content_types_are_checked() {
        for bad in ["", "../etc/passwd", "a\\b", "a\nb", ".."] {
            assert!(
                build("a", "u", request(vec![upload(bad, None, b"")]), 0).is_err(),
                "{bad:?}"
            );
        }
        assert!(
            build(
                "a",
                "u",
                request(vec![upload("Zeichnung äö.pdf", None, b"")]),
                0
            )
            .is_ok()
        );
        for bad in ["pdf", "text/", "a/b\r\nx: y", "ä/b"] {
            assert!(
                build("a", "u", request(vec![upload("f", Some(bad), b"")]), 0).is_err(),
                "{bad:?}"
            );
        }
        let ok = build(
            "a",
            "u",
            request(vec![upload("f", Some("text/plain; charset=utf-8"), b"")]),
            0,
        )
        .unwrap();
        assert_eq!(
            ok.quotation.files[0].content_type,
            "text/plain; charset=utf-8"
        );
    }

    #[test]
    fn base64_is_decoded_leniently_but_strictly_alphabetic() {
        assert_eq!(decode_base64(0, "aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64(0, "aGVs\nbG8").unwrap(), b"hello");
        use base64::Engine as _;
        let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
        assert_eq!(
            decode_base64(0, &b64(MAX_FILE_BYTES)).unwrap().len(),
            MAX_FILE_BYTES
        );
        assert!(matches!(
            decode_base64(0, &b64(MAX_FILE_BYTES + 1)),
            Err(QuotationError::TooLarge(_))
        ));
        assert!(matches!(
            decode_base64(2, "not base64!"),
            Err(QuotationError::Invalid { loc, .. }) if loc == ["files", "2", "contentBase64"]
        ));
    }

    #[test]
    fn content_disposition_cannot_be_broken_out_of() {
        assert_eq!(
            content_disposition("drawing.pdf"),
            "attachment; filename=\"drawing.pdf\"; filename*=UTF-8''drawing.pdf"
        );
        let v = content_disposition("a\"; filename=evil.exe; x=\"ä");
        assert!(v.starts_with("attachment; filename=\"a_; filename=evil.exe; x=__\"; "));
        assert!(v.ends_with("filename*=UTF-8''a%22%3B%20filename%3Devil.exe%3B%20x%3D%22%C3%A4"));
    }

    #[test]
    fn project_urls_and_secrets() {
        assert_eq!(
            project_url("http://h:1/", "app_x"),
            "http://h:1/projects/app_x"
        );
        let s = generate_secret();
        assert!(s.starts_with("qs_") && s.len() == 43);
        assert_ne!(s, generate_secret());
    }
}
