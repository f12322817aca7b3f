/** One field of a canonical encoding: bytes, UTF-8 text, an unsigned integer, or null. */
export type Field = Buffer | string | number | bigint | null;

const MAX_LENGTH = 0xfffffffe;
const TAG_BYTES = 0x62; // "b"
const TAG_TEXT = 0x73; // "s"
const TAG_UINT = 0x75; // "u"
const TAG_NULL = 0x6e; // "n"

function encodedLength(field: Field): number {
  if (field === null) return 1;
  if (typeof field === "number" || typeof field === "bigint") return 9;
  const length = typeof field === "string" ? Buffer.byteLength(field, "utf8") : field.length;
  if (length > MAX_LENGTH) throw new RangeError("field too long");
  return 5 + length;
}

/**
 * Canonical, unambiguous encoding of a list of fields (docs/decisions/003-canonical-record-encoding.md):
 * a 1-byte tag ('b' bytes, 's' UTF-8 text, 'u' unsigned 64-bit integer, 'n' null), then for
 * 'b' and 's' a 4-byte big-endian length and the bytes, for 'u' 8 bytes big-endian, for 'n' nothing.
 * `prefix` bytes are reserved at the start (a hash's domain byte), left zero.
 */
export function encodeFields(fields: readonly Field[], prefix = 0): Buffer {
  let size = prefix;
  for (const field of fields) size += encodedLength(field);
  const out = Buffer.allocUnsafe(size);
  out.fill(0, 0, prefix);
  let at = prefix;
  for (const field of fields) {
    if (field === null) {
      out[at++] = TAG_NULL;
    } else if (typeof field === "number" || typeof field === "bigint") {
      const n = BigInt(field);
      if (n < 0n || n > 0xffffffffffffffffn) throw new RangeError(`integer out of range: ${n}`);
      out[at] = TAG_UINT;
      out.writeBigUInt64BE(n, at + 1);
      at += 9;
    } else if (typeof field === "string") {
      out[at] = TAG_TEXT;
      const written = out.write(field, at + 5, "utf8");
      out.writeUInt32BE(written, at + 1);
      at += 5 + written;
    } else {
      out[at] = TAG_BYTES;
      out.writeUInt32BE(field.length, at + 1);
      field.copy(out, at + 5);
      at += 5 + field.length;
    }
  }
  return out;
}
