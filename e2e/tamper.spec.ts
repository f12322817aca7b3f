import Database from "better-sqlite3";
import type { ParsedMail } from "mailparser";
import { openMailbox, type Mailbox } from "../tests/mailbox";
import { expect, test } from "@playwright/test";
import { TAMPER_ENV, TAMPER_PORT, TAMPER_SMTP_PORT } from "./env";
import {
  cliAsync,
  event,
  inviteCode,
  login,
  newPatient,
  postEvents,
  register,
  shownLogIds,
} from "./support";

// These tests attack the database of their own server, so the others never see the damage.
test.use({ baseURL: `http://127.0.0.1:${TAMPER_PORT}` });
test.describe.configure({ mode: "serial" });

let mailbox: Mailbox;
let mails: ParsedMail[];

test.beforeAll(async () => {
  mailbox = await openMailbox(TAMPER_SMTP_PORT);
  mails = mailbox.mails;
});

test.afterAll(() => mailbox.close());

test("a session row moved to an auditor opens nothing; trust reset removes it", async ({
  page,
}) => {
  const since = Date.now();
  const alice = await newPatient(page, undefined, TAMPER_ENV);
  await register(page, { role: "auditor", code: inviteCode("auditor", undefined, TAMPER_ENV) });
  await login(page, alice);
  await expect(page.getByRole("heading", { name: /Welcome/ })).toBeVisible();
  expect((await page.goto("/dashboard"))!.status()).toBe(404);

  // The intruder points Alice's session row at the auditor's account, through SQLite.
  const db = new Database(TAMPER_ENV.DATABASE_PATH);
  const [aliceId, auditorId] = db
    .prepare("SELECT id FROM users WHERE created_at >= ? ORDER BY created_at")
    .pluck()
    .all(since) as string[];
  const moved = db
    .prepare("UPDATE sessions SET user_id = ?, data = ? WHERE user_id = ?")
    .run(auditorId, JSON.stringify({ userId: auditorId }), aliceId).changes;
  db.close();
  expect(moved).toBe(1);

  const dashboard = await page.goto("/dashboard");
  expect(dashboard!.status()).toBe(503);
  await expect(page.getByText("Data integrity compromised")).toBeVisible();
  await expect(page.getByRole("heading", { name: "Dashboard" })).toHaveCount(0);
  await expect.poll(() => mails.length, { timeout: 10_000 }).toBe(1);
  expect(mails[0]!.text).toMatch(/Modified \(1\):\n {2}- session [0-9a-f]{16}: the session row/);

  // The operator removes the forged row on purpose; the reset is recorded and announced.
  const out = await cliAsync(
    TAMPER_ENV,
    "trust",
    "reset",
    "--reason",
    "removing a forged session row",
  );
  expect(out).toMatch(/removed session [0-9a-f]{16}: it failed its check/);
  await expect.poll(() => mails.length, { timeout: 10_000 }).toBe(2);
  expect(mails[1]!.text).toContain("Reason: removing a forged session row");
  await login(page, alice);
  await expect(page.getByRole("heading", { name: /Welcome/ })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Data integrity compromised" })).toHaveCount(0);
  mails.length = 0;
});

test("editing one record in the file withholds every view and mails the admins once", async ({
  page,
  request,
}) => {
  const alice = await newPatient(page, undefined, TAMPER_ENV);
  const bob = await newPatient(page, undefined, TAMPER_ENV);
  const auditor = await register(page, {
    role: "auditor",
    code: inviteCode("auditor", undefined, TAMPER_ENV),
  });
  const aliceIds = await postEvents(
    request,
    [event(alice.patientId), event(alice.patientId, { action: "update" })],
    TAMPER_ENV,
  );
  await postEvents(request, [event(bob.patientId)], TAMPER_ENV);

  await login(page, alice);
  expect(await shownLogIds(page)).toEqual(expect.arrayContaining(aliceIds));
  expect(mails).toHaveLength(0);

  // The intruder flips one byte of one of Alice's records, through SQLite, as the sqlite3 shell would.
  const target = aliceIds[1]!;
  const db = new Database(TAMPER_ENV.DATABASE_PATH);
  const row = db
    .prepare("SELECT seq, notes_enc FROM audit_records WHERE log_id = ?")
    .get(target) as {
    seq: number;
    notes_enc: Buffer;
  };
  row.notes_enc[20]! ^= 0xff;
  db.prepare("UPDATE audit_records SET notes_enc = ? WHERE log_id = ?").run(row.notes_enc, target);
  db.close();

  await login(page, bob);
  await expect(page.getByRole("heading", { name: "Data integrity compromised" })).toBeVisible();
  await expect(page.locator("tbody tr")).toHaveCount(0);
  await expect.poll(() => mails.length, { timeout: 10_000 }).toBe(1);
  const mail = mails[0]!;
  expect(mail.subject).toContain("Data integrity compromised");
  expect(mail.to && "text" in mail.to ? mail.to.text : "").toContain("security@hospital.test");
  expect(mail.text).toContain(`seq ${row.seq}, log id ${target}`);
  expect(mail.text).toMatch(/Modified \(1\):/);
  // No PHI: neither patient's ID, nor the actor or notes of the records.
  for (const phi of [alice.patientId, bob.patientId, "Dr. Test Clinician", "e2e access"]) {
    expect(mail.text).not.toContain(phi);
  }

  // The auditor and Alice see nothing either, and no second mail goes out for the same incident.
  await login(page, auditor, true);
  await expect(page.getByRole("heading", { name: "Data integrity compromised" })).toBeVisible();
  await expect(page.locator("tbody tr")).toHaveCount(0);
  await login(page, alice);
  await expect(page.getByRole("heading", { name: "Data integrity compromised" })).toBeVisible();
  await page.waitForTimeout(1500);
  expect(mails).toHaveLength(1);

  // The API refuses appends on top of a tampered trail.
  const refused = await request.post("/api/audit-events", {
    headers: { Authorization: "Bearer ehrat_nope" },
    data: event(alice.patientId),
  });
  expect(refused.status()).toBe(401);
});
