import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll } from "vitest";
import {
  generatePaillierKeys,
  PAILLIER_PRIVATE_FILE,
  readPaillierPrivateKey,
} from "../app/crypto/paillier-private.server";
import { PAILLIER_PUBLIC_FILE } from "../app/crypto/paillier.server";
import { appendRecords, type RecordInput } from "../app/trail/append.server";
import { makeTestContext, type TestContext } from "./context";

// Trails of their own (each its own RSA key and origin, made once per worker) and the audit
// company's Paillier key pairs, made once per worker too: key generation takes seconds.

const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const tempDir = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
};

const companies = new Map<
  string,
  Promise<{ dir: string; publicFile: string; privateFile: string }>
>();

/** The audit company `name`'s key pair, in a folder of its own. */
export function auditCompany(name = "audit-co") {
  let company = companies.get(name);
  if (!company) {
    const dir = tempDir("ehr-paillier-");
    company = generatePaillierKeys(dir).then((files) => ({ dir, ...files }));
    companies.set(name, company);
  }
  return company.then((c) => ({ ...c, privateKey: readPaillierPrivateKey(c.privateFile) }));
}

const trailKeys = new Map<string, string>();

/**
 * A trail named `origin` with keys of its own (kept across the tests of a file), holding the
 * public key of `company` when given.
 */
export async function makeTrail(origin: string, company?: string): Promise<TestContext> {
  let keysDir = trailKeys.get(origin);
  if (!keysDir) {
    keysDir = tempDir(`ehr-trail-${origin}-`);
    trailKeys.set(origin, keysDir);
  }
  const target = path.join(keysDir, PAILLIER_PUBLIC_FILE);
  fs.rmSync(target, { force: true });
  fs.rmSync(path.join(keysDir, PAILLIER_PRIVATE_FILE), { force: true });
  if (company) fs.copyFileSync((await auditCompany(company)).publicFile, target);
  return makeTestContext({ KEYS_DIR: keysDir, TRAIL_ORIGIN: origin });
}

/** An access on `day` (YYYY-MM-DD) at noon UTC. */
export function access(day: string, action: string, tableAffected: string, i = 0): RecordInput {
  return {
    patientId: `MRN-${200 + (i % 4)}`,
    actorId: `dr-${i % 3}`,
    actorName: `Dr. Sum ${i % 3}`,
    action,
    tableAffected,
    occurredAt: Date.parse(`${day}T12:00:00Z`) + i * 1000,
    notes: "",
    sourceId: "test-ehr",
  };
}

/** Appends `inputs` in one batch. */
export async function appendAll(ctx: TestContext, inputs: RecordInput[]) {
  await appendRecords(ctx, inputs);
}

/** The expected counts of `inputs` by "day dimension key". */
export function expectedCounts(...inputs: RecordInput[][]): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (id: string) => counts.set(id, (counts.get(id) ?? 0) + 1);
  for (const r of inputs.flat()) {
    const day = new Date(r.occurredAt).toISOString().slice(0, 10);
    add(`${day} action ${r.action}`);
    add(`${day} table ${r.tableAffected}`);
  }
  return counts;
}

/** Non-zero counts of opened cells, by "day dimension key". */
export function countsOf(cells: { day: string; dimension: string; key: string; count: number }[]) {
  return new Map(
    cells.filter((c) => c.count > 0).map((c) => [`${c.day} ${c.dimension} ${c.key}`, c.count]),
  );
}
