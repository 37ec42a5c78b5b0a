#!/usr/bin/env node
// Sign a message with the npm `standardwebhooks` library.
//   node sign.mjs --secret whsec_… --id msg_1 --timestamp 1614265330|now --body-file FILE|-
// Prints one JSON object {"webhook-id", "webhook-timestamp", "webhook-signature"}.
// A `whsk_…` secret signs v1a (Ed25519, node:crypto). Exit 2 on usage errors.
import { sign as edSign } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { args, ed25519PrivateKey, readBytes, signedContent, usageError } from "./common.mjs";

const USAGE = "usage: node sign.mjs --secret S --id ID --timestamp SECS|now --body-file FILE|-";
const opts = args(
  {
    secret: { type: "string", required: true },
    id: { type: "string", required: true },
    timestamp: { type: "string", required: true },
    "body-file": { type: "string", required: true },
  },
  USAGE,
);

let ts;
if (opts.timestamp === "now") ts = Math.floor(Date.now() / 1000);
else if (/^[0-9]+$/.test(opts.timestamp)) ts = Number(opts.timestamp);
else usageError("--timestamp must be Unix seconds or 'now'");
const body = readBytes(opts["body-file"]);

let signature;
if (opts.secret.startsWith("whsk_")) {
  const sig = edSign(null, signedContent(opts.id, ts, body), ed25519PrivateKey(opts.secret));
  signature = `v1a,${sig.toString("base64")}`;
} else {
  let wh;
  try {
    wh = new Webhook(opts.secret);
  } catch (e) {
    usageError(`bad secret: ${e.message}`);
  }
  signature = wh.sign(opts.id, new Date(ts * 1000), body);
}

console.log(
  JSON.stringify({ "webhook-id": opts.id, "webhook-timestamp": String(ts), "webhook-signature": signature }),
);
