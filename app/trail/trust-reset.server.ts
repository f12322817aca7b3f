import fs from "node:fs";
import type { AppContext } from "../context.server";
import { removeTamperedInvitations } from "../models/invitation.server";
import { removeTamperedNoticeSettings } from "../models/notice-settings.server";
import { removeTamperedSessions } from "../models/session.server";
import { removeTamperedSources } from "../models/source.server";
import { mailAdmins, type Delivery } from "./alerts.server";
import { appendRecords } from "./append.server";
import type { Finding } from "./findings";
import { refreshWitnessedHeads } from "./witness-anchor.server";
import { verifyNow } from "./guard.server";
import { readHead, writeHead, type HeadRead } from "./witness.server";

// The operator's deliberate answer to a finding about the anchor (a restored backup, a lost head
// file) or about rows that grant rights: the head is set to the database's own newest
// checkpoint, rows that fail their checks are removed, and the reset itself is recorded on the
// trail and mailed to the admins. It never papers over the records themselves: a trail whose
// records or checkpoints fail is refused (docs/decisions/010-fail-closed-anchor.md).

/** Findings a reset may resolve: the rows it removes. Everything else must be fixed first. */
const RESETTABLE: readonly Finding["target"][] = ["session", "source", "invitation", "notice"];

export type TrustReset =
  | { ok: false; findings: Finding[] }
  | {
      ok: true;
      previous: HeadRead;
      head: { number: number; treeSize: number } | null;
      removed: string[];
      delivery: Delivery;
    };

function describe(head: HeadRead): string {
  switch (head.state) {
    case "found":
      return `checkpoint #${head.head.number} (${head.head.treeSize} records)`;
    case "missing":
      return "missing";
    case "unreadable":
      return `unreadable (${head.reason})`;
    case "not_checked":
      return "not checked";
  }
}

export async function resetTrust(
  ctx: AppContext,
  reason: string,
  operator: string,
): Promise<TrustReset> {
  const file = ctx.config.TRAIL_HEAD_PATH;
  const previous = readHead(file);
  // The witnesses' heads are what no reset may set aside: a rollback stays a rollback.
  await refreshWitnessedHeads(ctx);
  const report = verifyNow(ctx, { head: { state: "not_checked" } });
  const blocking = report.findings.filter((f) => !RESETTABLE.includes(f.target));
  if (blocking.length > 0) return { ok: false, findings: blocking };

  const removed = [
    ...removeTamperedSessions(ctx).map((f) => `session ${f.ref}`),
    ...removeTamperedSources(ctx).map((id) => `source ${id}`),
    ...removeTamperedInvitations(ctx).map((id) => `invitation ${id}`),
    // The trail still says what the patient chose: the notice round reports the row missing.
    ...removeTamperedNoticeSettings(ctx).map((id) => `notice settings ${id}`),
  ];
  if (report.checkpoint) writeHead(file, report.checkpoint);
  else fs.rmSync(file, { force: true });
  // The trail is consistent under the new head: the record of the reset can be appended.
  const check = verifyNow(ctx);
  if (!check.ok) return { ok: false, findings: check.findings };
  const at = ctx.now();
  const notes = `trust reset by ${operator}: ${reason} (head was ${describe(previous)}; ${removed.length} row(s) removed)`;
  const appended = await appendRecords(
    ctx,
    [
      {
        patientId: "",
        actorId: "operator",
        actorName: operator,
        action: "update",
        tableAffected: "trail_head",
        occurredAt: at,
        notes,
        sourceId: "audit-trail",
      },
    ],
    { triggeredBy: "operator" },
  );
  const head = { number: appended.checkpoint.number, treeSize: appended.checkpoint.treeSize };
  const delivery = await mailAdmins(ctx, {
    label: "Trust reset notice",
    subject: "EHR audit trail: the operator reset the trusted head",
    at: new Date(at),
    tag: `trust-reset-${head.number}`,
    text: [
      "The operator reset the head against which the EHR audit trail is verified.",
      "",
      `When: ${new Date(at).toISOString()}`,
      `Operator: ${operator}`,
      `Reason: ${reason}`,
      `Head before: ${describe(previous)}`,
      `Head now: checkpoint #${head.number} (${head.treeSize} records), after the reset's own record`,
      `Log id of that record: ${appended.records[0]!.logId}`,
      "",
      removed.length > 0
        ? `Rows removed because they failed their checks:\n${removed.map((r) => `  - ${r}`).join("\n")}`
        : "No rows were removed.",
      "",
      "If you did not expect this, treat it as an incident.",
    ].join("\n"),
  });
  return { ok: true, previous, head, removed, delivery };
}
