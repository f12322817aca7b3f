import { z } from "zod";
import type { AppContext } from "../context.server";
import { randomSecret } from "../crypto/hashing.server";
import {
  confirmationTokenHash,
  findByTokenHash,
  saveNoticeSettings,
  type NoticeChoices,
  type NoticeSettings,
} from "../models/notice-settings.server";
import { getUserById, UserRowTampered, type User } from "../models/user.server";
import { mailTo } from "../trail/alerts.server";
import { appendRecords } from "../trail/append.server";
import { reportTamperedRow, TrailCompromisedError } from "../trail/guard.server";
import { TrailBusyError } from "../trail/lease.server";
import { loadNoticeSettings, notesOf } from "./notice-state.server";
import { NOTICE_ACTION, NOTICES_TABLE } from "./own-actions";
import { admitPerAccount } from "./throttle.server";
import { SELF_SOURCE } from "../trail/self-source";

// A patient's notice settings (docs/decisions/020). Every change that decides whether and where
// notices go (an address confirmed, the choices, notices off) is appended to the trail as a
// record first, then the signed row names that record (notice-state.server.ts checks it).

const CONFIRMATION_HOURS = 24;
const HOUR_MS = 3_600_000;
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
          notes: notesOf(ctx, settings),
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
  let patient: User | null = null;
  try {
    patient = userId ? getUserById(ctx, userId) : null;
  } catch (error) {
    if (!(error instanceof UserRowTampered)) throw error;
    // The full pass names the account row and mails the admins.
    await reportTamperedRow(ctx, "a notice confirmation");
    return TAMPERED;
  }
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
