import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { encodeFields } from "./encoding.server";
import { blindIndex, keyedDigest, normalizeForIndex, randomSecret, sha256 } from "./hashing.server";

const key = randomBytes(32);

describe("normalizeForIndex", () => {
  it("trims, lowercases and applies NFKC", () => {
    expect(normalizeForIndex("  Alice.Smith \n")).toBe("alice.smith");
    // Fullwidth letters and the "ﬁ" ligature fold under NFKC.
    expect(normalizeForIndex("ＡＢＣ")).toBe("abc");
    expect(normalizeForIndex("ﬁle")).toBe("file");
    // Composed and decomposed é are one value.
    expect(normalizeForIndex("e\u0301")).toBe(normalizeForIndex("\u00e9"));
  });
});

describe("blindIndex", () => {
  it("is a deterministic 32-byte HMAC-SHA-256", () => {
    const a = blindIndex(key, "username", "alice");
    const b = blindIndex(key, "username", "alice");
    expect(a.length).toBe(32);
    expect(a.equals(b)).toBe(true);
    const expected = createHmac("sha256", key)
      .update(encodeFields(["ehr-audit-blind-index", "username", "alice"]))
      .digest();
    expect(a.equals(expected)).toBe(true);
  });

  it("normalizes case, surrounding whitespace and unicode forms", () => {
    const base = blindIndex(key, "username", "josé");
    expect(blindIndex(key, "username", "JOSÉ").equals(base)).toBe(true);
    expect(blindIndex(key, "username", "  josé\t").equals(base)).toBe(true);
    expect(blindIndex(key, "username", "jose\u0301").equals(base)).toBe(true);
    expect(blindIndex(key, "username", "ｊｏｓé").equals(base)).toBe(true);
  });

  it("differs for different values", () => {
    expect(blindIndex(key, "username", "alice").equals(blindIndex(key, "username", "alicf"))).toBe(
      false,
    );
    expect(blindIndex(key, "username", "al ice").equals(blindIndex(key, "username", "alice"))).toBe(
      false,
    );
  });

  it("separates the domains of different kinds", () => {
    const value = "12345";
    const username = blindIndex(key, "username", value);
    const patient = blindIndex(key, "patient_id", value);
    const address = blindIndex(key, "login_address", value);
    expect(username.equals(patient)).toBe(false);
    expect(username.equals(address)).toBe(false);
    expect(patient.equals(address)).toBe(false);
  });

  it("differs per key", () => {
    const other = randomBytes(32);
    expect(
      blindIndex(key, "username", "alice").equals(blindIndex(other, "username", "alice")),
    ).toBe(false);
  });
});

describe("keyedDigest", () => {
  it("is an HMAC over the canonical encoding, so field splits matter", () => {
    const a = keyedDigest(key, ["ab", "c"]);
    const b = keyedDigest(key, ["a", "bc"]);
    expect(a.length).toBe(32);
    expect(a.equals(b)).toBe(false);
    expect(a.equals(keyedDigest(key, ["ab", "c"]))).toBe(true);
  });
});

describe("sha256", () => {
  it("matches the known test vector and hashes text as UTF-8", () => {
    expect(sha256("abc").toString("hex")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    expect(sha256("é").equals(sha256(Buffer.from("é", "utf8")))).toBe(true);
  });
});

describe("randomSecret", () => {
  it("is base64url of 24 bytes by default", () => {
    const secret = randomSecret();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(Buffer.from(secret, "base64url").length).toBe(24);
  });

  it("honours the requested length", () => {
    expect(Buffer.from(randomSecret(32), "base64url").length).toBe(32);
    expect(randomSecret(3)).toMatch(/^[A-Za-z0-9_-]{4}$/);
  });

  it("does not repeat and is not constant", () => {
    const secrets = new Set(Array.from({ length: 200 }, () => randomSecret()));
    expect(secrets.size).toBe(200);
    // Across many secrets, nearly all of the 64 base64url characters appear.
    const chars = new Set([...secrets].join(""));
    expect(chars.size).toBeGreaterThan(55);
  });
});
