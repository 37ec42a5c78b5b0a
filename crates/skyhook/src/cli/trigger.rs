//! `skyhook trigger EVENT --app APP`: a realistic example event, sent as a message.

use serde_json::{Value, json};
use skyhook_domain::clock::{now_ms, to_rfc3339};

use super::{Client, seg};

/// The example payload of `event_type` for the application `app_id`.
pub fn example(event_type: &str, base: &str, app_id: &str) -> Value {
    let now = to_rfc3339(now_ms());
    match event_type {
        "quotation.created" => json!({
            "type": "quotation.created",
            "createdAt": now,
            "projectUrl": format!("{base}/projects/{app_id}"),
            "quotation": {
                "id": "quo_example0000000000000000000",
                "customer": {
                    "name": "Ada Example",
                    "email": "ada@example.com",
                    "company": "Example Manufacturing Ltd."
                },
                "configuration": {
                    "product": "custom-enclosure",
                    "material": "aluminium-5052",
                    "dimensionsMm": {"width": 240, "height": 120, "depth": 80},
                    "quantity": 25,
                    "finish": "anodised-black"
                }
            },
            "files": [
                {"id": "file_example000000000000000000", "name": "drawing.pdf", "contentType": "application/pdf", "size": 48213},
                {"id": "file_example000000000000000001", "name": "model.step", "contentType": "model/step", "size": 1183620}
            ],
            "example": true
        }),
        other => json!({
            "type": other,
            "createdAt": now,
            "data": {"example": true},
        }),
    }
}

pub async fn run(client: &Client, event_type: &str, app: &str) -> anyhow::Result<()> {
    let application = client.get(&format!("/api/v1/app/{}", seg(app))).await?;
    let app_id = application["id"].as_str().unwrap_or(app);
    let payload = example(event_type, client.base(), app_id);
    let msg = client
        .post(
            &format!("/api/v1/app/{}/msg", seg(app_id)),
            json!({"eventType": event_type, "payload": payload}),
        )
        .await?;
    println!(
        "sent {event_type} as {} to {app_id}",
        msg["id"].as_str().unwrap_or("?")
    );
    Ok(())
}
