import type { AppContext } from "../context.server";

// Counts and selections over the plaintext occurred_at and the blind indexes: nothing here is
// decrypted or checked; callers open the records they show.

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** Records since `since` (ms), other than those from `excludeSource`. */
export type StatsWindow = { since: number; excludeSource: string };

const inWindow = "occurred_at >= ? AND source_id <> ?";
const windowArgs = (w: StatsWindow) => [w.since, w.excludeSource];

/** The number of records per UTC day (whole days since the epoch) and action blind index. */
export function countsPerDayAndAction(
  ctx: AppContext,
  since: number,
): { day: number; actionIndex: Buffer; count: number }[] {
  const rows = ctx.conn.sqlite
    .prepare(
      `SELECT occurred_at / ${DAY_MS} AS day, action_index, count(*) AS n FROM audit_records
       WHERE occurred_at >= ? GROUP BY day, action_index`,
    )
    .all(since) as { day: number; action_index: Buffer; n: number }[];
  return rows.map((r) => ({ day: r.day, actionIndex: r.action_index, count: r.n }));
}

/** The `limit` largest groups of records since `since` by actor or table, with their newest seq. */
export function largestGroups(
  ctx: AppContext,
  by: "actor" | "table",
  since: number,
  limit: number,
): { newestSeq: number; count: number }[] {
  const column = by === "actor" ? "actor_index" : "table_index";
  const rows = ctx.conn.sqlite
    .prepare(
      `SELECT max(seq) AS seq, count(*) AS n FROM audit_records WHERE occurred_at >= ?
       GROUP BY ${column} ORDER BY n DESC LIMIT ?`,
    )
    .all(since, limit) as { seq: number; n: number }[];
  return rows.map((r) => ({ newestSeq: r.seq, count: r.n }));
}

/** Seqs of records in the window that occurred outside the UTC hours [from, to). */
export function seqsOutsideHours(
  ctx: AppContext,
  window: StatsWindow,
  hours: { from: number; to: number },
): number[] {
  const hour = "CAST(strftime('%H', occurred_at / 1000, 'unixepoch') AS INTEGER)";
  return ctx.conn.sqlite
    .prepare(`SELECT seq FROM audit_records WHERE ${inWindow} AND (${hour} < ? OR ${hour} >= ?)`)
    .pluck()
    .all(...windowArgs(window), hours.from, hours.to) as number[];
}

/** Seqs of records in the window whose action (or purpose) blind index is one of `indexes`. */
export function seqsWithIndexes(
  ctx: AppContext,
  window: StatsWindow,
  column: "action_index" | "purpose_index",
  indexes: readonly Buffer[],
): number[] {
  const marks = indexes.map(() => "?").join(", ");
  return ctx.conn.sqlite
    .prepare(`SELECT seq FROM audit_records WHERE ${inWindow} AND ${column} IN (${marks})`)
    .pluck()
    .all(...windowArgs(window), ...indexes) as number[];
}

/**
 * Seqs of every record of an actor in a clock hour (UTC) in which that actor, within the window,
 * accessed at least `minPatients` different patients.
 */
export function seqsInBursts(ctx: AppContext, window: StatsWindow, minPatients: number): number[] {
  const { sqlite } = ctx.conn;
  const bursts = sqlite
    .prepare(
      `SELECT actor_index, occurred_at / ${HOUR_MS} AS bucket FROM audit_records WHERE ${inWindow}
       GROUP BY actor_index, bucket HAVING count(DISTINCT patient_index) >= ?`,
    )
    .all(...windowArgs(window), minPatients) as { actor_index: Buffer; bucket: number }[];
  const inBurst = sqlite
    .prepare(
      "SELECT seq FROM audit_records WHERE actor_index = ? AND occurred_at >= ? AND occurred_at < ?",
    )
    .pluck();
  return bursts.flatMap(
    (b) => inBurst.all(b.actor_index, b.bucket * HOUR_MS, (b.bucket + 1) * HOUR_MS) as number[],
  );
}
