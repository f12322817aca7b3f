/** One field of a canonical encoding: bytes, UTF-8 text, an unsigned integer, or null. */
export type Field = Buffer | string | number | bigint | null;

const NULL_LENGTH = 0xffffffff;

/**
 * Canonical, unambiguous encoding of a list of fields (docs/decisions/003-canonical-record-encoding.md):
 * a 1-byte tag ('b' bytes, 's' UTF-8 text, 'u' unsigned 64-bit integer, 'n' null), then for
 * 'b' and 's' a 4-byte big-endian length and the bytes, for 'u' 8 bytes big-endian, for 'n' nothing.
 */
export function encodeFields(fields: readonly Field[]): Buffer {
  const parts: Buffer[] = [];
  for (const field of fields) {
    if (field === null) {
      parts.push(Buffer.from("n"));
    } else if (typeof field === "number" || typeof field === "bigint") {
      const n = BigInt(field);
      if (n < 0n || n > 0xffffffffffffffffn) throw new RangeError(`integer out of range: ${n}`);
      const b = Buffer.alloc(9);
      b.write("u", 0);
      b.writeBigUInt64BE(n, 1);
      parts.push(b);
    } else {
      const bytes = typeof field === "string" ? Buffer.from(field, "utf8") : field;
      if (bytes.length >= NULL_LENGTH) throw new RangeError("field too long");
      const head = Buffer.alloc(5);
      head.write(typeof field === "string" ? "s" : "b", 0);
      head.writeUInt32BE(bytes.length, 1);
      parts.push(head, bytes);
    }
  }
  return Buffer.concat(parts);
}
