import { createHash, createHmac, randomBytes } from "node:crypto";
import { encodeFields, type Field } from "./encoding.server";

/** What a blind index is computed over; each kind has its own domain so values never collide. */
export type BlindIndexKind =
  "username" | "patient_id" | "login_address" | "actor" | "action" | "table_affected" | "purpose";

/** Normalizes a value before indexing: NFKC, trimmed, case-folded. */
export function normalizeForIndex(value: string): string {
  return value.normalize("NFKC").trim().toLowerCase();
}

/** HMAC-SHA-256 over the canonical encoding of `fields`. */
export function keyedDigest(key: Buffer, fields: readonly Field[]): Buffer {
  return createHmac("sha256", key).update(encodeFields(fields)).digest();
}

/** HMAC-SHA-256 blind index of a normalized value, under the blind-index key. */
export function blindIndex(key: Buffer, kind: BlindIndexKind, value: string): Buffer {
  return keyedDigest(key, ["ehr-audit-blind-index", kind, normalizeForIndex(value)]);
}

/** SHA-256 of bytes or UTF-8 text. */
export function sha256(data: Buffer | string): Buffer {
  return createHash("sha256").update(data).digest();
}

/** A random secret of `bytes` bytes, as base64url text (invitation codes, API tokens). */
export function randomSecret(bytes = 24): string {
  return randomBytes(bytes).toString("base64url");
}
