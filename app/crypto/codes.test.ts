import { randomBytes as realRandomBytes } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { generateCode, normalizeCode } from "./codes.server";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// Lets a test fix the "random" bytes a code is made of; otherwise real randomness.
const fixed = vi.hoisted(() => ({ bytes: null as Buffer | null }));
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return {
    ...actual,
    randomBytes: (n: number) => fixed.bytes ?? actual.randomBytes(n),
  };
});
afterEach(() => {
  fixed.bytes = null;
});

/** Decodes a code back to bytes, dropping the padding bits of the last character. */
function decode(code: string): Buffer {
  let bits = "";
  for (const c of code.replace(/-/g, "")) {
    const v = CROCKFORD.indexOf(c);
    expect(v).toBeGreaterThanOrEqual(0);
    bits += v.toString(2).padStart(5, "0");
  }
  const bytes: number[] = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

describe("generateCode", () => {
  it("has 160 bits by default: 32 base32 characters in dash-separated groups of 4", () => {
    const code = generateCode();
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){7}$/);
    const chars = code.replace(/-/g, "");
    expect(chars.length).toBe(32);
    // At least 128 bits: 5 bits per character.
    expect(chars.length * 5).toBeGreaterThanOrEqual(128);
  });

  it("never uses I, L, O or U", () => {
    const all = Array.from({ length: 200 }, () => generateCode()).join("");
    expect(all).not.toMatch(/[ILOU]/);
    for (const c of all.replace(/-/g, "")) expect(CROCKFORD).toContain(c);
  });

  it("honours the requested size, padding the last character", () => {
    // 16 bytes = 128 bits → 26 characters (the last carries 3 bits).
    const code = generateCode(16).replace(/-/g, "");
    expect(code.length).toBe(26);
    expect(generateCode(5).replace(/-/g, "").length).toBe(8);
    expect(generateCode(1).replace(/-/g, "").length).toBe(2);
    expect(generateCode(5)).toMatch(/^.{4}-.{4}$/);
  });

  it("encodes the bytes as big-endian Crockford base32", () => {
    fixed.bytes = Buffer.alloc(20, 0x00);
    expect(generateCode()).toBe(Array(8).fill("0000").join("-"));
    fixed.bytes = Buffer.alloc(20, 0xff);
    expect(generateCode()).toBe(Array(8).fill("ZZZZ").join("-"));
    // 11111|000 → Z, then 000 padded with zeros → 0.
    fixed.bytes = Buffer.from([0xf8]);
    expect(generateCode(1)).toBe("Z0");
    // 00000|111 → 0, then 111 padded with zeros (11100 = 28) → W.
    fixed.bytes = Buffer.from([0x07]);
    expect(generateCode(1)).toBe("0W");
  });

  it("decodes back to the bytes it was made of", () => {
    for (const size of [1, 5, 16, 20, 33]) {
      const bytes = realRandomBytes(size);
      fixed.bytes = bytes;
      expect(decode(generateCode(size)).equals(bytes)).toBe(true);
    }
  });

  it("gives distinct codes", () => {
    const codes = new Set(Array.from({ length: 1000 }, () => generateCode()));
    expect(codes.size).toBe(1000);
  });

  it("uses the whole alphabet", () => {
    const chars = new Set(
      Array.from({ length: 200 }, () => generateCode())
        .join("")
        .replace(/-/g, ""),
    );
    expect(chars.size).toBe(32);
  });

  it("is unchanged by normalizeCode", () => {
    const code = generateCode();
    expect(normalizeCode(code)).toBe(code.replace(/-/g, ""));
  });
});

describe("normalizeCode", () => {
  it("ignores case, spaces and dashes", () => {
    expect(normalizeCode("abcd-efgh")).toBe("ABCDEFGH");
    expect(normalizeCode(" ab cd\t-ef gh \n")).toBe("ABCDEFGH");
    expect(normalizeCode("AB--CD")).toBe("ABCD");
  });

  it("reads O as 0 and I or L as 1, in either case", () => {
    expect(normalizeCode("O0o")).toBe("000");
    expect(normalizeCode("IiLl1")).toBe("11111");
    expect(normalizeCode("h0la-OIL")).toBe("H01A011");
  });

  it("makes a retyped code match the original", () => {
    const code = generateCode();
    const retyped = code.toLowerCase().replace(/0/g, "o").replace(/1/g, "l").replace(/-/g, " ");
    expect(normalizeCode(retyped)).toBe(normalizeCode(code));
  });
});
