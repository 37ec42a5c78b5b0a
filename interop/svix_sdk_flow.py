#!/usr/bin/env python3
"""Drive a Skyhook server with the official Svix Python SDK, unchanged.

    svix_sdk_flow.py --server URL --token TOKEN --receiver URL

create app -> endpoint -> message -> list attempts -> resend, plus the other calls a
typical integration makes. Prints one JSON object with what it saw; exits non-zero
(with the SDK's exception) on any failure.
"""

import argparse
import json
import sys
import time

from svix.api import (
    ApplicationIn,
    EndpointHeadersIn,
    EndpointIn,
    EndpointPatch,
    EndpointSecretRotateIn,
    EventTypeIn,
    MessageGetOptions,
    MessageIn,
    Svix,
    SvixOptions,
)


def poll(what, fn, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--receiver", required=True)
    args = ap.parse_args()

    svix = Svix(args.token, SvixOptions(server_url=args.server))
    svix.health.get()
    svix.event_type.create(EventTypeIn(name="sdk.tested", description="from the Svix SDK"))
    app = svix.application.create(ApplicationIn(name="SDK app", uid="sdk-app"))
    again = svix.application.get_or_create(ApplicationIn(name="ignored", uid="sdk-app"))
    assert again.id == app.id, (again.id, app.id)
    assert svix.application.get("sdk-app").id == app.id

    ep = svix.endpoint.create(app.id, EndpointIn(url=args.receiver, event_types=["sdk.tested"], uid="sdk-ep"))
    svix.endpoint.patch(app.id, ep.id, EndpointPatch(description="patched by the SDK"))
    assert svix.endpoint.get(app.id, "sdk-ep").description == "patched by the SDK"
    svix.endpoint.set_headers(app.id, ep.id, EndpointHeadersIn(headers={"X-From": "sdk"}))
    assert svix.endpoint.get_headers(app.id, ep.id).headers == {"X-From": "sdk"}
    secret = svix.endpoint.get_secret(app.id, ep.id).key
    svix.endpoint.rotate_secret(app.id, ep.id, EndpointSecretRotateIn())
    rotated = svix.endpoint.get_secret(app.id, ep.id).key
    assert rotated != secret

    msg = svix.message.create(app.id, MessageIn(event_type="sdk.tested", payload={"hello": "world"}, event_id="sdk-evt-1"))
    # SDK 2.9.1 sends with_content=false unless asked (`self.with_content or False`),
    # and Skyhook honours it, as Svix does.
    assert svix.message.get(app.id, msg.id).payload == {}
    assert svix.message.get(app.id, msg.id, MessageGetOptions(with_content=True)).payload == {"hello": "world"}
    assert any(m.id == msg.id for m in svix.message.list(app.id).data)

    attempts = poll("a successful attempt", lambda: [a for a in svix.message_attempt.list_by_msg(app.id, msg.id).data if a.status_text == "success"])
    svix.message_attempt.resend(app.id, msg.id, ep.id)
    both = poll("the resent attempt", lambda: (lambda d: d if len(d) >= 2 else None)(svix.message_attempt.list_by_msg(app.id, msg.id).data))
    one = svix.message_attempt.get(app.id, msg.id, attempts[0].id)
    dests = svix.message_attempt.list_attempted_destinations(app.id, msg.id).data
    msgs = svix.message_attempt.list_attempted_messages(app.id, ep.id).data
    by_ep = svix.message_attempt.list_by_endpoint(app.id, ep.id).data
    stats = svix.endpoint.get_stats(app.id, ep.id)

    print(json.dumps({
        "app": app.id,
        "endpoint": ep.id,
        "msg": msg.id,
        "secret": rotated,
        "attempts": len(both),
        "firstStatus": attempts[0].response_status_code,
        "triggerTypes": sorted(int(a.trigger_type) for a in both),
        "attemptFetched": one.id == attempts[0].id,
        "destinations": [d.id for d in dests],
        "endpointMessages": [m.id for m in msgs],
        "attemptsByEndpoint": len(by_ep),
        "success": stats.success,
    }))


if __name__ == "__main__":
    sys.exit(main())
