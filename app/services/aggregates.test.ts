// Encrypted counters from two trails are added by someone holding public keys only, and only
// the audit company's private key opens the sum. Changed files are refused.
import { generateKeyPairSync } from "node:crypto";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import {
  access,
  appendAll,
  auditCompany,
  countsOf,
  expectedCounts,
  makeTrail,
} from "../../tests/aggregates";
import { intrude } from "../../tests/trail";
import { toHex } from "../crypto/paillier.server";
import { keyIdOf } from "../keys.server";
import { aggregateSigningInput, type AggregateFile } from "../trail/aggregate-file.server";
import { signBytes } from "../crypto/signing.server";
import { openAggregate } from "./aggregate-open.server";
import { sumAggregateFiles } from "./aggregate-sum.server";
import { buildAggregateFile, type Period } from "./aggregates.server";

// A tampered trail raises an alert, written to the outbox with a console.warn.
let warn: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
});
afterEach(() => warn.mockRestore());

const PERIOD: Period = { from: "2026-11-01", to: "2026-11-02" };
const A = [
  access("2026-11-01", "read", "lab_results", 0),
  access("2026-11-01", "read", "lab_results", 1),
  access("2026-11-01", "print", "medications", 2),
  access("2026-11-02", "update", "medications", 3),
  // Outside the period: not counted.
  access("2026-10-31", "read", "lab_results", 4),
];
const B = [
  access("2026-11-01", "read", "lab_results", 0),
  access("2026-11-02", "delete", "allergies", 1),
  access("2026-11-02", "read", "allergies", 2),
];
const IN_PERIOD = (inputs: typeof A) => inputs.filter((r) => r.occurredAt >= Date.UTC(2026, 10, 1));

async function counterFile(origin: string, inputs = A, company = "audit-co", period = PERIOD) {
  const ctx = await makeTrail(origin, company);
  await appendAll(ctx, inputs);
  const built = await buildAggregateFile(ctx, "test", period);
  if (!built.ok) throw new Error(`no counter file: ${built.reason}`);
  return { ctx, file: built.file, plain: built.plain };
}

const input = (name: string, file: unknown) => ({ name, bytes: Buffer.from(JSON.stringify(file)) });
const clone = (file: AggregateFile): AggregateFile =>
  JSON.parse(JSON.stringify(file)) as AggregateFile;

describe("the sum of two trails", () => {
  test("decrypts to the sum of their plain counts", async () => {
    const a = await counterFile("hospital-a", A);
    const b = await counterFile("hospital-b", B);
    // Every action and part seen gets a counter every day: the layout hides which day saw what.
    expect(
      a.file.counters.filter((c) => c.day === "2026-11-02" && c.dimension === "action").length,
    ).toBeGreaterThanOrEqual(11);
    expect(JSON.stringify(a.file)).not.toMatch(/MRN-|dr-/);

    const summed = sumAggregateFiles([input("a.json", a.file), input("b.json", b.file)], {});
    if (!summed.ok) throw new Error(summed.problems.join("; "));
    const { privateKey } = await auditCompany();
    const opened = openAggregate(summed.value, privateKey);
    if (!opened.ok) throw new Error(opened.problems.join("; "));
    expect(countsOf(opened.value.cells)).toEqual(expectedCounts(IN_PERIOD(A), B));
    // The plain counts each trail counted (what its dashboard shows), added in the clear.
    const plainSum = new Map<string, number>();
    for (const [id, n] of [...countsOf(a.plain), ...countsOf(b.plain)]) {
      plainSum.set(id, (plainSum.get(id) ?? 0) + n);
    }
    expect(countsOf(opened.value.cells)).toEqual(plainSum);
    expect(opened.value.trails.map((t) => t.origin)).toEqual(["hospital-a", "hospital-b"]);
  });

  test("refuses a file under another Paillier key, and one the aggregator's key does not match", async () => {
    const a = await counterFile("hospital-a", A);
    const b = await counterFile("hospital-b", B, "rogue-co");
    const mixed = sumAggregateFiles([input("a.json", a.file), input("b.json", b.file)]);
    expect(mixed.ok).toBe(false);
    expect(!mixed.ok && mixed.problems).toEqual([
      expect.stringMatching(/^b\.json: encrypted under another Paillier key/),
    ]);
    const pinned = sumAggregateFiles([input("b.json", b.file)], {
      paillierKeyId: a.file.paillier.key_id,
    });
    expect(pinned.ok).toBe(false);
    // The audit company cannot open, and so cannot be fooled by, counts under another key.
    const { privateKey } = await auditCompany();
    expect(openAggregate(b.file, privateKey)).toEqual({
      ok: false,
      problems: ["encrypted under another Paillier key than this private key"],
    });
  });

  test("refuses the same trail's days twice, but adds its disjoint periods", async () => {
    const a = await counterFile("hospital-a", A);
    const again = await buildAggregateFile(a.ctx, "test", { from: "2026-11-02", to: "2026-11-02" });
    const earlier = await buildAggregateFile(a.ctx, "test", {
      from: "2026-10-31",
      to: "2026-10-31",
    });
    if (!again.ok || !earlier.ok) throw new Error("no counter file");
    const twice = sumAggregateFiles([input("a.json", a.file), input("a2.json", again.file)]);
    expect(!twice.ok && twice.problems).toEqual(["a2.json: overlaps a.json, from the same trail"]);
    const disjoint = sumAggregateFiles([input("a.json", a.file), input("a0.json", earlier.file)]);
    expect(disjoint.ok && disjoint.value.period).toEqual({ from: "2026-10-31", to: "2026-11-02" });
  });
});

describe("a changed counter file is refused", () => {
  const refusal = (file: unknown, trusted?: Parameters<typeof sumAggregateFiles>[1]) => {
    const result = sumAggregateFiles([input("a.json", file)], trusted);
    return result.ok ? [] : result.problems;
  };

  test("a ciphertext replaced by another valid one", async () => {
    const { file } = await counterFile("hospital-a", A);
    const { privateKey } = await auditCompany();
    const changed = clone(file);
    changed.counters[0]!.ciphertext = toHex(privateKey.publicKey.encrypt(1000n));
    expect(refusal(changed)).toEqual([expect.stringMatching(/trail's signature does not match/)]);
    // Two counters swapped: same ciphertexts, other meaning.
    const swapped = clone(file);
    [swapped.counters[0]!.ciphertext, swapped.counters[1]!.ciphertext] = [
      file.counters[1]!.ciphertext,
      file.counters[0]!.ciphertext,
    ];
    expect(refusal(swapped)).toEqual([expect.stringMatching(/trail's signature does not match/)]);
  });

  test("a checkpoint changed: root hash or tree size", async () => {
    const { file } = await counterFile("hospital-a", A);
    const root = clone(file);
    root.checkpoint.root_hash = "00".repeat(32);
    expect(refusal(root)).toEqual([
      expect.stringMatching(/trail's signature does not match/),
      expect.stringMatching(/checkpoint #\d+: the signature does not match/),
    ]);
    const size = clone(file);
    size.checkpoint.tree_size += 1;
    expect(refusal(size)).toHaveLength(2);
  });

  test("re-signed by another key: refused when the trails' keys are pinned", async () => {
    const { file, ctx } = await counterFile("hospital-a", A);
    const forger = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const forged = clone(file);
    forged.counters[0]!.ciphertext = toHex((await auditCompany()).privateKey.publicKey.encrypt(7n));
    forged.signature.key_id = keyIdOf(forger.publicKey);
    forged.signature.public_key = forger.publicKey.export({
      type: "spki",
      format: "pem",
    }) as string;
    const { signature: _s, ...unsigned } = forged;
    forged.signature.value = signBytes(
      forger.privateKey,
      aggregateSigningInput(unsigned, forged.signature.key_id),
    ).toString("base64");
    const pinned = { trustedKeys: ctx.keys.trustedPublicKeys };
    expect(refusal(forged, pinned)).toEqual([expect.stringMatching(/not one given/)]);
    // Unpinned, the forger's checkpoint signature still fails: it was made by the trail's key.
    expect(refusal(forged)).toEqual([
      expect.stringMatching(/checkpoint #\d+ is signed by an unknown key/),
    ]);
  });
});

test("a compromised trail yields no aggregates", async () => {
  const ctx = await makeTrail("hospital-a", "audit-co");
  await appendAll(ctx, A);
  intrude(ctx, (db) =>
    db.prepare("UPDATE audit_records SET occurred_at = occurred_at + 1 WHERE seq = 2").run(),
  );
  expect(await buildAggregateFile(ctx, "test", PERIOD)).toEqual({
    ok: false,
    reason: "compromised",
  });
});

test("at most two counter files are made at once; a third request is refused as busy", async () => {
  const ctx = await makeTrail("hospital-a", "audit-co");
  await appendAll(ctx, A);
  const day = { from: "2026-11-01", to: "2026-11-01" };
  const results = await Promise.all([1, 2, 3].map(() => buildAggregateFile(ctx, "test", day)));
  expect(results.map((r) => (r.ok ? "ok" : r.reason))).toEqual(["ok", "ok", "busy"]);
  // Once they are done, the next is made.
  expect((await buildAggregateFile(ctx, "test", day)).ok).toBe(true);
});

test("a trail without the audit company's public key makes no counters", async () => {
  const ctx = await makeTrail("hospital-c");
  await appendAll(ctx, A);
  expect(await buildAggregateFile(ctx, "test", PERIOD)).toEqual({ ok: false, reason: "no_key" });
});
