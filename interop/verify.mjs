#!/usr/bin/env node
// Verify a webhook with the npm `standardwebhooks` library.
//   node verify.mjs --secret whsec_…|whpk_… --headers-json FILE|- --body-file FILE [--now EPOCH]
// --headers-json is a JSON object of header name -> value (the library reads
// only webhook-* headers). --now freezes the clock the library reads
// (Date.now) so old vectors pass its 5-minute tolerance. A `whpk_…` secret
// verifies v1a (Ed25519, node:crypto) under the library's rules.
// Exit status: 0 valid, 1 invalid, 2 usage error.
import { verify as edVerify } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { args, ed25519PublicKey, readBytes, signedContent, usageError } from "./common.mjs";

const USAGE =
  "usage: node verify.mjs --secret S --headers-json FILE|- --body-file FILE|- [--now EPOCH] [--lib standardwebhooks]";
const TOLERANCE = 5 * 60;
const opts = args(
  {
    secret: { type: "string", required: true },
    "headers-json": { type: "string", required: true },
    "body-file": { type: "string", required: true },
    // Accepted for symmetry with verify.py; npm has only one library.
    lib: { type: "string" },
    now: { type: "string" },
  },
  USAGE,
);
if (opts.lib !== undefined && opts.lib !== "standardwebhooks") usageError("--lib must be standardwebhooks");
if (opts["headers-json"] === "-" && opts["body-file"] === "-") usageError("only one input can be -");
if (opts.now !== undefined) {
  if (!/^[0-9]+$/.test(opts.now)) usageError("--now must be Unix seconds");
  const frozen = Number(opts.now) * 1000;
  Date.now = () => frozen;
}

let headers;
try {
  headers = JSON.parse(readBytes(opts["headers-json"]).toString("utf8"));
} catch (e) {
  usageError(`--headers-json is not JSON: ${e.message}`);
}
if (headers === null || typeof headers !== "object" || Array.isArray(headers)) {
  usageError("--headers-json must be an object");
}
const body = readBytes(opts["body-file"]);

function verifyV1a() {
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const id = h["webhook-id"];
  const ts = h["webhook-timestamp"];
  const sigs = h["webhook-signature"];
  if (!id || !ts || !sigs) return "missing required headers";
  if (!/^[0-9]+$/.test(ts)) return "invalid timestamp";
  if (Math.abs(Number(ts) - Math.floor(Date.now() / 1000)) > TOLERANCE) return "timestamp outside tolerance";
  const key = ed25519PublicKey(opts.secret);
  const content = signedContent(id, ts, body);
  for (const entry of sigs.split(" ")) {
    const [version, b64] = entry.split(",");
    if (version !== "v1a" || !b64) continue;
    if (edVerify(null, content, key, Buffer.from(b64, "base64"))) return null;
  }
  return "no matching signature";
}

let error = null;
if (opts.secret.startsWith("whpk_")) {
  error = verifyV1a();
} else {
  let wh;
  try {
    wh = new Webhook(opts.secret);
  } catch (e) {
    usageError(`bad secret: ${e.message}`);
  }
  try {
    wh.verify(body, headers);
  } catch (e) {
    error = `${e.name}: ${e.message}`;
  }
}

if (error) {
  console.error(`invalid: ${error}`);
  process.exit(1);
}
console.log("valid");
