import type { AppContext } from "../context.server";
import { blindIndex } from "../crypto/hashing.server";
import { openRecords, type AuditRecordView } from "../models/record.server";
import type { User } from "../models/user.server";
import { normalizeRecord, RECORD_COLUMNS } from "../trail/encoding.server";
import { ensureTrailIntact } from "../trail/guard.server";
import { ACTIONS } from "../trail/ingest.server";
import type { CheckpointInfo } from "../trail/verify.server";
import { auditView, SELF_SOURCE } from "./trail-view.server";

const DAY_MS = 86_400_000;
export const DASHBOARD_DAYS = 42;
/** Working hours, UTC: accesses outside them are flagged. */
export const WORKING_HOURS = { from: 7, to: 19 };
/** One actor opening at least this many different patients within one hour is flagged. */
export const MANY_PATIENTS_PER_HOUR = 10;
export const UNUSUAL_SHOWN = 50;
export const SENSITIVE_ACTIONS = ["delete", "print", "copy"] as const;

export type Flag =
  "outside working hours" | "many patients within an hour" | "delete, print or copy";

export type Dashboard = {
  since: string;
  days: string[];
  perDay: { day: string; counts: Partial<Record<string, number>> }[];
  topActors: { actorId: string; actorName: string; count: number }[];
  perTable: { table: string; count: number }[];
  unusual: { record: AuditRecordView; flags: Flag[] }[];
};

/** Which action a blind index stands for: the server recomputes the index of each known action. */
function actionsByIndex(ctx: AppContext): Map<string, string> {
  return new Map(
    ACTIONS.map((a) => [blindIndex(ctx.keys.blindIndexKey, "action", a).toString("hex"), a]),
  );
}

const SELECT_BY_SEQ = `SELECT ${RECORD_COLUMNS.join(", ")} FROM audit_records WHERE seq = ?`;

/** Opens (signature-checked, decrypted) the records at `seqs`. */
function recordsAt(
  ctx: AppContext,
  seqs: number[],
  checkpoint: CheckpointInfo | null,
): AuditRecordView[] {
  const select = ctx.conn.sqlite.prepare(SELECT_BY_SEQ).raw(true);
  const rows = seqs.map((seq) => normalizeRecord(select.get(seq) as unknown[]));
  return openRecords(ctx, rows, checkpoint);
}

function unusualAccesses(ctx: AppContext, since: number, checkpoint: CheckpointInfo | null) {
  const { sqlite } = ctx.conn;
  const key = ctx.keys.blindIndexKey;
  const flags = new Map<number, Set<Flag>>();
  const flag = (seq: number, why: Flag) => flags.set(seq, (flags.get(seq) ?? new Set()).add(why));

  // The trail's own records (logins, views) are about the trail, not the charts: not flagged.
  const charts = `occurred_at >= ? AND source_id <> '${SELF_SOURCE}'`;
  const hour = "CAST(strftime('%H', occurred_at / 1000, 'unixepoch') AS INTEGER)";
  for (const seq of sqlite
    .prepare(`SELECT seq FROM audit_records WHERE ${charts} AND (${hour} < ? OR ${hour} >= ?)`)
    .pluck()
    .all(since, WORKING_HOURS.from, WORKING_HOURS.to) as number[]) {
    flag(seq, "outside working hours");
  }
  const sensitive = SENSITIVE_ACTIONS.map((a) => blindIndex(key, "action", a));
  for (const seq of sqlite
    .prepare(`SELECT seq FROM audit_records WHERE ${charts} AND action_index IN (?, ?, ?)`)
    .pluck()
    .all(since, ...sensitive) as number[]) {
    flag(seq, "delete, print or copy");
  }
  const bursts = sqlite
    .prepare(
      `SELECT actor_index, occurred_at / 3600000 AS bucket FROM audit_records WHERE ${charts}
       GROUP BY actor_index, bucket HAVING count(DISTINCT patient_index) >= ?`,
    )
    .all(since, MANY_PATIENTS_PER_HOUR) as { actor_index: Buffer; bucket: number }[];
  const inBurst = sqlite
    .prepare(
      "SELECT seq FROM audit_records WHERE actor_index = ? AND occurred_at >= ? AND occurred_at < ?",
    )
    .pluck();
  for (const b of bursts) {
    for (const seq of inBurst.all(
      b.actor_index,
      b.bucket * 3_600_000,
      (b.bucket + 1) * 3_600_000,
    ) as number[]) {
      flag(seq, "many patients within an hour");
    }
  }
  const newest = [...flags.keys()].sort((a, b) => b - a).slice(0, UNUSUAL_SHOWN);
  return recordsAt(ctx, newest, checkpoint).map((record) => ({
    record,
    flags: [...flags.get(record.seq)!],
  }));
}

/** The auditor's overview of the last DASHBOARD_DAYS days, after verification. */
export async function buildDashboard(ctx: AppContext, viewer: User): Promise<Dashboard | null> {
  const status = await ensureTrailIntact(ctx, { viewerId: viewer.id });
  if (!status.ok) return null;
  const { sqlite } = ctx.conn;
  const today = Math.floor(ctx.now() / DAY_MS) * DAY_MS;
  const since = today - (DASHBOARD_DAYS - 1) * DAY_MS;
  const days = Array.from({ length: DASHBOARD_DAYS }, (_, i) =>
    new Date(since + i * DAY_MS).toISOString().slice(0, 10),
  );

  const names = actionsByIndex(ctx);
  const perDay = new Map(days.map((d) => [d, {} as Partial<Record<string, number>>]));
  for (const row of sqlite
    .prepare(
      `SELECT occurred_at / ${DAY_MS} AS day, action_index, count(*) AS n FROM audit_records
       WHERE occurred_at >= ? GROUP BY day, action_index`,
    )
    .all(since) as { day: number; action_index: Buffer; n: number }[]) {
    const counts = perDay.get(new Date(row.day * DAY_MS).toISOString().slice(0, 10));
    const action = names.get(row.action_index.toString("hex")) ?? "other";
    if (counts) counts[action] = (counts[action] ?? 0) + row.n;
  }

  // Group by blind index, then name each group from its newest record (checked and decrypted).
  const groups = (column: "actor_index" | "table_index", limit: number) =>
    sqlite
      .prepare(
        `SELECT max(seq) AS seq, count(*) AS n FROM audit_records WHERE occurred_at >= ?
         GROUP BY ${column} ORDER BY n DESC LIMIT ${limit}`,
      )
      .all(since) as { seq: number; n: number }[];
  const actors = groups("actor_index", 10);
  const actorRecords = recordsAt(
    ctx,
    actors.map((a) => a.seq),
    status.checkpoint,
  );
  const tables = groups("table_index", 20);
  const tableRecords = recordsAt(
    ctx,
    tables.map((t) => t.seq),
    status.checkpoint,
  );

  const dashboard: Dashboard = {
    since: days[0]!,
    days,
    perDay: days.map((day) => ({ day, counts: perDay.get(day)! })),
    topActors: actors.map((a, i) => ({
      actorId: actorRecords[i]!.actorId,
      actorName: actorRecords[i]!.actorName,
      count: a.n,
    })),
    perTable: tables.map((t, i) => ({ table: tableRecords[i]!.tableAffected, count: t.n })),
    unusual: unusualAccesses(ctx, since, status.checkpoint),
  };
  const patients = [...new Set(dashboard.unusual.map((u) => u.record.patientId))];
  await auditView(ctx, viewer, patients.length ? patients : [""], "viewed the dashboard");
  return dashboard;
}
