import type { AppContext } from "../context.server";
import { blindIndex } from "../crypto/hashing.server";
import type { Action } from "../trail/actions";
import { normalizeRecord, RECORD_COLUMNS, type RawRecord } from "../trail/encoding.server";
import type { User } from "./user.server";

/** A record as people read it, decrypted after its signature was checked. */
export type AuditRecordView = {
  seq: number;
  logId: string;
  patientId: string;
  actorId: string;
  actorName: string;
  action: string;
  tableAffected: string;
  occurredAt: string;
  recordedAt: string;
  notes: string;
  sourceId: string;
  keyId: string;
  /** What the source sent beyond the columns (a FHIR resource, canonical JSON), or null. */
  extra: string | null;
  /** Why, as an HL7 PurposeOfUse code; null when the source gave none (and on older records). */
  purpose: string | null;
};

export type RecordPage = { records: RawRecord[]; nextBefore: number | null };

/** Filters of a trail view, as they appear in the URL. */
export type RecordFilters = {
  from?: string;
  to?: string;
  action?: Action;
  table?: string;
  actor?: string;
  patient?: string;
};

export class RecordCheckFailed extends Error {
  constructor(public readonly seq: number) {
    super(`record at seq ${seq} failed its check`);
    this.name = "RecordCheckFailed";
  }
}

const SELECT = `SELECT ${RECORD_COLUMNS.join(", ")} FROM audit_records`;
const DAY_MS = 86_400_000;

/**
 * SQL conditions for the filters, over blind indexes and the plaintext occurred_at. The patient
 * condition comes from `scopePatientId` for patients, never from the URL.
 */
function filterConditions(
  ctx: AppContext,
  filters: RecordFilters,
  scopePatientId: string | null,
): { where: string[]; args: unknown[] } {
  const key = ctx.keys.blindIndexKey;
  const where: string[] = [];
  const args: unknown[] = [];
  const patient = scopePatientId ?? filters.patient;
  if (patient) {
    where.push("patient_index = ?");
    args.push(blindIndex(key, "patient_id", patient));
  }
  if (filters.action) {
    where.push("action_index = ?");
    args.push(blindIndex(key, "action", filters.action));
  }
  if (filters.table) {
    where.push("table_index = ?");
    args.push(blindIndex(key, "table_affected", filters.table));
  }
  if (filters.actor) {
    where.push("actor_index = ?");
    args.push(blindIndex(key, "actor", filters.actor));
  }
  if (filters.from) {
    where.push("occurred_at >= ?");
    args.push(Date.parse(`${filters.from}T00:00:00Z`));
  }
  if (filters.to) {
    where.push("occurred_at < ?");
    args.push(Date.parse(`${filters.to}T00:00:00Z`) + DAY_MS);
  }
  return { where, args };
}

function page(
  ctx: AppContext,
  where: string[],
  args: unknown[],
  limit: number,
  before?: number,
): RecordPage {
  const conditions = before ? [...where, "seq < ?"] : where;
  const rows = ctx.conn.sqlite
    .prepare(
      `${SELECT} ${conditions.length ? `WHERE ${conditions.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`,
    )
    .raw(true)
    .all(...args, ...(before ? [before] : []), limit + 1)
    .map((row) => normalizeRecord(row as unknown[]));
  const more = rows.length > limit;
  const records = rows.slice(0, limit);
  return { records, nextBefore: more ? records[records.length - 1]![0] : null };
}

/**
 * The newest records `viewer` may see that match `filters`, keyset-paged by seq, up to the
 * verified checkpoint's size (`sealedUpTo`): a record appended since is left for the next view
 * rather than taken for an unsealed one. A patient's view is scoped to their own patient ID
 * here, whatever the filters say.
 */
export function listRecords(
  ctx: AppContext,
  viewer: User,
  filters: RecordFilters,
  options: { limit: number; before?: number; sealedUpTo: number },
): RecordPage {
  const { where, args } = filterConditions(ctx, filters, scopeOf(viewer));
  return page(
    ctx,
    [...where, "seq <= ?"],
    [...args, options.sealedUpTo],
    options.limit,
    options.before,
  );
}

/** The records at `seqs`, in that order; one that is gone fails its check like a changed one. */
export function recordsAtSeqs(ctx: AppContext, seqs: readonly number[]): RawRecord[] {
  const select = ctx.conn.sqlite.prepare(`${SELECT} WHERE seq = ?`).raw(true);
  return seqs.map((seq) => {
    const row = select.get(seq) as unknown[] | undefined;
    if (!row) throw new RecordCheckFailed(seq);
    return normalizeRecord(row);
  });
}

/** Whether any record came from `sourceId`. */
export function hasRecordsFrom(ctx: AppContext, sourceId: string): boolean {
  return (
    ctx.conn.sqlite
      .prepare("SELECT 1 FROM audit_records WHERE source_id = ? LIMIT 1")
      .get(sourceId) !== undefined
  );
}

/**
 * One record by log id, if `viewer` may see it: for a patient, a record about someone else is
 * answered exactly like one that does not exist.
 */
export function findRecord(ctx: AppContext, viewer: User, logId: string): RawRecord | null {
  const where = ["log_id = ?"];
  const args: unknown[] = [logId];
  const scope = filterConditions(ctx, {}, scopeOf(viewer));
  const row = ctx.conn.sqlite
    .prepare(`${SELECT} WHERE ${[...where, ...scope.where].join(" AND ")}`)
    .raw(true)
    .get(...args, ...scope.args) as unknown[] | undefined;
  return row ? normalizeRecord(row) : null;
}

/** One record by log id, only if `source` sent it: a source reads back its own records. */
export function findRecordOfSource(
  ctx: AppContext,
  source: string,
  logId: string,
): RawRecord | null {
  const row = ctx.conn.sqlite
    .prepare(`${SELECT} WHERE log_id = ? AND source_id = ?`)
    .raw(true)
    .get(logId, source) as unknown[] | undefined;
  return row ? normalizeRecord(row) : null;
}

/** The patient ID a viewer is confined to; null for auditors. */
export function scopeOf(viewer: User): string | null {
  if (viewer.role === "auditor") return null;
  if (!viewer.patientId) throw new Error("a patient account without a patient ID");
  return viewer.patientId;
}
