import type { AppContext } from "../context.server";
import { blindIndex } from "../crypto/hashing.server";
import { normalizeRecord, RECORD_COLUMNS, type RawRecord } from "../trail/encoding.server";

// SQL for the records the trail writes about its own cases and notices (docs/decisions/020).
// They are found through the blind indexes of their action, part of the record and patient;
// every row returned here is still checked and opened by openRecords before anything uses it.

const SELECT = `SELECT ${RECORD_COLUMNS.join(", ")} FROM audit_records`;

export type OwnRecordQuery = {
  /** Any of these actions. */
  actions: readonly string[];
  /** Only records about this patient ID. */
  patientId?: string;
  /** Only records by this actor. */
  actorId?: string;
  /** Only records whose part of the record is this value (a log id for cases). */
  about?: readonly string[];
  /** Up to the verified checkpoint's size. */
  sealedUpTo: number;
  /** Newest first with a limit; oldest first without. */
  limit?: number;
  /** Oldest first from seq `after` on (exclusive), at most `count`; instead of `limit`. */
  page?: { after: number; count: number };
};

/** The records of the trail's own source that match `query`. */
export function findOwnRecords(
  ctx: AppContext,
  sourceId: string,
  query: OwnRecordQuery,
): RawRecord[] {
  const key = ctx.keys.blindIndexKey;
  const where = ["source_id = ?", "seq <= ?"];
  const args: unknown[] = [sourceId, query.sealedUpTo];
  const inList = (column: string, values: Buffer[]) => {
    where.push(`${column} IN (${values.map(() => "?").join(", ")})`);
    args.push(...values);
  };
  inList(
    "action_index",
    query.actions.map((a) => blindIndex(key, "action", a)),
  );
  if (query.patientId !== undefined) {
    where.push("patient_index = ?");
    args.push(blindIndex(key, "patient_id", query.patientId));
  }
  if (query.actorId !== undefined) {
    where.push("actor_index = ?");
    args.push(blindIndex(key, "actor", query.actorId));
  }
  if (query.about) {
    if (query.about.length === 0) return [];
    inList(
      "table_index",
      query.about.map((a) => blindIndex(key, "table_affected", a)),
    );
  }
  let order = "ORDER BY seq";
  if (query.page) {
    where.push("seq > ?");
    args.push(query.page.after);
    order = "ORDER BY seq LIMIT ?";
    args.push(query.page.count);
  } else if (query.limit !== undefined) {
    order = "ORDER BY seq DESC LIMIT ?";
    args.push(query.limit);
  }
  return ctx.conn.sqlite
    .prepare(`${SELECT} WHERE ${where.join(" AND ")} ${order}`)
    .raw(true)
    .all(...args)
    .map((row) => normalizeRecord(row as unknown[]));
}

/** A patient's records after `afterSeq`, up to the verified size, oldest first. */
export function patientRecordsAfter(
  ctx: AppContext,
  patientId: string,
  afterSeq: number,
  sealedUpTo: number,
  limit: number,
): RawRecord[] {
  return ctx.conn.sqlite
    .prepare(`${SELECT} WHERE patient_index = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?`)
    .raw(true)
    .all(blindIndex(ctx.keys.blindIndexKey, "patient_id", patientId), afterSeq, sealedUpTo, limit)
    .map((row) => normalizeRecord(row as unknown[]));
}

/**
 * The first record about `patientId` before `beforeSeq` by the same actor, or else from the
 * same source: whether they had accessed this patient's record before.
 */
export function earlierAccessBy(
  ctx: AppContext,
  patientId: string,
  by: { actorId: string; sourceId: string },
  beforeSeq: number,
): { byActor: RawRecord | null; bySource: RawRecord | null } {
  const key = ctx.keys.blindIndexKey;
  const patient = blindIndex(key, "patient_id", patientId);
  const one = (condition: string, value: unknown) => {
    const row = ctx.conn.sqlite
      .prepare(`${SELECT} WHERE patient_index = ? AND ${condition} AND seq < ? LIMIT 1`)
      .raw(true)
      .get(patient, value, beforeSeq) as unknown[] | undefined;
    return row ? normalizeRecord(row) : null;
  };
  return {
    byActor: one("actor_index = ?", blindIndex(key, "actor", by.actorId)),
    bySource: one("source_id = ?", by.sourceId),
  };
}
