import { repeatRounds } from "../utils/repeat.server";
import type { AppContext } from "../context.server";
import { isEmergency } from "../fhir/purpose-of-use";
import {
  getNoticeSettings,
  NoticeRowTampered,
  type NoticeChoices,
} from "../models/notice-settings.server";
import { earlierAccessBy, findOwnRecords, patientRecordsAfter } from "../models/own-records.server";
import type { AuditRecordView } from "../models/record.server";
import { mailTo } from "../trail/alerts.server";
import { appendRecords } from "../trail/append.server";
import type { CheckpointInfo } from "../trail/verify.server";
import { checkAgainstTrail, newestSettingsRecords, noticesOn } from "./notice-state.server";
import { openRecords } from "./open-records.server";
import { reportFinding } from "../trail/incident.server";
import { isBookkeepingAction, NOTICE_ACTION, NOTICES_TABLE } from "./own-actions";
import { SELF_SOURCE } from "../trail/self-source";
import { readVerified } from "./verified-read.server";

// Notices of new accesses (docs/decisions/020). Everything that decides whether a patient is
// told comes from the trail through verified reads: who subscribed (their newest settings
// record), up to which record they were told (their newest notice record, appended after each
// e-mail) and whether an access is new. The only state kept elsewhere is this process's memory
// of records already found to need no notice, which saves reading them again.

export const NOTICE_INTERVAL_MS = 3_600_000;
export const NOTICE_SUBJECT = "New access to your health record";
const JOB = "notices";
const PAGE = 500;

/** Whether a record is an emergency ("break the glass") access: its purpose of use says so. */
export function isEmergencyAccess(record: Pick<AuditRecordView, "purpose">): boolean {
  return isEmergency(record.purpose);
}

type Subscriber = {
  userId: string;
  name: string;
  patientId: string;
  email: string;
  choices: NoticeChoices;
  /** Accesses after this seq may be noticed (the settings record's seq). */
  since: number;
};

/** "…up to #N" at the end of a notice record's notes: the last record it covered. */
const UP_TO = /#(\d+)\.?$/;

/** Records scanned and found to need no notice, per subscriber settings record. */
const scanned = new WeakMap<AppContext, Map<string, number>>();

/** The subscribers whose settings the trail and their signed rows agree on. */
async function subscribers(ctx: AppContext): Promise<Subscriber[]> {
  // Nobody ever chose notices: nothing to verify for. (Deleting every settings record to get
  // here is an edit of the trail, which the next view's verification catches.)
  const any = findOwnRecords(ctx, SELF_SOURCE, {
    actions: [NOTICE_ACTION.settings],
    sealedUpTo: Number.MAX_SAFE_INTEGER,
    limit: 1,
  });
  if (any.length === 0) return [];
  const read = await readVerified(ctx, JOB, (cp) => newestSettingsRecords(ctx, cp));
  if (!read.ok) return [];
  const found: Subscriber[] = [];
  for (const record of read.value) {
    let settings;
    try {
      settings = getNoticeSettings(ctx, record.actorId, record.patientId);
    } catch (error) {
      if (!(error instanceof NoticeRowTampered)) throw error;
      await reportFinding(ctx, error.finding, JOB);
      continue;
    }
    const finding = checkAgainstTrail(ctx, record.actorId, settings, record);
    if (finding) {
      await reportFinding(ctx, finding, JOB);
      continue;
    }
    if (!noticesOn(settings)) continue;
    found.push({
      userId: record.actorId,
      name: record.actorName,
      patientId: record.patientId,
      email: settings.email,
      choices: settings.choices,
      since: record.seq,
    });
  }
  return found;
}

/** Whether nobody with this actor id, nor anybody from this source, accessed the record before. */
function isNewAccess(ctx: AppContext, cp: CheckpointInfo | null, r: AuditRecordView): boolean {
  const { byActor, bySource } = earlierAccessBy(ctx, r.patientId, r, r.seq);
  // An earlier record counts only once checked: a planted row is caught here, not believed.
  openRecords(
    ctx,
    [byActor, bySource].filter((row) => row !== null),
    cp,
    r.patientId,
  );
  return byActor === null || bySource === null;
}

type Due = { triggers: number; upTo: number; key: string };

/** What a subscriber must be told of, read against `cp`; null while an e-mail is under an hour old. */
function dueFor(ctx: AppContext, cp: CheckpointInfo | null, s: Subscriber): Due | null {
  const size = cp?.treeSize ?? 0;
  const lastRows = findOwnRecords(ctx, SELF_SOURCE, {
    actions: [NOTICE_ACTION.sent],
    patientId: s.patientId,
    actorId: s.userId,
    sealedUpTo: size,
    limit: 1,
  });
  const last = openRecords(ctx, lastRows, cp, s.patientId)[0];
  const noticed = last && last.sourceId === SELF_SOURCE ? last : null;
  if (noticed && Date.parse(noticed.recordedAt) + NOTICE_INTERVAL_MS > ctx.now()) return null;
  const key = `${s.userId}|${s.since}|${noticed?.logId ?? ""}`;
  const told = Number(UP_TO.exec(noticed?.notes ?? "")?.[1] ?? 0);
  let cursor = Math.max(s.since, told, scanned.get(ctx)?.get(key) ?? 0);
  let triggers = 0;
  for (;;) {
    const rows = patientRecordsAfter(ctx, s.patientId, cursor, size, PAGE);
    for (const r of openRecords(ctx, rows, cp, s.patientId)) {
      const own =
        r.sourceId === SELF_SOURCE && (r.actorId === s.userId || isBookkeepingAction(r.action));
      if (own) continue;
      if (
        (s.choices.emergency && isEmergencyAccess(r)) ||
        (s.choices.newActors && isNewAccess(ctx, cp, r))
      ) {
        triggers++;
      }
    }
    if (rows.length > 0) cursor = rows[rows.length - 1]![0];
    if (rows.length < PAGE) break;
  }
  return { triggers, upTo: cursor, key };
}

/** E-mails a subscriber of new accesses (no PHI), then records on the trail that it did. */
async function notify(ctx: AppContext, s: Subscriber, due: Due): Promise<void> {
  await mailTo(ctx, s.email, {
    label: "Notice of new access",
    subject: NOTICE_SUBJECT,
    text: [
      "There is a new access to your record. Log in to see it.",
      "",
      "You get this message because you asked for notices of new accesses. You can change this",
      "under Notices after logging in.",
    ].join("\n"),
    at: new Date(ctx.now()),
    tag: "notice",
  });
  // After the e-mail, not before: a failure here means one notice too many, never one too few.
  await appendRecords(
    ctx,
    [
      {
        patientId: s.patientId,
        actorId: s.userId,
        actorName: s.name,
        action: NOTICE_ACTION.sent,
        tableAffected: NOTICES_TABLE,
        occurredAt: ctx.now(),
        notes: `A notice of new access was e-mailed to you, for records up to #${due.upTo}.`,
        sourceId: SELF_SOURCE,
      },
    ],
    { triggeredBy: JOB },
  );
}

/** One round: every subscriber with new accesses and no notice in the last hour gets one e-mail. */
export async function runNoticeRound(ctx: AppContext): Promise<{ sent: number }> {
  let sent = 0;
  for (const s of await subscribers(ctx)) {
    const read = await readVerified(ctx, JOB, (cp) => dueFor(ctx, cp, s));
    if (!read.ok || !read.value) continue;
    const due = read.value;
    if (due.triggers === 0) {
      let memory = scanned.get(ctx);
      if (!memory) scanned.set(ctx, (memory = new Map()));
      memory.set(due.key, due.upTo);
      continue;
    }
    try {
      await notify(ctx, s, due);
      sent++;
    } catch (error) {
      // Nothing of the message or the server's reply: either may name the patient's address.
      const code = (error as { code?: unknown }).code;
      console.error(
        `Could not send a notice of new access${typeof code === "string" ? ` (${code})` : ""}; it is tried again at the next round.`,
      );
    }
  }
  return { sent };
}

/** Runs a round every `everyMs` (a minute) until stopped; a failed round is tried again at the next. */
export function startNotices(ctx: AppContext, everyMs = 60_000): () => Promise<void> {
  return repeatRounds(
    () => runNoticeRound(ctx),
    { everyMs },
    (error) => console.error(`The notice round failed and runs again: ${error.name}`),
  );
}
