"""Helpers shared by sign.py and verify.py.

v1 (HMAC) work is always done by the third-party libraries; they have no v1a,
so v1a (Ed25519) is done here with `cryptography`, following the unmerged
Standard Webhooks proposal: `whsk_` = base64 of the 32-byte seed, `whpk_` =
base64 of the 32-byte public key, signature over `{id}.{timestamp}.{body}`.
"""

import base64
import sys

USAGE = 2


def usage_error(msg):
    print(f"usage error: {msg}", file=sys.stderr)
    sys.exit(USAGE)


def read_bytes(path):
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        usage_error(f"cannot read {path}: {e}")


def b64_key(secret, prefix):
    raw = secret[len(prefix):]
    try:
        # The libraries accept unpadded base64; so do we.
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except ValueError as e:
        usage_error(f"bad base64 in {prefix} key: {e}")
    if len(key) != 32:
        usage_error(f"{prefix} key must hold 32 bytes, got {len(key)}")
    return key


def signed_content(msg_id, timestamp, body):
    return f"{msg_id}.{timestamp}.".encode() + body
