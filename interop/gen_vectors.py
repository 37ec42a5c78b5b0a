#!/usr/bin/env python3
"""Regenerate crates/receiver/tests/vectors.json from third-party code.

    .venv/bin/python gen_vectors.py > ../crates/receiver/tests/vectors.json

The first three vectors are published ones (Standard Webhooks spec repo, and
the v1a cross-language vector from STACK.md §4); the rest have fixed inputs
and are signed here by PyPI `standardwebhooks` (v1) or `cryptography` (v1a),
then re-signed by the npm library (sign.mjs) and the script stops if the two
disagree. Nothing here uses Skyhook's own code.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from standardwebhooks.webhooks import Webhook

HERE = os.path.dirname(os.path.abspath(__file__))

PUBLISHED = [
    {
        "name": "standard-webhooks-vector-a",
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msgId": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "timestamp": 1614265330,
        "body": '{"test": 2432232314}',
        "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    },
    {
        "name": "standard-webhooks-vector-b",
        "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "msgId": "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        "timestamp": 1649367553,
        "body": '{"email":"test@example.com","username":"test_user"}',
        "signature": "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    },
    {
        "name": "v1a-cross-language",
        "secret": "whsk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "publicKey": "whpk_A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=",
        "msgId": "msg_1",
        "timestamp": 1700000000,
        "body": '{"a":1}',
        "signature": "v1a,DA+4m4VqA33Hm9Wlha/1LaJIOTEvbTa2btJ5gtcP1KIJ83aMbtlDaDEj9gW4UzCjPd9EMUgy41eDWvfIiFddCQ==",
    },
]

QUOTATION = json.dumps(
    {
        "type": "quotation.created",
        "createdAt": "2026-11-28T12:00:00.000Z",
        "projectUrl": "http://127.0.0.1:8071/projects/app_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        "quotation": {
            "id": "quo_2KWPBgLlAfxdpx2AI54pPJ85f4X",
            "customer": {"name": "Zoë Kowalska", "email": "zoe@example.com"},
            "configuration": {"material": "steel", "quantity": 12},
        },
        "files": [{"id": "file_2KWPBgLlAfxdpx2AI54pPJ85f4Y", "name": "drawing.pdf", "contentType": "application/pdf", "size": 12345}],
    },
    ensure_ascii=False,
    separators=(",", ":"),
)

# Fixed byte patterns rather than random ones, so the file is reproducible.
SECRET_32 = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
SECRET_64 = "whsec_" + base64.b64encode(bytes((7 * i + 3) % 256 for i in range(64))).decode()
SECRET_24 = "whsec_" + base64.b64encode(bytes(range(200, 224))).decode()
SEED = bytes((13 * i + 1) % 256 for i in range(32))

GENERATED_V1 = [
    ("utf8-body", SECRET_32, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1764331200, '{"name":"Zoë","city":"Kraków","note":"日本語 🚀"}'),
    ("quotation-created-64-byte-secret", SECRET_64, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4Z", 1764331201, QUOTATION),
    ("empty-body-24-byte-secret", SECRET_24, "msg_empty", 1764331202, ""),
    ("whitespace-and-escapes", SECRET_32, "msg_ws", 1764331203, '{\n  "a" : "tab\\there",\r\n  "b": [1, 2.5e10, null]\n}\n'),
]
GENERATED_V1A = [
    ("v1a-quotation-created", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4Z", 1764331204, QUOTATION),
]


def node_sign(secret, msg_id, ts, body):
    with tempfile.NamedTemporaryFile() as f:
        f.write(body.encode())
        f.flush()
        out = subprocess.run(
            ["node", os.path.join(HERE, "sign.mjs"), "--secret", secret, "--id", msg_id, "--timestamp", str(ts), "--body-file", f.name],
            check=True, capture_output=True, text=True,
        ).stdout
    return json.loads(out)["webhook-signature"]


def main():
    vectors = list(PUBLISHED)
    for name, secret, msg_id, ts, body in GENERATED_V1:
        sig = Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=timezone.utc), body)
        vectors.append({"name": name, "secret": secret, "msgId": msg_id, "timestamp": ts, "body": body, "signature": sig})
    for name, msg_id, ts, body in GENERATED_V1A:
        key = Ed25519PrivateKey.from_private_bytes(SEED)
        pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        sig = key.sign(f"{msg_id}.{ts}.{body}".encode())
        vectors.append({
            "name": name,
            "secret": "whsk_" + base64.b64encode(SEED).decode(),
            "publicKey": "whpk_" + base64.b64encode(pub).decode(),
            "msgId": msg_id, "timestamp": ts, "body": body,
            "signature": "v1a," + base64.b64encode(sig).decode(),
        })
    for v in vectors:
        theirs = node_sign(v["secret"], v["msgId"], v["timestamp"], v["body"])
        if theirs != v["signature"]:
            sys.exit(f"{v['name']}: npm/node:crypto gives {theirs}, expected {v['signature']}")
    json.dump(vectors, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
