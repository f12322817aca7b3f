import type { AppContext } from "../context.server";
import { blindIndex } from "../crypto/hashing.server";
import { recordsAtSeqs, type AuditRecordView } from "../models/record.server";
import { openRecords } from "./open-records.server";
import {
  countsPerDayAndAction,
  largestGroups,
  seqsInBursts,
  seqsOutsideHours,
  seqsWithIndexes,
} from "../models/record-stats.server";
import type { User } from "../models/user.server";
import { ACTIONS } from "../trail/ingest.server";
import { EMERGENCY_PURPOSES } from "../fhir/purpose-of-use";
import type { CheckpointInfo } from "../trail/verify.server";
import { SELF_SOURCE } from "../trail/self-source";
import { auditView } from "./trail-view.server";
import { readVerified } from "./verified-read.server";

const DAY_MS = 86_400_000;
export const DASHBOARD_DAYS = 42;
/** Working hours, UTC: accesses outside them are flagged. */
export const WORKING_HOURS = { from: 7, to: 19 };
/** One actor opening at least this many different patients within one hour is flagged. */
export const MANY_PATIENTS_PER_HOUR = 10;
export const UNUSUAL_SHOWN = 50;
export const SENSITIVE_ACTIONS = ["delete", "print", "copy"] as const;

export type Flag =
  | "outside working hours"
  | "many patients within an hour"
  | "delete, print or copy"
  | "emergency access";

export type Dashboard = {
  since: string;
  days: string[];
  perDay: { day: string; counts: Partial<Record<string, number>> }[];
  topActors: { actorId: string; actorName: string; count: number }[];
  perTable: { table: string; count: number }[];
  unusual: { record: AuditRecordView; flags: Flag[] }[];
};

/** Which action a blind index stands for: the server recomputes the index of each known action. */
export function actionsByIndex(ctx: AppContext): Map<string, string> {
  return new Map(
    ACTIONS.map((a) => [blindIndex(ctx.keys.blindIndexKey, "action", a).toString("hex"), a]),
  );
}

/** Opens (signature-checked, decrypted) the records at `seqs`. */
function recordsAt(
  ctx: AppContext,
  seqs: number[],
  checkpoint: CheckpointInfo | null,
): AuditRecordView[] {
  return openRecords(ctx, recordsAtSeqs(ctx, seqs), checkpoint);
}

function unusualAccesses(ctx: AppContext, since: number, checkpoint: CheckpointInfo | null) {
  const flags = new Map<number, Set<Flag>>();
  const flag = (seqs: number[], why: Flag) => {
    for (const seq of seqs) flags.set(seq, (flags.get(seq) ?? new Set()).add(why));
  };
  // The trail's own records (logins, views) are about the trail, not the charts: not flagged.
  const charts = { since, excludeSource: SELF_SOURCE };
  flag(seqsOutsideHours(ctx, charts, WORKING_HOURS), "outside working hours");
  const sensitive = SENSITIVE_ACTIONS.map((a) => blindIndex(ctx.keys.blindIndexKey, "action", a));
  flag(seqsWithIndexes(ctx, charts, "action_index", sensitive), "delete, print or copy");
  const emergency = EMERGENCY_PURPOSES.map((p) => blindIndex(ctx.keys.blindIndexKey, "purpose", p));
  flag(seqsWithIndexes(ctx, charts, "purpose_index", emergency), "emergency access");
  flag(seqsInBursts(ctx, charts, MANY_PATIENTS_PER_HOUR), "many patients within an hour");
  const newest = [...flags.keys()].sort((a, b) => b - a).slice(0, UNUSUAL_SHOWN);
  return recordsAt(ctx, newest, checkpoint).map((record) => ({
    record,
    flags: [...flags.get(record.seq)!],
  }));
}

/** The dashboard's figures, its shown records opened against `checkpoint`. */
function dashboardAt(ctx: AppContext, checkpoint: CheckpointInfo | null): Dashboard {
  const today = Math.floor(ctx.now() / DAY_MS) * DAY_MS;
  const since = today - (DASHBOARD_DAYS - 1) * DAY_MS;
  const days = Array.from({ length: DASHBOARD_DAYS }, (_, i) =>
    new Date(since + i * DAY_MS).toISOString().slice(0, 10),
  );

  const names = actionsByIndex(ctx);
  const perDay = new Map(days.map((d) => [d, {} as Partial<Record<string, number>>]));
  for (const row of countsPerDayAndAction(ctx, since)) {
    const counts = perDay.get(new Date(row.day * DAY_MS).toISOString().slice(0, 10));
    const action = names.get(row.actionIndex.toString("hex")) ?? "other";
    if (counts) counts[action] = (counts[action] ?? 0) + row.count;
  }

  // Group by blind index, then name each group from its newest record (checked and decrypted).
  const actors = largestGroups(ctx, "actor", since, 10);
  const actorRecords = recordsAt(
    ctx,
    actors.map((a) => a.newestSeq),
    checkpoint,
  );
  const tables = largestGroups(ctx, "table", since, 20);
  const tableRecords = recordsAt(
    ctx,
    tables.map((t) => t.newestSeq),
    checkpoint,
  );

  return {
    since: days[0]!,
    days,
    perDay: days.map((day) => ({ day, counts: perDay.get(day)! })),
    topActors: actors.map((a, i) => ({
      actorId: actorRecords[i]!.actorId,
      actorName: actorRecords[i]!.actorName,
      count: a.count,
    })),
    perTable: tables.map((t, i) => ({ table: tableRecords[i]!.tableAffected, count: t.count })),
    unusual: unusualAccesses(ctx, since, checkpoint),
  };
}

/** The auditor's overview of the last DASHBOARD_DAYS days, after verification. */
export async function buildDashboard(ctx: AppContext, viewer: User): Promise<Dashboard | null> {
  const read = await readVerified(ctx, viewer.id, (checkpoint) => dashboardAt(ctx, checkpoint));
  if (!read.ok) return null;
  const dashboard = read.value;
  const patients = [...new Set(dashboard.unusual.map((u) => u.record.patientId))];
  await auditView(ctx, viewer, patients.length ? patients : [""], "viewed the dashboard");
  return dashboard;
}
