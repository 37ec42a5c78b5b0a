#!/usr/bin/env python3
"""Verify a webhook with the PyPI `standardwebhooks` or `svix` library.

    verify.py --secret whsec_…|whpk_… --headers-json FILE|- --body-file FILE
              [--lib standardwebhooks|svix] [--now EPOCH]

--headers-json is a JSON object of header name -> value. `standardwebhooks`
reads only webhook-* headers; `svix` prefers svix-* and falls back to webhook-*.
--now freezes the library's clock so old test vectors pass its (still enforced)
5-minute tolerance. A `whpk_…` secret verifies v1a (Ed25519, via `cryptography`).

Exit status: 0 valid, 1 invalid, 2 usage error.
"""

import argparse
import base64
import binascii
import json
import sys
import time
from datetime import datetime

import common

TOLERANCE = 5 * 60


def freeze_clock(lib_module, now):
    """Both libraries call `datetime.now(tz=…)` from standardwebhooks.webhooks."""

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(now, tz=tz)

    lib_module.datetime = FrozenDatetime


def verify_v1a(public_key, headers, body, lib, now):
    """The libraries' rules, applied to v1a: same header names, same tolerance."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    names = ["svix", "webhook"] if lib == "svix" else ["webhook"]

    def get(suffix):
        for prefix in names:
            value = headers.get(f"{prefix}-{suffix}")
            if value:
                return value
        return None

    msg_id, ts, sigs = get("id"), get("timestamp"), get("signature")
    if not (msg_id and ts and sigs):
        return "missing required headers"
    if not ts.isdigit():
        return "invalid timestamp"
    if abs(int(ts) - now) > TOLERANCE:
        return "timestamp outside tolerance"
    key = Ed25519PublicKey.from_public_bytes(public_key)
    content = common.signed_content(msg_id, ts, body)
    for entry in sigs.split(" "):
        version, _, b64 = entry.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(b64, validate=True), content)
            return None
        except (InvalidSignature, binascii.Error, ValueError):
            continue
    return "no matching signature"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--secret", required=True)
    p.add_argument("--headers-json", required=True, help="file with a JSON object of headers, or -")
    p.add_argument("--body-file", required=True, help="file with the exact body bytes, or -")
    p.add_argument("--lib", choices=["standardwebhooks", "svix"], default="standardwebhooks")
    p.add_argument("--now", type=int, help="Unix seconds to use as the current time")
    args = p.parse_args()
    if args.headers_json == "-" and args.body_file == "-":
        common.usage_error("only one of --headers-json and --body-file can be -")

    try:
        headers = json.loads(common.read_bytes(args.headers_json))
    except ValueError as e:
        common.usage_error(f"--headers-json is not JSON: {e}")
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        common.usage_error("--headers-json must be an object of strings")
    headers = {k.lower(): v for k, v in headers.items()}
    body = common.read_bytes(args.body_file)
    now = args.now if args.now is not None else int(time.time())

    if args.secret.startswith("whpk_"):
        error = verify_v1a(common.b64_key(args.secret, "whpk_"), headers, body, args.lib, now)
    else:
        import standardwebhooks.webhooks as std

        if args.now is not None:
            freeze_clock(std, args.now)
        if args.lib == "svix":
            from svix.webhooks import Webhook
        else:
            Webhook = std.Webhook
        try:
            wh = Webhook(args.secret)
        except Exception as e:
            common.usage_error(f"bad secret: {e}")
        try:
            if args.lib == "svix":
                wh.verify(body, headers)
            else:
                # Judge the signature only: with json_parse (the default) an
                # empty or non-JSON body would be "invalid" for another reason.
                wh.verify(body, headers, json_parse=False)
            error = None
        except Exception as e:
            # WebhookVerificationError, but also what the library raises on
            # malformed input (e.g. a signature entry without a comma): all
            # mean "this library does not accept the message".
            error = f"{type(e).__name__}: {e}"

    if error:
        print(f"invalid: {error}", file=sys.stderr)
        sys.exit(1)
    print("valid")


if __name__ == "__main__":
    main()
