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

/// An endpoint URL: absolute http(s) with a host, at most 64 KiB; `https_only` refuses
/// http (the rule lives in [`skyhook_domain::validate`], shared with the dashboard).
pub fn endpoint_url(value: &str, https_only: bool) -> ApiResult<()> {
    skyhook_domain::validate::endpoint_url(value, https_only)
        .map_err(|msg| ApiError::field("url", msg))
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

/// Longest display name or description we keep.
pub const MAX_TEXT: usize = 4096;
/// Most metadata entries, custom headers or tags on one object.
pub const MAX_ENTRIES: usize = 64;
/// Longest metadata or header value.
pub const MAX_VALUE: usize = 4096;

/// A free-text field of at most [`MAX_TEXT`] characters.
pub fn text(field: &str, value: &str) -> ApiResult<()> {
    if value.chars().count() > MAX_TEXT {
        return Err(ApiError::field(
            field,
            format!("at most {MAX_TEXT} characters"),
        ));
    }
    Ok(())
}

/// A string map (metadata, headers) of bounded size.
pub fn map<'a>(
    field: &str,
    entries: impl ExactSizeIterator<Item = (&'a String, &'a String)>,
) -> ApiResult<()> {
    if entries.len() > MAX_ENTRIES {
        return Err(ApiError::field(
            field,
            format!("at most {MAX_ENTRIES} entries"),
        ));
    }
    for (k, v) in entries {
        if k.is_empty() || k.len() > 256 || v.len() > MAX_VALUE {
            return Err(ApiError::field(
                field,
                format!("keys are 1-256 characters and values at most {MAX_VALUE}"),
            ));
        }
    }
    Ok(())
}

/// Deepest nesting accepted in a payload, as for every other JSON input (serde_json's
/// own limit); a payload is kept verbatim, so it is measured rather than parsed.
pub const MAX_DEPTH: usize = 128;

/// The nesting depth of the JSON text `raw` (brackets outside strings).
pub fn json_depth(raw: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in raw.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings() {
        assert_eq!(json_depth("{}"), 1);
        assert_eq!(json_depth(r#"{"a":[1,{"b":"[[[{{"}]}"#), 3);
        assert_eq!(json_depth(r#"{"a":"\"[["}"#), 1);
        assert_eq!(
            json_depth(&format!("{}{}", "[".repeat(500), "]".repeat(500))),
            500
        );
    }
}
