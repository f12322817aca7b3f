import { z } from "zod";
import type { AppContext } from "../context.server";
import { randomSecret } from "../crypto/hashing.server";
import {
  confirmationTokenHash,
  findByTokenHash,
  getNoticeSettings,
  NoticeRowTampered,
  saveNoticeSettings,
  type NoticeChoices,
  type NoticeSettings,
} from "../models/notice-settings.server";
import { findOwnRecords } from "../models/own-records.server";
import { getUserById, type User } from "../models/user.server";
import { mailTo } from "../trail/alerts.server";
import { appendRecords } from "../trail/append.server";
import { TrailCompromisedError } from "../trail/guard.server";
import { raiseIncident } from "../trail/incident.server";
import { TrailBusyError } from "../trail/lease.server";
import type { CheckpointInfo, Finding } from "../trail/verify.server";
import { openRecords } from "./open-records.server";
import { NOTICE_ACTION, NOTICES_TABLE } from "./own-actions";
import { admitPerAccount } from "./throttle.server";
import { SELF_SOURCE } from "./trail-view.server";
import { readVerified } from "./verified-read.server";
import type { AuditRecordView } from "../models/record.server";

// A patient's notice settings (docs/decisions/020). Every change that decides whether and where
// notices go (an address confirmed, the choices, notices off) is appended to the trail as a
// record, and the signed row names that record. The trail therefore says what the row must be:
// a row deleted, edited or put back from an older copy no longer matches it and is reported,
// instead of silencing the notices.

const CONFIRMATION_HOURS = 24;
const HOUR_MS = 3_600_000;
const NOTES_PREFIX = "Notices by e-mail: ";

/** What a settings record says, in words the patient reads in their list. */
export function noticeNotes(on: boolean, choices: NoticeChoices): string {
  const what = [
    choices.newActors ? "an actor or organisation new to your record" : null,
    choices.emergency ? "every emergency access" : null,
  ].filter(Boolean);
  return `${NOTES_PREFIX}${on && what.length > 0 ? what.join(", and ") : "off"}`;
}

/** Whether notices go out with these settings. */
export const noticesOn = (s: NoticeSettings | null): s is NoticeSettings & { email: string } =>
  Boolean(s?.email) && (s!.choices.newActors || s!.choices.emergency);

const notesOf = (s: NoticeSettings | null) =>
  noticeNotes(noticesOn(s), s?.choices ?? { newActors: false, emergency: false });

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
  if (settings.trailLogId !== record.logId || notesOf(settings) !== record.notes) {
    return {
      ...base,
      kind: "modified",
      detail: "the notice settings row is not the one the trail's newest settings record names",
    };
  }
  return null;
}

const reported = new WeakMap<AppContext, Set<string>>();

/** Mails the admins once per distinct finding while this process runs. Never throws. */
export async function reportNoticeFinding(
  ctx: AppContext,
  finding: Finding,
  viewerId: string | null,
): Promise<void> {
  let mailed = reported.get(ctx);
  if (!mailed) reported.set(ctx, (mailed = new Set()));
  await raiseIncident(ctx, { findings: [finding], mailed }, viewerId);
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
    await reportNoticeFinding(ctx, error.finding, patient.id);
    return { ok: false, reason: "tampered" };
  }
  const finding = checkAgainstTrail(patient.id, settings, read.value[0] ?? null);
  if (finding) {
    await reportNoticeFinding(ctx, finding, patient.id);
    return { ok: false, reason: "tampered" };
  }
  return { ok: true, settings };
}

export type SettingsOutcome = { ok: true } | { ok: false; status: 400 | 429 | 503; error: string };

const TAMPERED: SettingsOutcome = {
  ok: false,
  status: 503,
  error: "Your notice settings failed their integrity check. The administrators have been alerted.",
};

/** Records the new settings on the trail, then stores the row that names that record. */
async function commit(
  ctx: AppContext,
  patient: User,
  settings: NoticeSettings,
): Promise<SettingsOutcome> {
  try {
    const { records } = await appendRecords(
      ctx,
      [
        {
          patientId: settings.patientId,
          actorId: patient.id,
          actorName: patient.name,
          action: NOTICE_ACTION.settings,
          tableAffected: NOTICES_TABLE,
          occurredAt: ctx.now(),
          notes: notesOf(settings),
          sourceId: SELF_SOURCE,
        },
      ],
      { triggeredBy: patient.id },
    );
    saveNoticeSettings(ctx, { ...settings, trailLogId: records[0]!.logId, updatedAt: ctx.now() });
    return { ok: true };
  } catch (error) {
    if (error instanceof TrailBusyError) {
      return { ok: false, status: 503, error: "The trail is busy. Try again." };
    }
    if (error instanceof TrailCompromisedError) {
      return { ok: false, status: 503, error: "Data integrity compromised" };
    }
    throw error;
  }
}

const emptySettings = (patient: User): NoticeSettings => ({
  userId: patient.id,
  patientId: patient.patientId!,
  email: null,
  pendingEmail: null,
  tokenHash: Buffer.alloc(0),
  tokenExpiresAt: 0,
  choices: { newActors: true, emergency: true },
  trailLogId: "",
  updatedAt: 0,
});

const EMAIL = z.email().max(254);

/**
 * Takes an address to confirm: mails it a single-use link (only the token's HMAC is kept) and
 * keeps the confirmed address, if any, until the new one is confirmed.
 */
export async function requestAddress(
  ctx: AppContext,
  patient: User,
  rawEmail: unknown,
  origin: string,
): Promise<SettingsOutcome> {
  const email = EMAIL.safeParse(typeof rawEmail === "string" ? rawEmail.trim() : rawEmail);
  if (!email.success) return { ok: false, status: 400, error: "Enter a valid e-mail address." };
  const current = await loadNoticeSettings(ctx, patient);
  if (!current.ok) return TAMPERED;
  const admitted = await admitPerAccount(ctx, "confirmation", patient.id);
  if (!admitted.allowed) {
    return { ok: false, status: 429, error: "Too many confirmation e-mails today. Try tomorrow." };
  }
  const token = randomSecret(24);
  const settings: NoticeSettings = {
    ...(current.settings ?? emptySettings(patient)),
    pendingEmail: email.data,
    tokenHash: confirmationTokenHash(ctx, token),
    tokenExpiresAt: ctx.now() + CONFIRMATION_HOURS * HOUR_MS,
    updatedAt: ctx.now(),
  };
  saveNoticeSettings(ctx, settings);
  const sent = await mailTo(ctx, email.data, {
    label: "Notice address confirmation",
    subject: "Confirm your address for notices of access to your record",
    text: [
      "Someone asked for notices of new accesses to a health record to be sent to this address.",
      "",
      "If it was you, open this link and confirm:",
      `${origin}/notices/confirm?token=${token}`,
      "",
      `The link works once, for ${CONFIRMATION_HOURS} hours. If it was not you, ignore this message.`,
    ].join("\n"),
    at: new Date(ctx.now()),
    tag: "notice-confirmation",
  }).then(
    () => true,
    () => false,
  );
  if (!sent) return { ok: false, status: 503, error: "The e-mail could not be sent. Try again." };
  return { ok: true };
}

/** Confirms a pending address by its token, once. */
export async function confirmAddress(ctx: AppContext, token: unknown): Promise<SettingsOutcome> {
  const invalid: SettingsOutcome = {
    ok: false,
    status: 400,
    error: "This confirmation link is not valid. It may have been used or have expired.",
  };
  if (typeof token !== "string" || !/^[A-Za-z0-9_-]{16,64}$/.test(token)) return invalid;
  const hash = confirmationTokenHash(ctx, token);
  const userId = findByTokenHash(ctx, hash);
  const patient = userId ? getUserById(ctx, userId) : null;
  if (!patient || patient.role !== "patient") return invalid;
  const current = await loadNoticeSettings(ctx, patient);
  if (!current.ok) return TAMPERED;
  const s = current.settings;
  if (!s?.pendingEmail || !s.tokenHash.equals(hash) || s.tokenExpiresAt < ctx.now()) {
    return invalid;
  }
  return commit(ctx, patient, {
    ...s,
    email: s.pendingEmail,
    pendingEmail: null,
    tokenHash: Buffer.alloc(0),
    tokenExpiresAt: 0,
  });
}

/** Sets what the patient is told of; with notices on, this is recorded on the trail. */
export async function setChoices(
  ctx: AppContext,
  patient: User,
  choices: NoticeChoices,
): Promise<SettingsOutcome> {
  const current = await loadNoticeSettings(ctx, patient);
  if (!current.ok) return TAMPERED;
  return commit(ctx, patient, { ...(current.settings ?? emptySettings(patient)), choices });
}

/**
 * Forgets the addresses: no more notices. Also the way out after settings failed their check
 * (the admins were told already): the patient starts again from a row the trail vouches for.
 */
export async function turnOffNotices(ctx: AppContext, patient: User): Promise<SettingsOutcome> {
  const current = await loadNoticeSettings(ctx, patient);
  if (!current.ok && current.reason === "compromised") return TAMPERED;
  return commit(ctx, patient, {
    ...((current.ok && current.settings) || emptySettings(patient)),
    email: null,
    pendingEmail: null,
    tokenHash: Buffer.alloc(0),
    tokenExpiresAt: 0,
  });
}
