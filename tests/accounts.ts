// The intruder who holds the keys, against accounts: a row re-sealed and signed again as the
// server would, and what the account's next request then gets.
import type Database from "better-sqlite3";
import { vi } from "vitest";
import { requireUser } from "../app/auth.server";
import type { AppContext } from "../app/context.server";
import { encryptField } from "../app/crypto/fields.server";
import type { Keys } from "../app/keys.server";
import type { User } from "../app/models/user.server";
import { viewTrail } from "../app/services/trail-view.server";
import { signRow } from "../app/trail/signed-rows.server";

/** The account's row re-sealed with this role and patient, and signed with `keys`. */
export function rebindAccount(
  db: Database.Database,
  keys: Keys,
  user: User,
  binding: { role: User["role"]; patientId: string | null },
): void {
  const row = db.prepare("SELECT * FROM users WHERE id = ?").get(user.id) as Record<
    string,
    unknown
  >;
  const seal = (column: string, value: string) =>
    encryptField(keys.fieldKey, value, { table: "users", column, rowId: user.id });
  const roleEnc = seal("role", binding.role);
  const patientIdEnc = seal("patient_id", binding.patientId ?? "");
  const updatedAt = (row.updated_at as number) + 1;
  const { keyId, signature } = signRow(keys, "users", [
    user.id,
    row.username_index as Buffer,
    row.name_enc as Buffer,
    row.username_enc as Buffer,
    row.password_enc as Buffer,
    roleEnc,
    patientIdEnc,
    row.created_at as number,
    updatedAt,
  ]);
  db.prepare(
    `UPDATE users SET role_enc = ?, patient_id_enc = ?, updated_at = ?, key_id = ?,
     signature = ? WHERE id = ?`,
  ).run(roleEnc, patientIdEnc, updatedAt, keyId, signature, user.id);
}

/** What an account's next request gets: the patients its view shows, or its refusal. */
export async function nextView(ctx: AppContext, request: Request): Promise<string> {
  const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
  try {
    const { user } = await requireUser(ctx, request);
    const view = await viewTrail(ctx, user);
    return view.ok ? [...new Set(view.records.map((r) => r.patientId))].join(",") : "withheld";
  } catch (error) {
    // requireUser throws Remix's data(): the page's answer, with its status.
    const status = (error as { init?: { status?: number } }).init?.status;
    return status ? `refused ${status}` : `error ${String(error)}`;
  } finally {
    warn.mockRestore();
  }
}
