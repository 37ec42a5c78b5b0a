//! Field rules shared by several resources; each violation is a 422 naming the field.

use skyhook_domain::ids;

use crate::error::{ApiError, ApiResult};

/// Svix's pattern for uids, event-type names and event ids.
pub fn name(field: &str, value: &str) -> ApiResult<()> {
    if ids::is_valid_name(value) {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            "must be 1-256 characters of a-z, A-Z, 0-9, '-', '_' or '.'",
        ))
    }
}

/// A uid must also not look like an id, or lookups by "id or uid" would be ambiguous.
pub fn uid(prefix: &str, value: &str) -> ApiResult<()> {
    name("uid", value)?;
    if ids::is_id(prefix, value) {
        return Err(ApiError::field(
            "uid",
            format!("must not look like an id ({prefix}_…)"),
        ));
    }
    Ok(())
}

/// Channels: at most 10, each 1-128 characters of `a-zA-Z0-9-_.:`.
pub fn channels(field: &str, list: &[String]) -> ApiResult<()> {
    if list.len() > 10 {
        return Err(ApiError::field(field, "at most 10 channels"));
    }
    let ok = |c: &String| {
        !c.is_empty()
            && c.len() <= 128
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    };
    if list.iter().all(ok) {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            "channels must be 1-128 characters of a-z, A-Z, 0-9, '-', '_', '.' or ':'",
        ))
    }
}

/// An endpoint URL: absolute http(s) with a host, at most 64 KiB; `https_only` refuses http.
pub fn endpoint_url(value: &str, https_only: bool) -> ApiResult<()> {
    if value.len() > 65_536 {
        return Err(ApiError::field("url", "at most 65536 characters"));
    }
    let url = url::Url::parse(value)
        .map_err(|e| ApiError::field("url", format!("not a valid URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if !https_only => {}
        "http" => {
            return Err(ApiError::field(
                "url",
                "only https:// URLs are allowed (HTTPS_ONLY)",
            ));
        }
        other => {
            return Err(ApiError::field(
                "url",
                format!("scheme must be http or https, not {other}"),
            ));
        }
    }
    if url.host().is_none() {
        return Err(ApiError::field("url", "the URL needs a host"));
    }
    Ok(())
}

/// Headers we set ourselves, or that would break the request, cannot be custom.
pub fn custom_headers<'a>(
    names: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> ApiResult<()> {
    for (k, v) in names {
        let lower = k.to_ascii_lowercase();
        let reserved = lower.starts_with("webhook-")
            || lower.starts_with("svix-")
            || matches!(
                lower.as_str(),
                "host"
                    | "content-type"
                    | "content-length"
                    | "user-agent"
                    | "connection"
                    | "transfer-encoding"
                    | "te"
                    | "upgrade"
            );
        if reserved {
            return Err(ApiError::field(
                "headers",
                format!("{k} is set by Skyhook and cannot be overridden"),
            ));
        }
        if axum::http::HeaderName::try_from(k.as_str()).is_err()
            || axum::http::HeaderValue::try_from(v.as_str()).is_err()
        {
            return Err(ApiError::field(
                "headers",
                format!("{k} is not a valid HTTP header"),
            ));
        }
    }
    Ok(())
}
