import { randomUUID } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import { preparedQuery } from "../../db/prepared";
import { users } from "../../db/schema";
import type { AppContext } from "../context.server";
import { decryptField, encryptField } from "../crypto/fields.server";
import { blindIndex } from "../crypto/hashing.server";
import { checkRow, signRow } from "../trail/signed-rows.server";

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
type NewUser = Omit<User, "id"> & { credential: Credential };

/**
 * What the sealed password column holds: an argon2id hash (accounts from before OPAQUE, until
 * their next login) or an OPAQUE registration record. The scheme marker is inside the sealed,
 * signed value, so it cannot be changed without failing the row's check (decision record 017).
 */
export type Credential = { scheme: "argon2"; hash: string } | { scheme: "opaque"; record: string };

const OPAQUE_MARKER = "opaque-rfc9807:";

function encodeCredential(credential: Credential): string {
  return credential.scheme === "opaque" ? OPAQUE_MARKER + credential.record : credential.hash;
}

function decodeCredential(value: string): Credential {
  return value.startsWith(OPAQUE_MARKER)
    ? { scheme: "opaque", record: value.slice(OPAQUE_MARKER.length) }
    : { scheme: "argon2", hash: value };
}

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

/** A user row whose signature fails: edited in the database file. It grants nothing. */
export class UserRowTampered extends Error {
  constructor(public readonly userId: string) {
    super(`user ${userId} failed its signature check`);
    this.name = "UserRowTampered";
  }
}

const signedValues = (row: Omit<UserRow, "signature" | "keyId">) => [
  row.id,
  row.usernameIndex,
  row.nameEnc,
  row.usernameEnc,
  row.passwordEnc,
  row.roleEnc,
  row.patientIdEnc,
  row.createdAt,
  row.updatedAt,
];

// Every field that decides a right (role, patient binding, password) is under the signature,
// checked each time an account is loaded, not only by the next full verification.
function toUser(ctx: AppContext, row: UserRow): User {
  const check = checkRow(
    ctx.keys.trustedPublicKeys,
    "users",
    [...signedValues(row), row.keyId],
    row.signature,
  );
  if (check !== "valid") throw new UserRowTampered(row.id);
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
    passwordEnc: seal(ctx, id, "password", encodeCredential(user.credential)),
    roleEnc: seal(ctx, id, "role", user.role),
    patientIdEnc: seal(ctx, id, "patient_id", user.patientId ?? ""),
    createdAt: now,
    updatedAt: now,
  };
  ctx.conn.db
    .insert(users)
    .values({ ...sealed, ...signRow(ctx.keys, "users", signedValues(sealed)) })
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

const userById = preparedQuery((db) =>
  db
    .select()
    .from(users)
    .where(eq(users.id, sql.placeholder("id")))
    .prepare(),
);

export function getUserById(ctx: AppContext, id: string): User | null {
  const row = userById(ctx.conn.db).get({ id });
  return row ? toUser(ctx, row) : null;
}

/** The user and their credential, for checking a login. */
export function findUserForLogin(
  ctx: AppContext,
  username: string,
): { user: User; credential: Credential } | null {
  const row = ctx.conn.db
    .select()
    .from(users)
    .where(eq(users.usernameIndex, usernameIndex(ctx, username)))
    .get();
  if (!row) return null;
  return {
    user: toUser(ctx, row),
    credential: decodeCredential(open(ctx, row, "password", row.passwordEnc)),
  };
}

/**
 * Replaces an account's credential and signs the row again. Throws UserRowTampered when the row
 * fails its check; false when it changed between the read and the write.
 */
export function replaceCredential(
  ctx: AppContext,
  userId: string,
  credential: Credential,
): boolean {
  const row = ctx.conn.db.select().from(users).where(eq(users.id, userId)).get();
  if (!row) return false;
  toUser(ctx, row);
  const sealed = {
    ...row,
    passwordEnc: seal(ctx, row.id, "password", encodeCredential(credential)),
    updatedAt: ctx.now(),
  };
  const result = ctx.conn.db
    .update(users)
    .set({ ...sealed, ...signRow(ctx.keys, "users", signedValues(sealed)) })
    .where(and(eq(users.id, row.id), eq(users.signature, row.signature)))
    .run();
  return result.changes === 1;
}
