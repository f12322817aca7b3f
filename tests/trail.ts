import Database from "better-sqlite3";
import { appendRecords, type RecordInput } from "../app/trail/append.server";
import type { TestContext } from "./context";

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
