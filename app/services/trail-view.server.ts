import { data } from "@remix-run/node";
import type { AppContext } from "../context.server";
import { TrailBusyError } from "../trail/lease.server";
import { type AuditRecordView, type RecordFilters } from "../models/record.server";
import { openRecordPage } from "./open-records.server";
import type { User } from "../models/user.server";
import { appendRecords, type RecordInput } from "../trail/append.server";
import { TrailCompromisedError } from "../trail/guard.server";
import { checkWitnessLag, type WitnessStatus } from "../trail/witness-status.server";
import { SELF_SOURCE } from "../trail/self-source";
import { readVerified } from "./verified-read.server";

export const PAGE_SIZE = 50;
/** The notes of a successful login: the first one binds an account to its patient (009). */
export const LOGIN_NOTES = "successful login";
/** The notes of a failed login, which the FHIR mapping reports as outcome 4 (minor failure). */
export const FAILED_LOGIN_NOTES = "failed login attempt";

export type VerifiedStatus = {
  records: number;
  checkpointNumber: number;
  signedAt: string | null;
  keyId: string | null;
  /** Null when no witnesses are configured (WITNESSES). */
  witnesses: WitnessStatus | null;
};

export type TrailView =
  | { ok: false }
  | { ok: true; records: AuditRecordView[]; nextBefore: number | null; status: VerifiedStatus };

function selfRecord(
  user: User,
  action: string,
  patientId: string,
  notes: string,
  at: number,
): RecordInput {
  return {
    patientId,
    actorId: user.id,
    actorName: user.name,
    action,
    tableAffected: "audit_trail",
    occurredAt: at,
    notes,
    sourceId: SELF_SOURCE,
  };
}

/** Appends records about the trail's own use; a compromised trail takes no appends, and that is no error here. */
async function auditOwnUse(ctx: AppContext, inputs: RecordInput[]): Promise<void> {
  if (inputs.length === 0) return;
  try {
    await appendRecords(ctx, inputs, { triggeredBy: inputs[0]!.actorId });
  } catch (error) {
    // A view that cannot be recorded is not shown: the page asks to try again, never a 500.
    if (error instanceof TrailBusyError) {
      throw data(
        { message: "The trail is busy storing other records. Try again in a few seconds." },
        { status: 503, headers: { "Retry-After": String(error.retryAfterSeconds) } },
      );
    }
    if (!(error instanceof TrailCompromisedError)) throw error;
  }
}

/** Records that `user` looked at records of `patients`: one record per patient, who sees it. */
export function auditView(
  ctx: AppContext,
  user: User,
  patients: readonly string[],
  notes: string | ((patientId: string) => string),
  action = "query",
): Promise<void> {
  const now = ctx.now();
  return auditOwnUse(
    ctx,
    patients.map((patientId) =>
      selfRecord(
        user,
        action,
        patientId,
        typeof notes === "string" ? notes : notes(patientId),
        now,
      ),
    ),
  );
}

export function auditLogin(ctx: AppContext, user: User): Promise<void> {
  return auditOwnUse(ctx, [
    selfRecord(user, "login", user.patientId ?? "", LOGIN_NOTES, ctx.now()),
  ]);
}

/** A failed login for an existing account is recorded against it; for unknown usernames, against nobody. */
export function auditFailedLogin(
  ctx: AppContext,
  attempted: string,
  user: User | null,
): Promise<void> {
  const actor = user ?? {
    id: "unknown",
    name: attempted,
    role: "patient" as const,
    patientId: null,
    username: attempted,
  };
  return auditOwnUse(ctx, [
    selfRecord(actor, "login", user?.patientId ?? "", FAILED_LOGIN_NOTES, ctx.now()),
  ]);
}

/**
 * Verifies, then returns the page of records `user` may see: a patient only their own, an
 * auditor all. The view itself is recorded, once per patient shown, so patients see who looked.
 */
export async function viewTrail(
  ctx: AppContext,
  user: User,
  options: { before?: number; filters?: RecordFilters } = {},
): Promise<TrailView> {
  const read = await readVerified(ctx, user.id, (checkpoint) =>
    openRecordPage(ctx, user, options.filters ?? {}, {
      limit: PAGE_SIZE,
      before: options.before,
      checkpoint,
    }),
  );
  if (!read.ok) return { ok: false };
  const { records, nextBefore } = read.value;
  const patients =
    user.role === "patient" ? [user.patientId!] : [...new Set(records.map((r) => r.patientId))];
  await auditView(
    ctx,
    user,
    patients,
    (patientId) => `viewed ${records.filter((r) => r.patientId === patientId).length} record(s)`,
  );
  const { checkpoint } = read;
  return {
    ok: true,
    records,
    nextBefore,
    status: {
      records: read.records,
      checkpointNumber: checkpoint?.number ?? 0,
      signedAt: checkpoint ? new Date(checkpoint.createdAt).toISOString() : null,
      keyId: checkpoint?.keyId ?? null,
      witnesses: await checkWitnessLag(ctx),
    },
  };
}
