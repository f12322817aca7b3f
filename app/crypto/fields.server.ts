import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { encodeFields } from "./encoding.server";

const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** Where a ciphertext lives; it is bound into the AAD so it cannot be moved elsewhere. */
export type FieldLocation = { table: string; column: string; rowId: string };

export class DecryptionError extends Error {
  constructor(public readonly location: FieldLocation) {
    super(
      `cannot decrypt ${location.table}.${location.column} of row ${location.rowId}`,
    );
    this.name = "DecryptionError";
  }
}

function aad({ table, column, rowId }: FieldLocation): Buffer {
  return encodeFields(["ehr-audit-field", VERSION, table, column, rowId]);
}

/** AES-256-GCM with a fresh 96-bit nonce; output is version ‖ nonce ‖ ciphertext ‖ tag. */
export function encryptField(
  key: Buffer,
  plaintext: string,
  location: FieldLocation,
): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(aad(location));
  const body = Buffer.concat([
    cipher.update(plaintext, "utf8"),
    cipher.final(),
  ]);
  return Buffer.concat([
    Buffer.from([VERSION]),
    nonce,
    body,
    cipher.getAuthTag(),
  ]);
}

/** Decrypts and authenticates a field; throws DecryptionError on any mismatch. */
export function decryptField(
  key: Buffer,
  sealed: Buffer,
  location: FieldLocation,
): string {
  if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== VERSION) {
    throw new DecryptionError(location);
  }
  try {
    const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const decipher = createDecipheriv("aes-256-gcm", key, nonce);
    decipher.setAAD(aad(location));
    decipher.setAuthTag(tag);
    const body = sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString(
      "utf8",
    );
  } catch {
    throw new DecryptionError(location);
  }
}
