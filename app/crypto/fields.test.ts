import { createCipheriv, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { encodeFields } from "./encoding.server";
import { DecryptionError, decryptField, encryptField, type FieldLocation } from "./fields.server";

const key = randomBytes(32);
const location: FieldLocation = {
  table: "patients",
  column: "name",
  rowId: "42",
};
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

function flipBit(buf: Buffer, index: number): Buffer {
  const copy = Buffer.from(buf);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

function expectDecryptionError(k: Buffer, sealed: Buffer, where: FieldLocation): void {
  let caught: unknown;
  try {
    decryptField(k, sealed, where);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(DecryptionError);
  expect((caught as DecryptionError).location).toEqual(where);
  expect((caught as DecryptionError).name).toBe("DecryptionError");
}

describe("encryptField / decryptField", () => {
  it("round-trips ASCII, unicode and empty text", () => {
    for (const text of ["Jane Doe", "Zoë Ñúñez — 患者 🩺", "", "x".repeat(10_000)]) {
      const sealed = encryptField(key, text, location);
      expect(decryptField(key, sealed, location)).toBe(text);
    }
  });

  it("round-trips text whose UTF-8 contains 0x80 bytes or trailing NULs", () => {
    for (const text of [
      "À",
      "€",
      "\u0000",
      "a\u0000\u0000",
      "À\u0000",
      "\u0080",
      "x".repeat(31) + "À",
    ]) {
      const sealed = encryptField(key, text, location);
      expect(decryptField(key, sealed, location)).toBe(text);
    }
  });

  it("round-trips values around the padding block size", () => {
    for (const n of [0, 1, 30, 31, 32, 33, 63, 64, 65]) {
      const text = "y".repeat(n);
      expect(decryptField(key, encryptField(key, text, location), location)).toBe(text);
    }
  });

  it("has the layout version ‖ nonce ‖ ciphertext ‖ tag", () => {
    const text = "héllo";
    const sealed = encryptField(key, text, location);
    expect(sealed[0]).toBe(1);
    expect(sealed.length).toBeGreaterThan(
      1 + NONCE_BYTES + Buffer.byteLength(text, "utf8") + TAG_BYTES - 1,
    );
    expect(sealed.includes(Buffer.from(text, "utf8"))).toBe(false);
  });

  it("pads the plaintext to a multiple of 32 bytes, so short values look alike", () => {
    const overhead = 1 + NONCE_BYTES + TAG_BYTES;
    const lengthOf = (text: string) => encryptField(key, text, location).length - overhead;
    expect(lengthOf("")).toBe(32);
    expect(lengthOf("a")).toBe(32);
    expect(lengthOf("x".repeat(31))).toBe(32);
    // The padding always adds at least one byte (the 0x80 marker).
    expect(lengthOf("x".repeat(32))).toBe(64);
    expect(lengthOf("x".repeat(63))).toBe(64);
    expect(lengthOf("x".repeat(64))).toBe(96);
  });

  it("rejects an authentic ciphertext whose plaintext is not properly padded", () => {
    // Sealed with the right key and AAD, but without the padding encryptField adds.
    const sealRaw = (plaintext: Buffer) => {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      cipher.setAAD(
        encodeFields(["ehr-audit-field", 1, location.table, location.column, location.rowId]),
      );
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return Buffer.concat([Buffer.from([1]), nonce, body, cipher.getAuthTag()]);
    };
    // Sanity check: correctly padded, the hand-made value decrypts.
    const good = Buffer.alloc(32);
    good.write("ok");
    good[2] = 0x80;
    expect(decryptField(key, sealRaw(good), location)).toBe("ok");
    // No 0x80 marker at all.
    expectDecryptionError(key, sealRaw(Buffer.from("no marker")), location);
    expectDecryptionError(key, sealRaw(Buffer.alloc(0)), location);
    // A marker followed by a non-zero byte.
    const bad = Buffer.from(good);
    bad[31] = 1;
    expectDecryptionError(key, sealRaw(bad), location);
  });

  it("uses a fresh nonce: two encryptions of the same value differ", () => {
    const a = encryptField(key, "same value", location);
    const b = encryptField(key, "same value", location);
    expect(a.equals(b)).toBe(false);
    expect(a.subarray(1, 1 + NONCE_BYTES).equals(b.subarray(1, 1 + NONCE_BYTES))).toBe(false);
    expect(decryptField(key, a, location)).toBe("same value");
    expect(decryptField(key, b, location)).toBe("same value");
  });

  it("never repeats a nonce across many encryptions, refills of the nonce buffer included", () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const sealed = encryptField(key, `value ${i}`, location);
      const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
      expect(nonce.equals(Buffer.alloc(NONCE_BYTES))).toBe(false);
      nonces.add(nonce.toString("hex"));
      expect(decryptField(key, sealed, location)).toBe(`value ${i}`);
    }
    expect(nonces.size).toBe(2000);
  });

  it("binds the ciphertext to its table, column and row", () => {
    const sealed = encryptField(key, "secret", location);
    expectDecryptionError(key, sealed, { ...location, table: "users" });
    expectDecryptionError(key, sealed, { ...location, column: "address" });
    expectDecryptionError(key, sealed, { ...location, rowId: "43" });
    expectDecryptionError(key, sealed, { ...location, rowId: "" });
  });

  it("does not confuse locations whose parts concatenate alike", () => {
    const a: FieldLocation = { table: "ab", column: "c", rowId: "1" };
    const b: FieldLocation = { table: "a", column: "bc", rowId: "1" };
    const sealed = encryptField(key, "secret", a);
    expect(decryptField(key, sealed, a)).toBe("secret");
    expectDecryptionError(key, sealed, b);
  });

  it("rejects a flipped bit in the ciphertext body", () => {
    const sealed = encryptField(key, "secret value", location);
    expectDecryptionError(key, flipBit(sealed, 1 + NONCE_BYTES), location);
    expectDecryptionError(key, flipBit(sealed, sealed.length - TAG_BYTES - 1), location);
  });

  it("rejects a flipped bit in the nonce", () => {
    const sealed = encryptField(key, "secret value", location);
    expectDecryptionError(key, flipBit(sealed, 1), location);
    expectDecryptionError(key, flipBit(sealed, NONCE_BYTES), location);
  });

  it("rejects a flipped bit in the tag", () => {
    const sealed = encryptField(key, "secret value", location);
    expectDecryptionError(key, flipBit(sealed, sealed.length - TAG_BYTES), location);
    expectDecryptionError(key, flipBit(sealed, sealed.length - 1), location);
  });

  it("rejects a wrong key", () => {
    const sealed = encryptField(key, "secret value", location);
    expectDecryptionError(randomBytes(32), sealed, location);
    expectDecryptionError(flipBit(key, 0), sealed, location);
  });

  it("rejects a truncated value", () => {
    const sealed = encryptField(key, "secret value", location);
    // Dropping part of the tag, of the body, or everything but the header.
    expectDecryptionError(key, sealed.subarray(0, sealed.length - 1), location);
    expectDecryptionError(key, sealed.subarray(0, sealed.length - 4), location);
    expectDecryptionError(key, sealed.subarray(0, 1 + NONCE_BYTES + TAG_BYTES - 1), location);
    expectDecryptionError(key, sealed.subarray(0, 1), location);
    expectDecryptionError(key, Buffer.alloc(0), location);
  });

  it("rejects a shortened tag even when the value is long enough", () => {
    // Dropping a ciphertext byte, so the body and the tag no longer line up.
    const sealed = encryptField(key, "a longer secret value", location);
    const withoutBodyByte = Buffer.concat([
      sealed.subarray(0, 1 + NONCE_BYTES),
      sealed.subarray(1 + NONCE_BYTES + 1),
    ]);
    expectDecryptionError(key, withoutBodyByte, location);
  });

  it("rejects a wrong version byte", () => {
    const sealed = encryptField(key, "secret value", location);
    for (const version of [0, 2, 0xff]) {
      const copy = Buffer.from(sealed);
      copy[0] = version;
      expectDecryptionError(key, copy, location);
    }
  });

  it("rejects appended bytes", () => {
    const sealed = encryptField(key, "secret value", location);
    expectDecryptionError(key, Buffer.concat([sealed, Buffer.from([0])]), location);
  });

  it("names the location in the error message", () => {
    const sealed = encryptField(key, "secret value", location);
    expect(() => decryptField(key, sealed, { ...location, rowId: "99" })).toThrow(
      "patients.name of row 99",
    );
  });
});
