// The dashboard opens today's encrypted counters beside the plain counts only where the private
// key sits in KEYS_DIR (the demo); a rewritten public key file is caught, not believed.
import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { access, appendAll, auditCompany, expectedCounts, makeTrail } from "../../tests/aggregates";
import { auditor } from "../../tests/users";
import { PAILLIER_PRIVATE_FILE } from "../crypto/paillier-private.server";
import { PAILLIER_PUBLIC_FILE } from "../crypto/paillier.server";
import { intrude } from "../../tests/trail";
import { encryptedTotals } from "./dashboard-totals.server";

let warn: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
});
afterEach(() => warn.mockRestore());

// The test clock's today is 2026-11-02.
const TODAY = [
  access("2026-11-02", "read", "lab_results", 0),
  access("2026-11-02", "read", "medications", 1),
  access("2026-11-02", "print", "lab_results", 2),
];
const YESTERDAY = [access("2026-11-01", "update", "allergies", 3)];

async function demoTrail() {
  const ctx = await makeTrail("demo-hospital", "audit-co");
  fs.copyFileSync(
    (await auditCompany()).privateFile,
    path.join(ctx.config.KEYS_DIR, PAILLIER_PRIVATE_FILE),
  );
  await appendAll(ctx, [...TODAY, ...YESTERDAY]);
  return ctx;
}

test("with the private key in KEYS_DIR, today's decrypted totals match the plain counts", async () => {
  const ctx = await demoTrail();
  const totals = await encryptedTotals(ctx, auditor);
  if (totals.state !== "open") throw new Error(`not opened: ${totals.state}`);
  expect(totals.match).toBe(true);
  const shown = new Map(
    totals.rows.map((r) => [`2026-11-02 ${r.dimension} ${r.key}`, r.decrypted]),
  );
  expect(shown).toEqual(expectedCounts(TODAY));
  expect(totals.rows.every((r) => r.plain === r.decrypted)).toBe(true);
});

test("with the public key only, the totals are left to the audit company", async () => {
  const ctx = await makeTrail("demo-hospital", "audit-co");
  await appendAll(ctx, TODAY);
  expect(await encryptedTotals(ctx, auditor)).toEqual({
    state: "sealed",
    keyId: expect.stringMatching(/^[0-9a-f]{64}$/),
  });
  const off = await makeTrail("demo-hospital");
  expect(await encryptedTotals(off, auditor)).toEqual({ state: "off" });
});

test("a public key file rewritten to another key: the counters are refused, not shown", async () => {
  const ctx = await demoTrail();
  fs.copyFileSync(
    (await auditCompany("rogue-co")).publicFile,
    path.join(ctx.config.KEYS_DIR, PAILLIER_PUBLIC_FILE),
  );
  expect(await encryptedTotals(ctx, auditor)).toEqual({
    state: "refused",
    problems: ["encrypted under another Paillier key than this private key"],
  });
});

test("a compromised trail shows no totals", async () => {
  const ctx = await demoTrail();
  intrude(ctx, (db) =>
    db.prepare("UPDATE audit_records SET occurred_at = occurred_at - 1 WHERE seq = 1").run(),
  );
  expect(await encryptedTotals(ctx, auditor)).toEqual({ state: "compromised" });
});
