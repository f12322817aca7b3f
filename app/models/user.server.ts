import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { users } from "../../db/schema";
import type { AppContext } from "../context.server";
import { decryptField, encryptField } from "../crypto/fields.server";
import { blindIndex } from "../crypto/hashing.server";
import { signBytes } from "../crypto/signing.server";
import { userSigningInput } from "../trail/encoding.server";

export const ROLES = ["patient", "auditor"] as const;
export type Role = (typeof ROLES)[number];

export type User = {
  id: string;
  name: string;
  username: string;
  role: Role;
  /** The patient ID (MRN) a patient account is bound to; null for auditors. */
  patientId: string | null;
};

type UserRow = typeof users.$inferSelect;
type NewUser = Omit<User, "id"> & { passwordHash: string };

export const ROLE_LABELS: Record<Role, string> = {
  patient: "Patient",
  auditor: "Audit company",
};

function seal(ctx: AppContext, id: string, column: string, value: string): Buffer {
  return encryptField(ctx.keys.fieldKey, value, {
    table: "users",
    column,
    rowId: id,
  });
}

function open(ctx: AppContext, row: UserRow, column: string, value: Buffer): string {
  return decryptField(ctx.keys.fieldKey, value, {
    table: "users",
    column,
    rowId: row.id,
  });
}

export function usernameIndex(ctx: AppContext, username: string): Buffer {
  return blindIndex(ctx.keys.blindIndexKey, "username", username);
}

function toUser(ctx: AppContext, row: UserRow): User {
  const role = open(ctx, row, "role", row.roleEnc);
  if (!ROLES.includes(role as Role)) throw new Error(`user ${row.id} has an unknown role`);
  return {
    id: row.id,
    name: open(ctx, row, "name", row.nameEnc),
    username: open(ctx, row, "username", row.usernameEnc),
    role: role as Role,
    patientId: role === "patient" ? open(ctx, row, "patient_id", row.patientIdEnc) : null,
  };
}

/** Inserts a user with every field encrypted and the row signed; call inside the registration transaction. */
export function insertUser(ctx: AppContext, user: NewUser): User {
  const id = randomUUID();
  const now = ctx.now();
  const sealed = {
    id,
    usernameIndex: usernameIndex(ctx, user.username),
    nameEnc: seal(ctx, id, "name", user.name),
    usernameEnc: seal(ctx, id, "username", user.username),
    passwordEnc: seal(ctx, id, "password", user.passwordHash),
    roleEnc: seal(ctx, id, "role", user.role),
    patientIdEnc: seal(ctx, id, "patient_id", user.patientId ?? ""),
    createdAt: now,
    updatedAt: now,
    keyId: ctx.keys.signing.keyId,
  };
  const signature = signBytes(ctx.keys.signing.privateKey, userSigningInput(Object.values(sealed)));
  ctx.conn.db
    .insert(users)
    .values({ ...sealed, signature })
    .run();
  return {
    id,
    name: user.name,
    username: user.username,
    role: user.role,
    patientId: user.patientId,
  };
}

export function usernameTaken(ctx: AppContext, username: string): boolean {
  return (
    ctx.conn.db
      .select({ id: users.id })
      .from(users)
      .where(eq(users.usernameIndex, usernameIndex(ctx, username)))
      .get() !== undefined
  );
}

export function getUserById(ctx: AppContext, id: string): User | null {
  const row = ctx.conn.db.select().from(users).where(eq(users.id, id)).get();
  return row ? toUser(ctx, row) : null;
}

/** The user and their password hash, for checking a login. */
export function findUserForLogin(
  ctx: AppContext,
  username: string,
): { user: User; passwordHash: string } | null {
  const row = ctx.conn.db
    .select()
    .from(users)
    .where(eq(users.usernameIndex, usernameIndex(ctx, username)))
    .get();
  if (!row) return null;
  return {
    user: toUser(ctx, row),
    passwordHash: open(ctx, row, "password", row.passwordEnc),
  };
}
