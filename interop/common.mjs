// Helpers shared by sign.mjs and verify.mjs. v1 (HMAC) work is done only by
// the npm `standardwebhooks` library; it has no v1a, so v1a (Ed25519) is done
// with node:crypto: `whsk_` = base64 of the 32-byte seed, `whpk_` = base64 of
// the 32-byte public key, signature over `{id}.{timestamp}.{body}`.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createPrivateKey, createPublicKey } from "node:crypto";

export const USAGE = 2;

export function usageError(msg) {
  console.error(`usage error: ${msg}`);
  process.exit(USAGE);
}

export function args(options, usage) {
  try {
    const { values } = parseArgs({ options, strict: true, allowPositionals: false });
    for (const [name, opt] of Object.entries(options)) {
      if (opt.required && values[name] === undefined) usageError(`--${name} is required\n${usage}`);
    }
    return values;
  } catch (e) {
    usageError(`${e.message}\n${usage}`);
  }
}

export function readBytes(path) {
  try {
    return readFileSync(path === "-" ? 0 : path);
  } catch (e) {
    usageError(`cannot read ${path}: ${e.message}`);
  }
}

function key32(secret, prefix) {
  const key = Buffer.from(secret.slice(prefix.length), "base64");
  if (key.length !== 32) usageError(`${prefix} key must hold 32 bytes, got ${key.length}`);
  return key;
}

// DER prefixes that wrap a raw 32-byte Ed25519 key into PKCS#8 / SPKI, the
// only raw-key formats node:crypto imports.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export function ed25519PrivateKey(whsk) {
  const der = Buffer.concat([PKCS8_PREFIX, key32(whsk, "whsk_")]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

export function ed25519PublicKey(whpk) {
  const der = Buffer.concat([SPKI_PREFIX, key32(whpk, "whpk_")]);
  return createPublicKey({ key: der, format: "der", type: "spki" });
}

export function signedContent(msgId, timestamp, body) {
  return Buffer.concat([Buffer.from(`${msgId}.${timestamp}.`), body]);
}
