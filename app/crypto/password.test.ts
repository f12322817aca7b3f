import { describe, expect, it } from "vitest";
import { hashPassword, verifyPassword } from "./password.server";

const PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$";

describe("hashPassword / verifyPassword", () => {
  it("produces an argon2id PHC string with the OWASP parameters", async () => {
    const phc = await hashPassword("correct horse battery staple");
    expect(phc.startsWith(PREFIX)).toBe(true);
    // Salt and hash follow, each in unpadded base64.
    const [salt, digest] = phc.slice(PREFIX.length).split("$");
    expect(salt).toMatch(/^[A-Za-z0-9+/]{22,}$/);
    expect(digest).toMatch(/^[A-Za-z0-9+/]{43,}$/);
  });

  it("verifies the right password and rejects a wrong one", async () => {
    const phc = await hashPassword("correct horse battery staple");
    expect(await verifyPassword(phc, "correct horse battery staple")).toBe(true);
    expect(await verifyPassword(phc, "correct horse battery stapl")).toBe(false);
    expect(await verifyPassword(phc, "Correct horse battery staple")).toBe(false);
    expect(await verifyPassword(phc, "")).toBe(false);
  });

  it("handles unicode passwords", async () => {
    const phc = await hashPassword("pässwörd 🔑");
    expect(await verifyPassword(phc, "pässwörd 🔑")).toBe(true);
    expect(await verifyPassword(phc, "passwort 🔑")).toBe(false);
  });

  it("salts: two hashes of the same password differ and both verify", async () => {
    const a = await hashPassword("same password");
    const b = await hashPassword("same password");
    expect(a).not.toBe(b);
    expect(await verifyPassword(a, "same password")).toBe(true);
    expect(await verifyPassword(b, "same password")).toBe(true);
  });

  it("returns false for a malformed hash instead of throwing", async () => {
    for (const bad of [
      "",
      "not a hash",
      "$argon2id$v=19$m=19456,t=2,p=1$",
      "$argon2id$v=19$m=19456,t=2,p=1$!!!$???",
      "$2b$10$abcdefghijklmnopqrstuv",
    ]) {
      await expect(verifyPassword(bad, "password")).resolves.toBe(false);
    }
  });

  it("returns false for a hash whose digest was altered", async () => {
    const phc = await hashPassword("password");
    // A character well inside the digest, so no base64 padding bits are involved.
    const i = phc.length - 10;
    const altered = phc.slice(0, i) + (phc[i] === "A" ? "B" : "A") + phc.slice(i + 1);
    expect(altered).not.toBe(phc);
    expect(await verifyPassword(altered, "password")).toBe(false);
  });
});
