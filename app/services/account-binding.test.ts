// An intruder who holds the keys re-seals and re-signs an account's row bound to another patient,
// or to another role. The row passes its own check; the account's first login on the trail,
// which the witnesses anchor and no key rewrites, still names the patient it was bound to.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { openMailbox, type Mailbox } from "../../tests/mailbox";
import { seedTrail } from "../../tests/trail";
import { openDatabase } from "../../db/connection";
import { requireUser, startSession } from "../auth.server";
import { encryptField } from "../crypto/fields.server";
import { loadOrCreateKeys } from "../keys.server";
import type { User } from "../models/user.server";
import { storedAccount } from "../../tests/users";
import { ALERT_SUBJECT } from "../trail/alerts.server";
import { signRow } from "../trail/signed-rows.server";
import { accountBindingFinding } from "./account-binding.server";
import { auditFailedLogin, auditLogin, viewTrail } from "./trail-view.server";

let mailbox: Mailbox;
let ctx: TestContext;
beforeEach(async () => {
  mailbox = await openMailbox();
  ctx = makeTestContext(mailbox.env);
  await seedTrail(ctx, 4); // records of MRN-100 (seq 1 and 4) and MRN-101 (seq 2)
});
afterEach(() => mailbox.close());

const account = (role: User["role"], patientId: string | null) =>
  storedAccount(ctx, role, patientId);

/** Logs `user` in as the login route does: the login recorded, then the session. */
async function loggedIn(user: User): Promise<Request> {
  await auditLogin(ctx, user);
  const response = await startSession(ctx, new Request("http://trail.test/login"), user, "/home");
  const cookie = response.headers.get("Set-Cookie")!.split(";")[0]!;
  return new Request("http://trail.test/home", { headers: { Cookie: cookie } });
}

/**
 * The intruder's edit: on a connection of their own, with the keys read from KEYS_DIR, the
 * account's role and patient sealed anew and the row signed again.
 */
function rebind(user: User, role: User["role"], patientId: string | null) {
  const keys = loadOrCreateKeys(ctx.config.KEYS_DIR, ctx.config.TRAIL_ORIGIN).keys;
  const conn = openDatabase(ctx.config.DATABASE_PATH);
  try {
    const row = conn.sqlite.prepare("SELECT * FROM users WHERE id = ?").get(user.id) as Record<
      string,
      unknown
    >;
    const seal = (column: string, value: string) =>
      encryptField(keys.fieldKey, value, { table: "users", column, rowId: user.id });
    const roleEnc = seal("role", role);
    const patientIdEnc = seal("patient_id", patientId ?? "");
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
    conn.sqlite
      .prepare(
        `UPDATE users SET role_enc = ?, patient_id_enc = ?, updated_at = ?, key_id = ?,
         signature = ? WHERE id = ?`,
      )
      .run(roleEnc, patientIdEnc, updatedAt, keyId, signature, user.id);
  } finally {
    conn.sqlite.close();
  }
}

const alertTexts = () =>
  mailbox.mails
    .filter((m) => m.subject?.startsWith(ALERT_SUBJECT))
    .map((m) => m.text)
    .join("\n");

/** What the account's next request gets: the patients its view shows, or its refusal. */
async function nextView(request: Request): Promise<string> {
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

describe("an account bound to another patient with the stolen keys", () => {
  it("opens nothing at the patient's next request, and the alert names the account", async () => {
    const patient = account("patient", "MRN-100");
    const request = await loggedIn(patient);
    expect(await nextView(request)).toBe("MRN-100");

    rebind(patient, "patient", "MRN-101");
    const outcome = await nextView(request);
    expect(outcome).toMatch(/^refused 503|^withheld$/);
    expect(outcome).not.toContain("MRN-101");
    await vi.waitFor(() => expect(alertTexts()).toContain(patient.id));
  });

  it("opens nothing when a patient's account is made an auditor's", async () => {
    const patient = account("patient", "MRN-100");
    const request = await loggedIn(patient);
    rebind(patient, "auditor", null);
    expect(await nextView(request)).toMatch(/^refused 503/);
  });

  it("opens nothing when an auditor's account is bound to a patient", async () => {
    const auditor = account("auditor", null);
    const request = await loggedIn(auditor);
    rebind(auditor, "patient", "MRN-101");
    expect(await nextView(request)).toMatch(/^refused 503/);
  });

  it("is not fooled by failed logins recorded first, nor by a later login under the new binding", async () => {
    const patient = account("patient", "MRN-100");
    for (let i = 0; i < 40; i++) await auditFailedLogin(ctx, patient.username, patient);
    const request = await loggedIn(patient);
    rebind(patient, "patient", "MRN-101");
    // The intruder logs in as the rebound account: its login is recorded under MRN-101.
    const rebound = { ...patient, patientId: "MRN-101" };
    await auditLogin(ctx, rebound);
    expect(await nextView(request)).toMatch(/^refused 503/);
    expect(await accountBindingFinding({ ...ctx }, rebound)).toMatchObject({
      target: "user",
      ref: patient.id,
    });
  });

  it("leaves accounts as they are bound alone, and costs no read once known", async () => {
    const patient = account("patient", "MRN-100");
    const request = await loggedIn(patient);
    expect(await nextView(request)).toBe("MRN-100");
    const prepare = vi.spyOn(ctx.conn.sqlite, "prepare");
    expect(await accountBindingFinding(ctx, patient)).toBeNull();
    expect(prepare.mock.calls.some(([text]) => String(text).includes("actor_index"))).toBe(false);
    prepare.mockRestore();
  });
});
