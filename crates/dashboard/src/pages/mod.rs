//! The pages, one module per group.

pub mod auth;
pub mod events;
pub mod projects;
pub mod quotations;
pub mod webhooks;

use axum::response::Redirect;
use skyhook_store::Page;

/// Rows per list page.
pub const PAGE_SIZE: u32 = 25;

/// A newest-first page of at most `limit` rows after `after`.
pub fn newest_first(limit: u32, after: Option<String>) -> Page {
    Page {
        limit,
        after: after.filter(|s| !s.is_empty()),
        before: None,
        descending: true,
    }
}

/// Post/redirect/get: back to `path` with a confirmation code the page turns into text.
pub fn see_other(path: &str, flash: &str) -> Redirect {
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}flash={flash}"))
}

/// The confirmation line of a flash code (fixed texts: nothing from the URL is shown).
pub fn flash_text(code: Option<&str>) -> Option<String> {
    Some(
        match code? {
            "saved" => "Saved.",
            "rotated" => "New secret generated; the old one stops working now.",
            "signing-rotated" => {
                "New signing secret generated; the old one keeps signing alongside it for 24 hours."
            }
            "test-sent" => "Test event sent.",
            "resent" => "Resend queued: a new attempt is made now.",
            _ => return None,
        }
        .to_string(),
    )
}
