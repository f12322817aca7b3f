import { randomUUID } from "node:crypto";
import { and, eq, isNull } from "drizzle-orm";
import { invitations } from "../../db/schema";
import type { AppContext } from "../context.server";
import { generateCode, normalizeCode } from "../crypto/codes.server";
import { decryptField, encryptField } from "../crypto/fields.server";
import { keyedDigest } from "../crypto/hashing.server";
import { checkRow, signRow } from "../trail/signed-rows.server";
import type { Role } from "./user.server";

type InvitationRow = typeof invitations.$inferSelect;

// Each row is signed: its code (by the keyed hash, which also binds the role), its patient, its
// expiry and its used state stay together. Moving any of them between rows, or clearing
// used_at, fails the check and grants nothing (docs/decisions/009-authenticated-rows.md).
const signedValues = (row: Omit<InvitationRow, "keyId" | "signature">) => [
  row.id,
  row.codeHash,
  row.patientIdEnc,
  row.createdAt,
  row.expiresAt,
  row.usedAt,
  row.usedBy,
];

function rowIsGenuine(ctx: AppContext, row: InvitationRow): boolean {
  const values = [...signedValues(row), row.keyId];
  return checkRow(ctx.keys.trustedPublicKeys, "invitations", values, row.signature) === "valid";
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Keyed hash over the role and the code: the code itself is never stored. */
function codeHash(ctx: AppContext, role: Role, code: string): Buffer {
  return keyedDigest(ctx.keys.blindIndexKey, ["ehr-audit-invitation", role, normalizeCode(code)]);
}

export type IssuedInvitation = {
  id: string;
  code: string;
  role: Role;
  expiresAt: Date;
};

/** Issues a single-use code; a patient code carries the patient ID the account will be bound to. */
export function createInvitation(
  ctx: AppContext,
  options: { role: Role; patientId?: string; days?: number },
): IssuedInvitation {
  const { role } = options;
  const patientId = options.patientId?.trim();
  if (role === "patient" && !patientId) throw new Error("a patient invitation needs a patient ID");
  if (role === "auditor" && patientId) throw new Error("an auditor invitation takes no patient ID");
  const id = randomUUID();
  const code = generateCode();
  const now = ctx.now();
  const expiresAt = now + (options.days ?? ctx.config.INVITATION_DAYS) * DAY_MS;
  const row = {
    id,
    codeHash: codeHash(ctx, role, code),
    patientIdEnc: encryptField(ctx.keys.fieldKey, patientId ?? "", {
      table: "invitations",
      column: "patient_id",
      rowId: id,
    }),
    createdAt: now,
    expiresAt,
    usedAt: null,
    usedBy: null,
  };
  ctx.conn.db
    .insert(invitations)
    .values({ ...row, ...signRow(ctx.keys, "invitations", signedValues(row)) })
    .run();
  return { id, code, role, expiresAt: new Date(expiresAt) };
}

export type InvitationCheck =
  | { ok: true; id: string; patientId: string | null }
  | { ok: false; message: string; tampered?: true };

const NOT_VALID = "This invitation code is not valid.";

const OTHER_ROLE: Record<Role, Role> = {
  patient: "auditor",
  auditor: "patient",
};
const ROLE_NAMES: Record<Role, string> = {
  patient: "a patient",
  auditor: "an audit company",
};

/** Finds a usable invitation of `role` for `code`; run it in the transaction that consumes it. */
export function checkInvitation(ctx: AppContext, role: Role, code: string): InvitationCheck {
  if (!normalizeCode(code)) return { ok: false, message: "Enter the code from your invitation." };
  const row = ctx.conn.db
    .select()
    .from(invitations)
    .where(eq(invitations.codeHash, codeHash(ctx, role, code)))
    .get();
  if (!row) {
    const other = OTHER_ROLE[role];
    const forOther = ctx.conn.db
      .select({ id: invitations.id })
      .from(invitations)
      .where(eq(invitations.codeHash, codeHash(ctx, other, code)))
      .get();
    return forOther
      ? {
          ok: false,
          message: `This code is for ${ROLE_NAMES[other]} account, not ${ROLE_NAMES[role]} account.`,
        }
      : { ok: false, message: NOT_VALID };
  }
  if (!rowIsGenuine(ctx, row)) return { ok: false, message: NOT_VALID, tampered: true };
  if (row.usedAt !== null)
    return {
      ok: false,
      message: "This invitation code has already been used.",
    };
  if (row.expiresAt <= ctx.now())
    return { ok: false, message: "This invitation code has expired." };
  const patientId = decryptField(ctx.keys.fieldKey, row.patientIdEnc, {
    table: "invitations",
    column: "patient_id",
    rowId: row.id,
  });
  if (role === "patient" && !patientId) return { ok: false, message: NOT_VALID };
  return {
    ok: true,
    id: row.id,
    patientId: role === "patient" ? patientId : null,
  };
}

/** Marks an invitation used by `userId`, signing it again; false when it was already used. */
export function consumeInvitation(ctx: AppContext, id: string, userId: string): boolean {
  const row = ctx.conn.db.select().from(invitations).where(eq(invitations.id, id)).get();
  if (!row || row.usedAt !== null) return false;
  const used = { ...row, usedAt: ctx.now(), usedBy: userId };
  const result = ctx.conn.db
    .update(invitations)
    .set({
      usedAt: used.usedAt,
      usedBy: userId,
      ...signRow(ctx.keys, "invitations", signedValues(used)),
    })
    .where(and(eq(invitations.id, id), isNull(invitations.usedAt)))
    .run();
  return result.changes === 1;
}

/** Removes the invitation rows that fail their check (the operator's `trust reset`); returns their ids. */
export function removeTamperedInvitations(ctx: AppContext): string[] {
  const bad = ctx.conn.db
    .select()
    .from(invitations)
    .all()
    .filter((row) => !rowIsGenuine(ctx, row));
  for (const row of bad) ctx.conn.db.delete(invitations).where(eq(invitations.id, row.id)).run();
  return bad.map((row) => row.id);
}
