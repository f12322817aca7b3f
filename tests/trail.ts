import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll } from "vitest";
import { openDatabase } from "../db/connection";
import { signBytes } from "../app/crypto/signing.server";
import type { Keys } from "../app/keys.server";
import { appendRecords, type RecordInput } from "../app/trail/append.server";
import {
  COL,
  normalizeRecord,
  RECORD_COLUMNS,
  recordSigningInput,
  type RawRecord,
} from "../app/trail/encoding.server";
import { makeTestContext, type TestContext } from "./context";

const ACTIONS = ["read", "update", "create", "print"];
const TABLES = ["medications", "lab_results", "allergies", "notes"];

/** A plausible access event for `patientId`. */
export function sampleRecord(i: number, patientId = `MRN-${100 + (i % 3)}`): RecordInput {
  return {
    patientId,
    actorId: `dr-${i % 5}`,
    actorName: `Dr. Example ${i % 5}`,
    action: ACTIONS[i % ACTIONS.length]!,
    tableAffected: TABLES[i % TABLES.length]!,
    occurredAt: Date.UTC(2026, 9, 1) + i * 60_000,
    notes: `routine access ${i}`,
    sourceId: "test-ehr",
  };
}

/** Appends `count` records in batches, as sources would. */
export async function seedTrail(ctx: TestContext, count: number, batch = 4) {
  const logIds: string[] = [];
  for (let i = 0; i < count; i += batch) {
    const inputs = Array.from({ length: Math.min(batch, count - i) }, (_, j) =>
      sampleRecord(i + j),
    );
    const result = await appendRecords(ctx, inputs);
    logIds.push(...result.records.map((r) => r.logId));
  }
  return logIds;
}

/** A second connection straight to the database file, as an intruder would open it. */
export function intrude<T>(ctx: TestContext, act: (db: Database.Database) => T): T {
  const db = new Database(ctx.config.DATABASE_PATH);
  try {
    return act(db);
  } finally {
    db.close();
  }
}

// Seeded trails by size, kept as files for the test file's run: seeding signs every record.
const templates = new Map<string, string>();
afterAll(() => {
  for (const file of templates.values())
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  templates.clear();
});

/**
 * A fresh context on a copy of a trail of `count` records appended `batch` at a time: seeded
 * once per test file and size, then copied for each test, which may tamper with its copy.
 */
export async function copyOfSeededTrail(count: number, batch: number): Promise<TestContext> {
  const ctx = makeTestContext();
  const key = `${count}:${batch}`;
  const template = templates.get(key);
  if (!template) {
    await seedTrail(ctx, count, batch);
    ctx.conn.sqlite.pragma("wal_checkpoint(TRUNCATE)");
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ehr-seeded-")), "trail.db");
    fs.copyFileSync(ctx.config.DATABASE_PATH, file);
    templates.set(key, file);
    return ctx;
  }
  ctx.conn.sqlite.close();
  fs.copyFileSync(template, ctx.config.DATABASE_PATH);
  ctx.conn = openDatabase(ctx.config.DATABASE_PATH);
  return ctx;
}

/** Record `seq` as `db` holds it. */
const recordAt = (db: Database.Database, seq: number): RawRecord =>
  normalizeRecord(
    db
      .prepare(`SELECT ${RECORD_COLUMNS.join(", ")} FROM audit_records WHERE seq = ?`)
      .raw(true)
      .get(seq) as unknown[],
  );

/** Writes every column of `row` over the record at its seq. */
export function putRecord(db: Database.Database, row: RawRecord): void {
  db.prepare(
    `UPDATE audit_records SET ${RECORD_COLUMNS.map((c) => `${c} = ?`).join(", ")} WHERE seq = ?`,
  ).run(...row, row[COL.seq]);
}

/**
 * As the intruder who holds the keys: record `seq` changed by `edit`, signed again with `keys`'
 * trail key and written back through `db`. Returns the original, to put back.
 */
export function resignRecord(
  db: Database.Database,
  keys: Keys,
  seq: number,
  edit: (row: RawRecord) => void,
): RawRecord {
  const original = recordAt(db, seq);
  const row = [...original] as RawRecord;
  edit(row);
  row[COL.signature] = signBytes(keys.signing.privateKey, recordSigningInput(row));
  putRecord(db, row);
  return original;
}
