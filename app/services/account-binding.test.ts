// An intruder who holds the keys re-seals and re-signs an account's row bound to another patient,
// or to another role. The row passes its own check; the account's first login on the trail,
// which the witnesses anchor and no key rewrites, still names the patient it was bound to.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { alertTexts, openMailbox, type Mailbox } from "../../tests/mailbox";
import { nextView, rebindAccount } from "../../tests/accounts";
import { intrude, seedTrail } from "../../tests/trail";
import { loadOrCreateKeys } from "../keys.server";
import type { User } from "../models/user.server";
import { loggedInRequest, storedAccount } from "../../tests/users";
import { accountBindingFinding } from "./account-binding.server";
import { auditFailedLogin, auditLogin } from "./trail-view.server";

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
const loggedIn = (user: User) => loggedInRequest(ctx, user);

/** The intruder's edit: on a connection of their own, with the keys read from KEYS_DIR. */
function rebind(user: User, role: User["role"], patientId: string | null) {
  const keys = loadOrCreateKeys(ctx.config.KEYS_DIR, ctx.config.TRAIL_ORIGIN).keys;
  intrude(ctx, (db) => rebindAccount(db, keys, user, { role, patientId }));
}

const alerts = () => alertTexts(mailbox);

const next = (request: Request) => nextView(ctx, request);

describe("an account bound to another patient with the stolen keys", () => {
  it("opens nothing at the patient's next request, and the alert names the account", async () => {
    const patient = account("patient", "MRN-100");
    const request = await loggedIn(patient);
    expect(await next(request)).toBe("MRN-100");

    rebind(patient, "patient", "MRN-101");
    const outcome = await next(request);
    expect(outcome).toMatch(/^refused 503|^withheld$/);
    expect(outcome).not.toContain("MRN-101");
    await vi.waitFor(() => expect(alerts()).toContain(patient.id));
  });

  it("opens nothing when a patient's account is made an auditor's", async () => {
    const patient = account("patient", "MRN-100");
    const request = await loggedIn(patient);
    rebind(patient, "auditor", null);
    expect(await next(request)).toMatch(/^refused 503/);
  });

  it("opens nothing when an auditor's account is bound to a patient", async () => {
    const auditor = account("auditor", null);
    const request = await loggedIn(auditor);
    rebind(auditor, "patient", "MRN-101");
    expect(await next(request)).toMatch(/^refused 503/);
  });

  it("is not fooled by failed logins recorded first, nor by a later login under the new binding", async () => {
    const patient = account("patient", "MRN-100");
    for (let i = 0; i < 40; i++) await auditFailedLogin(ctx, patient.username, patient);
    const request = await loggedIn(patient);
    rebind(patient, "patient", "MRN-101");
    // The intruder logs in as the rebound account: its login is recorded under MRN-101.
    const rebound = { ...patient, patientId: "MRN-101" };
    await auditLogin(ctx, rebound);
    expect(await next(request)).toMatch(/^refused 503/);
    expect(await accountBindingFinding({ ...ctx }, rebound)).toMatchObject({
      target: "user",
      ref: patient.id,
    });
  });

  it("leaves accounts as they are bound alone, and costs no read once known", async () => {
    const patient = account("patient", "MRN-100");
    const request = await loggedIn(patient);
    expect(await next(request)).toBe("MRN-100");
    const prepare = vi.spyOn(ctx.conn.sqlite, "prepare");
    expect(await accountBindingFinding(ctx, patient)).toBeNull();
    expect(prepare.mock.calls.some(([text]) => String(text).includes("actor_index"))).toBe(false);
    prepare.mockRestore();
  });
});
