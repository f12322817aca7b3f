// An intruder who can write the database file, but holds no key, edits the rows that grant
// rights. Each edit must grant nothing, withhold the views, and mail the admins naming the row.
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { openMailbox, type Mailbox } from "../../tests/mailbox";
import { intrude, seedTrail } from "../../tests/trail";
import { requireUser } from "../auth.server";
import { sha256 } from "../crypto/hashing.server";
import { registerWithPassword as registerUser } from "../services/enrol-with-password.server";
import { ensureTrailIntact } from "../trail/guard.server";
import { createInvitation } from "./invitation.server";
import { addSource, authenticateSource, revokeSource } from "./source.server";
import { getUserById, UserRowTampered, type User } from "./user.server";
import { loggedInRequest, storedAccount } from "../../tests/users";

let mailbox: Mailbox;
let ctx: TestContext;
beforeEach(async () => {
  mailbox = await openMailbox();
  ctx = makeTestContext(mailbox.env);
  await seedTrail(ctx, 4);
});
afterEach(() => mailbox.close());

const account = (role: User["role"], patientId: string | null) =>
  storedAccount(ctx, role, patientId);

/** Logs `user` in and returns the request a browser would send next with its cookie. */
const signedInRequest = (user: User) => loggedInRequest(ctx, user, "/dashboard");

/** What requireUser threw: Remix's data() with its status and message. */
async function refusal(request: Request) {
  const thrown = await requireUser(ctx, request).then(
    () => null,
    (error: unknown) => error as { init: { status: number }; data: { message: string } },
  );
  return thrown && { status: thrown.init.status, message: thrown.data.message };
}

/** The alerts the admins received, once the first has arrived. */
const alertTexts = async () =>
  (await mailbox.received()).map((m) => `${m.subject}\n${m.text}`).join("\n");

test("a session row moved to the auditor's account opens nothing and is named", async () => {
  const patient = account("patient", "MRN-77001");
  const auditor = account("auditor", null);
  const request = await signedInRequest(patient);
  expect((await requireUser(ctx, request)).user.role).toBe("patient");

  intrude(ctx, (db) =>
    db
      .prepare("UPDATE sessions SET user_id = ?, data = ? WHERE user_id = ?")
      .run(auditor.id, JSON.stringify({ userId: auditor.id }), patient.id),
  );
  expect(await refusal(request)).toEqual({
    status: 503,
    message: expect.stringContaining("Data integrity compromised"),
  });
  const status = await ensureTrailIntact(ctx, { viewerId: null });
  expect(status.ok).toBe(false);
  expect(await alertTexts()).toMatch(
    new RegExp(`session [0-9a-f]{16}: the session row \\(for user ${auditor.id}\\)`),
  );
});

test("a session row given a later expiry opens nothing", async () => {
  const patient = account("patient", "MRN-77002");
  const request = await signedInRequest(patient);
  intrude(ctx, (db) => db.prepare("UPDATE sessions SET expires_at = expires_at + 86400000").run());
  expect(await refusal(request)).toMatchObject({ status: 503 });
  expect(await alertTexts()).toMatch(/Modified \(1\):\n {2}- session [0-9a-f]{16}/);
});

test("a source row written by hand authenticates nothing and is named", async () => {
  const token = "ehrat_the-intruders-own-token-000000000000";
  intrude(ctx, (db) =>
    db
      .prepare("INSERT INTO sources (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)")
      .run("forged-source", "forged", sha256(token), Date.now()),
  );
  expect(authenticateSource(ctx, token)).toBeNull();

  // Even a row that matches the keyed hash (copied from a genuine source) fails its signature
  // once edited: here, the revocation of a genuine source is cleared.
  const { token: genuine } = addSource(ctx, "ward-ehr");
  expect(authenticateSource(ctx, genuine)).toMatchObject({ name: "ward-ehr" });
  expect(revokeSource(ctx, "ward-ehr")).toBe(true);
  expect(authenticateSource(ctx, genuine)).toBeNull();
  const id = intrude(ctx, (db) => {
    db.prepare("UPDATE sources SET revoked_at = NULL WHERE name = 'ward-ehr'").run();
    return db.prepare("SELECT id FROM sources WHERE name = 'ward-ehr'").pluck().get() as string;
  });
  const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
  expect(authenticateSource(ctx, genuine)).toBeNull();
  const status = await ensureTrailIntact(ctx, { viewerId: null });
  warn.mockRestore();
  expect(status.ok).toBe(false);
  const text = await alertTexts();
  expect(text).toContain(
    `source forged-source: the source system row is not signed by a trusted key`,
  );
  expect(text).toContain(`source ${id}: the source system row was changed after it was signed`);
});

test("an invitation row given another patient's binding registers nobody", async () => {
  const first = createInvitation(ctx, { role: "patient", patientId: "MRN-80001" });
  const form = (code: string, username: string) => ({
    name: "Pat Example",
    username,
    password: "correct horse battery",
    confirmPassword: "correct horse battery",
    userType: "patient",
    code,
  });
  expect(await registerUser(ctx, form(first.code, "pat-first"))).toMatchObject({ ok: true });
  const mine = createInvitation(ctx, { role: "patient", patientId: "MRN-80002" });
  // The intruder moves the used invitation's id and sealed patient id into their fresh row.
  intrude(ctx, (db) => {
    const used = db
      .prepare("SELECT id, patient_id_enc FROM invitations WHERE id = ?")
      .get(first.id) as {
      id: string;
      patient_id_enc: Buffer;
    };
    db.prepare("DELETE FROM invitations WHERE id = ?").run(first.id);
    db.prepare("UPDATE invitations SET id = ?, patient_id_enc = ? WHERE id = ?").run(
      used.id,
      used.patient_id_enc,
      mine.id,
    );
  });
  const result = await registerUser(ctx, form(mine.code, "pat-second"));
  expect(result).toEqual({ ok: false, errors: { code: "This invitation code is not valid." } });
  expect(await alertTexts()).toContain(
    `invitation ${first.id}: the invitation row was changed after it was signed`,
  );
});

test("a used invitation cannot be made unused", async () => {
  const invitation = createInvitation(ctx, { role: "auditor" });
  const form = {
    name: "Audit Co",
    username: "audit-first",
    password: "correct horse battery",
    confirmPassword: "correct horse battery",
    userType: "auditor",
    code: invitation.code,
  };
  expect(await registerUser(ctx, form)).toMatchObject({ ok: true });
  intrude(ctx, (db) =>
    db
      .prepare("UPDATE invitations SET used_at = NULL, used_by = NULL WHERE id = ?")
      .run(invitation.id),
  );
  const again = await registerUser(ctx, { ...form, username: "audit-second" });
  expect(again).toMatchObject({
    ok: false,
    errors: { code: "This invitation code is not valid." },
  });
  expect(await alertTexts()).toContain(`invitation ${invitation.id}`);
});

test("an account row edited in the file is refused when it is loaded", async () => {
  const patient = account("patient", "MRN-77003");
  const request = await signedInRequest(patient);
  intrude(ctx, (db) =>
    db.prepare("UPDATE users SET updated_at = updated_at + 1 WHERE id = ?").run(patient.id),
  );
  expect(() => getUserById(ctx, patient.id)).toThrow(UserRowTampered);
  expect(await refusal(request)).toMatchObject({ status: 503 });
  expect(await alertTexts()).toContain(
    `user ${patient.id}: the account row was changed after it was signed`,
  );
});
