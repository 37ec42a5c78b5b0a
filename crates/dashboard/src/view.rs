//! What every page shares: the layout data, rendering with the dashboard's headers, and
//! formatting of times, statuses and payloads.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use skyhook_domain::clock::{Millis, to_rfc3339};
use skyhook_domain::model::{Application, DeliveryStatus};

use crate::session::Session;

/// The part of every page around its content: title, navigation, the logout form.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// `<title>` and heading.
    pub title: String,
    /// The session's CSRF token (empty when logged out).
    pub csrf: String,
    /// Whether a session is open (shows the logout button).
    pub logged_in: bool,
    /// The project being looked at, for the section navigation.
    pub project: Option<ProjectNav>,
    /// Which section is current: `overview`, `webhooks`, `events`, `quotations`.
    pub section: &'static str,
    /// A one-line confirmation shown on top ("Saved").
    pub flash: Option<String>,
    /// Reload the page every two seconds (a delivery is about to happen).
    pub refresh: bool,
}

/// The project in the navigation.
#[derive(Debug, Clone)]
pub struct ProjectNav {
    /// `app_…`
    pub id: String,
    /// Display name.
    pub name: String,
}

impl Layout {
    /// The layout of a logged-out page.
    pub fn anonymous(title: &str) -> Self {
        Self {
            title: title.to_string(),
            ..Default::default()
        }
    }

    /// The layout of a page of `session`, within `project` if given.
    pub fn new(session: &Session, title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            csrf: session.csrf(),
            logged_in: true,
            ..Default::default()
        }
    }

    /// Within a project's `section`.
    pub fn in_project(mut self, app: &Application, section: &'static str) -> Self {
        self.project = Some(ProjectNav {
            id: app.id.clone(),
            name: app.name.clone(),
        });
        self.section = section;
        self
    }

    /// With a confirmation line.
    pub fn flash(mut self, flash: Option<String>) -> Self {
        self.flash = flash;
        self
    }
}

/// Renders `page` with `status` and the headers every dashboard page gets: no caching
/// (pages show secrets), a strict Content-Security-Policy (no inline script, no
/// framing), no sniffing, no referrer to other sites.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => {
            let mut resp = (status, Html(html)).into_response();
            let h = resp.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                     frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
                ),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "rendering a dashboard page");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

/// `200 OK` with [`render`].
pub fn ok<T: Template>(page: &T) -> Response {
    render(StatusCode::OK, page)
}

/// A time as shown: `2026-11-28 12:00:05 UTC`.
pub fn time(ms: Millis) -> String {
    let iso = to_rfc3339(ms);
    format!("{} {} UTC", &iso[..10], &iso[11..19])
}

/// A time relative to `now`: `in 4 min`, `12 s ago`.
pub fn relative(ms: Millis, now: Millis) -> String {
    let d = (ms - now) / 1000;
    let (n, unit) = match d.abs() {
        s if s < 60 => (s, "s"),
        s if s < 3600 => (s / 60, "min"),
        s if s < 86_400 => (s / 3600, "h"),
        s => (s / 86_400, "d"),
    };
    if d >= 0 {
        format!("in {n} {unit}")
    } else {
        format!("{n} {unit} ago")
    }
}

/// How a delivery status is shown and filtered: `success`, `pending` (including an
/// attempt in flight), `failed`.
pub fn status_label(s: DeliveryStatus) -> &'static str {
    match s {
        DeliveryStatus::Success => "success",
        DeliveryStatus::Pending | DeliveryStatus::Sending => "pending",
        DeliveryStatus::Fail => "failed",
    }
}

/// A JSON text pretty-printed with two-space indentation, keys in their original order
/// (as is when it is not JSON).
pub fn pretty_json(text: &str) -> String {
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.extend(chars.next());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// At most `max` bytes of `text` (on a character boundary), with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A byte count as shown: `12.1 KiB`.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(time(1_764_331_205_123), "2025-11-28 12:00:05 UTC");
        assert_eq!(relative(10_000, 0), "in 10 s");
        assert_eq!(relative(0, 240_000), "4 min ago");
        assert_eq!(relative(7_200_000, 0), "in 2 h");
        assert_eq!(pretty_json(r#"{"a":1}"#), "{\n  \"a\": 1\n}");
        assert_eq!(pretty_json("not json"), "not json");
        assert_eq!(
            pretty_json(r#"{"z":[1,{}, []],"a":"x, \"y\": {z}"}"#),
            "{\n  \"z\": [\n    1,\n    {},\n    []\n  ],\n  \"a\": \"x, \\\"y\\\": {z}\"\n}"
        );
        assert_eq!(truncate("héllo", 2), "h…");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(size(2048), "2.0 KiB");
        assert_eq!(status_label(DeliveryStatus::Sending), "pending");
    }
}
