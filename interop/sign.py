#!/usr/bin/env python3
"""Sign a message with the PyPI Standard Webhooks library.

    sign.py --secret whsec_… --id msg_1 --timestamp 1614265330|now --body-file FILE|-
            [--lib standardwebhooks|svix]

Prints one JSON object {"webhook-id", "webhook-timestamp", "webhook-signature"}.
A `whsk_…` secret signs v1a (Ed25519, via `cryptography`). Exit 2 on usage errors.
"""

import argparse
import base64
import json
import time
from datetime import datetime, timezone

import common


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--secret", required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--timestamp", required=True, help="Unix seconds, or 'now'")
    p.add_argument("--body-file", required=True, help="file with the exact body bytes, or - for stdin")
    p.add_argument("--lib", choices=["standardwebhooks", "svix"], default="standardwebhooks")
    args = p.parse_args()

    if args.timestamp == "now":
        ts = int(time.time())
    elif args.timestamp.isdigit():
        ts = int(args.timestamp)
    else:
        common.usage_error("--timestamp must be Unix seconds or 'now'")
    body = common.read_bytes(args.body_file)

    if args.secret.startswith("whsk_"):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.from_private_bytes(common.b64_key(args.secret, "whsk_"))
        sig = key.sign(common.signed_content(args.id, ts, body))
        signature = "v1a," + base64.b64encode(sig).decode()
    else:
        if args.lib == "svix":
            from svix.webhooks import Webhook
        else:
            from standardwebhooks.webhooks import Webhook
        try:
            wh = Webhook(args.secret)
            data = body.decode("utf-8")
        except Exception as e:  # bad secret or non-UTF-8 body: the library cannot sign it
            common.usage_error(str(e))
        signature = wh.sign(args.id, datetime.fromtimestamp(ts, tz=timezone.utc), data)

    print(json.dumps({"webhook-id": args.id, "webhook-timestamp": str(ts), "webhook-signature": signature}))


if __name__ == "__main__":
    main()
