import type { AppContext } from "../context.server";

const DAY_MS = 86_400_000;

export type CountGroup = {
  /** Whole UTC days since the epoch. */
  day: number;
  actionIndex: Buffer;
  tableIndex: Buffer;
  count: number;
  /** The newest record of the group, opened to name its part of the record. */
  newestSeq: number;
};

/**
 * The number of records per UTC day, action and part of the record (blind indexes) that
 * occurred in [fromMs, toMs) among the first `treeSize` records: exactly those a checkpoint seals.
 */
export function countsPerDayActionTable(
  ctx: AppContext,
  range: { fromMs: number; toMs: number; treeSize: number },
): CountGroup[] {
  const rows = ctx.conn.sqlite
    .prepare(
      `SELECT occurred_at / ${DAY_MS} AS day, action_index, table_index, count(*) AS n,
              max(seq) AS seq
       FROM audit_records WHERE occurred_at >= ? AND occurred_at < ? AND seq <= ?
       GROUP BY day, action_index, table_index`,
    )
    .all(range.fromMs, range.toMs, range.treeSize) as {
    day: number;
    action_index: Buffer;
    table_index: Buffer;
    n: number;
    seq: number;
  }[];
  return rows.map((r) => ({
    day: r.day,
    actionIndex: r.action_index,
    tableIndex: r.table_index,
    count: r.n,
    newestSeq: r.seq,
  }));
}
