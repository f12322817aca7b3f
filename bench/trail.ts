// The benchmark's trails: built fast in this process (signing on a pool of workers), with the
// same measured patients in every size, so that a view reads the same number of rows.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../app/config.server";
import { createAppContext, type AppContext } from "../app/context.server";
import { appendRecords, type RecordInput } from "../app/trail/append.server";
import { verifyNow } from "../app/trail/guard.server";
import type { SignerPool } from "../app/trail/signer-pool.server";

export const BATCH = 1000;
/** The measured patients: each has the same 60 records in every trail, whatever its size. */
export const PATIENTS = 50;
const PATIENT_RECORDS = 60;
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const WORK = fs.mkdtempSync(path.join(os.tmpdir(), "ehr-bench-"));
export const KEYS_DIR = path.join(WORK, "keys");

export const patientId = (n: number) => `MRN-BENCH-${String(n).padStart(4, "0")}`;

/** The environment a server, the CLI or this process uses for the trail `name`. */
export function trailEnv(name: string, env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: "production",
    DATABASE_PATH: path.join(WORK, `${name}.db`),
    KEYS_DIR,
    TRAIL_HEAD_PATH: path.join(WORK, `${name}.head.json`),
    OUTBOX_DIR: path.join(WORK, "outbox"),
    ...env,
  };
}

export function context(name: string, env: Record<string, string> = {}): AppContext {
  return createAppContext(loadConfig(trailEnv(name, env)));
}

/** The i-th event of a trail of `total`: the measured patients first, spread over the trail. */
export function event(i: number, total: number, sourceId = "bench-ehr"): RecordInput {
  const step = Math.max(1, Math.floor(total / (PATIENTS * PATIENT_RECORDS)));
  const slot = i / step;
  const measured = i % step === 0 && slot < PATIENTS * PATIENT_RECORDS;
  return {
    patientId: measured ? patientId(slot % PATIENTS) : `MRN-${(i * 7919) % 5000}`,
    actorId: `E${1000 + (i % 300)}`,
    actorName: `Clinician ${i % 300}`,
    action: ["read", "update", "create", "print"][i % 4]!,
    tableAffected: ["medications", "lab_results", "clinical_notes", "imaging"][i % 4]!,
    occurredAt: Date.UTC(2026, 0, 1) + i * 1000,
    notes: "routine access during an inpatient stay",
    sourceId,
  };
}

/** The same event as a source sends it (the API's and the import's fields), in the past day. */
export function wireEvent(i: number, total: number) {
  const e = event(i, total);
  return {
    patient_id: e.patientId,
    actor_id: e.actorId,
    actor_name: e.actorName,
    action: e.action,
    table_affected: e.tableAffected,
    occurred_at: new Date(Date.now() - 86_400_000 + (i % 86_400_000)).toISOString(),
    notes: e.notes,
  };
}

export const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

function progress(label: string, done: number, total: number) {
  if (done === total || done % (BATCH * 20) === 0)
    process.stderr.write(`\r  ${label}: ${fmt(done)} / ${fmt(total)}   `);
  if (done === total) process.stderr.write("\n");
}

/** Appends `total` events in batches of BATCH on the pool; returns records per second. */
export async function build(
  ctx: AppContext,
  total: number,
  pool: SignerPool,
  label: string,
): Promise<number> {
  verifyNow(ctx);
  const started = performance.now();
  for (let i = 0; i < total; i += BATCH) {
    const inputs = Array.from({ length: Math.min(BATCH, total - i) }, (_, j) =>
      event(i + j, total),
    );
    await appendRecords(ctx, inputs, { signer: pool.sign });
    progress(label, i + inputs.length, total);
  }
  return total / ((performance.now() - started) / 1000);
}

export function log(message: string) {
  process.stderr.write(`  ${message}\n`);
}
