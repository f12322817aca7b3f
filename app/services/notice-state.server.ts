import type { AppContext } from "../context.server";
import { keyedDigest } from "../crypto/hashing.server";
import {
  getNoticeSettings,
  NoticeRowTampered,
  type NoticeChoices,
  type NoticeSettings,
} from "../models/notice-settings.server";
import { findOwnRecords } from "../models/own-records.server";
import type { AuditRecordView } from "../models/record.server";
import type { User } from "../models/user.server";
import { reportFinding } from "../trail/incident.server";
import type { CheckpointInfo, Finding } from "../trail/verify.server";
import { openRecords } from "./open-records.server";
import { NOTICE_ACTION } from "./own-actions";
import { SELF_SOURCE } from "../trail/self-source";
import { readVerified } from "./verified-read.server";

// What the trail says a patient's notice settings must be (docs/decisions/020): the newest
// `notice_settings` record of their account. The signed row must name that record and say the
// same; a row deleted, edited or put back from an older copy does not, and is reported instead
// of silencing the notices.

const NOTES_PREFIX = "Notices by e-mail: ";

/**
 * What a settings record says, in words the patient reads in their list. With notices on, it
 * ends with a fingerprint of the confirmed address, so the record binds the address as well as
 * the choices, without showing it.
 */
function noticeNotes(on: boolean, choices: NoticeChoices, address: string | null): string {
  const what = [
    choices.newActors ? "an actor or organisation new to your record" : null,
    choices.emergency ? "every emergency access" : null,
  ].filter(Boolean);
  if (!on || what.length === 0) return `${NOTES_PREFIX}off`;
  const to = address === null ? "" : `, to the confirmed address with fingerprint ${address}`;
  return `${NOTES_PREFIX}${what.join(", and ")}${to}`;
}

/** Whether notices go out with these settings. */
export const noticesOn = (s: NoticeSettings | null): s is NoticeSettings & { email: string } =>
  Boolean(s?.email) && (s!.choices.newActors || s!.choices.emergency);

/** A keyed fingerprint of an address: it tells addresses apart and reveals none. */
const fingerprintOf = (ctx: AppContext, address: string) =>
  keyedDigest(ctx.keys.blindIndexKey, ["ehr-audit-notice-address", address])
    .subarray(0, 8)
    .toString("hex");

const choicesOf = (s: NoticeSettings | null) =>
  s?.choices ?? { newActors: false, emergency: false };

/** What the settings record of `s` says. */
export const notesOf = (ctx: AppContext, s: NoticeSettings | null) =>
  noticeNotes(noticesOn(s), choicesOf(s), noticesOn(s) ? fingerprintOf(ctx, s.email) : null);

/**
 * What a settings record written before records named the address says: still accepted for the
 * row it names, until the patient's next change records the address too (decision 009).
 */
const notesWithoutAddress = (s: NoticeSettings | null) =>
  noticeNotes(noticesOn(s), choicesOf(s), null);

/** The newest settings record of each patient account, read against `checkpoint`. */
export function newestSettingsRecords(
  ctx: AppContext,
  checkpoint: CheckpointInfo | null,
  who?: { patientId: string; userId: string },
): AuditRecordView[] {
  const rows = findOwnRecords(ctx, SELF_SOURCE, {
    actions: [NOTICE_ACTION.settings],
    patientId: who?.patientId,
    actorId: who?.userId,
    sealedUpTo: checkpoint?.treeSize ?? 0,
  });
  const newest = new Map<string, AuditRecordView>();
  for (const r of openRecords(ctx, rows, checkpoint, who?.patientId ?? null)) {
    if (r.sourceId === SELF_SOURCE && r.action === NOTICE_ACTION.settings) newest.set(r.actorId, r);
  }
  return [...newest.values()];
}

/** Whether a row is what the trail's newest settings record says; the finding if not. */
export function checkAgainstTrail(
  ctx: AppContext,
  userId: string,
  settings: NoticeSettings | null,
  record: AuditRecordView | null,
): Finding | null {
  if (!record) return null;
  const base = { target: "notice" as const, ref: userId, seq: record.seq, logId: record.logId };
  if (!settings) {
    return {
      ...base,
      kind: "missing",
      detail: "the notice settings row named by the trail is gone",
    };
  }
  const says = [notesOf(ctx, settings), notesWithoutAddress(settings)];
  if (settings.trailLogId !== record.logId || !says.includes(record.notes)) {
    return {
      ...base,
      kind: "modified",
      detail: "the notice settings row is not the one the trail's newest settings record names",
    };
  }
  return null;
}

export type NoticePage =
  { ok: true; settings: NoticeSettings | null } | { ok: false; reason: "compromised" | "tampered" };

/** A patient's settings, checked by their signature and against the trail. */
export async function loadNoticeSettings(ctx: AppContext, patient: User): Promise<NoticePage> {
  const who = { patientId: patient.patientId!, userId: patient.id };
  const read = await readVerified(ctx, patient.id, (cp) => newestSettingsRecords(ctx, cp, who));
  if (!read.ok) return { ok: false, reason: "compromised" };
  let settings: NoticeSettings | null;
  try {
    settings = getNoticeSettings(ctx, patient.id, who.patientId);
  } catch (error) {
    if (!(error instanceof NoticeRowTampered)) throw error;
    await reportFinding(ctx, error.finding, patient.id);
    return { ok: false, reason: "tampered" };
  }
  const finding = checkAgainstTrail(ctx, patient.id, settings, read.value[0] ?? null);
  if (finding) {
    await reportFinding(ctx, finding, patient.id);
    return { ok: false, reason: "tampered" };
  }
  return { ok: true, settings };
}
