import type { ParsedMail } from "mailparser";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { CLI_TIMEOUT, runCli } from "../../tests/cli";
import { openMailbox, type Mailbox } from "../../tests/mailbox";
import { intrude, sampleRecord } from "../../tests/trail";
import { insertUser, type User } from "../models/user.server";
import { appendRecords } from "../trail/append.server";
import { ensureTrailIntact } from "../trail/guard.server";
import { resetTrust } from "../trail/trust-reset.server";
import { ALERT_SUBJECT } from "../trail/alerts.server";
import {
  confirmAddress,
  requestAddress,
  setChoices,
  turnOffNotices,
} from "./notice-settings.server";
import { loadNoticeSettings } from "./notice-state.server";
import { isEmergencyAccess, NOTICE_SUBJECT, runNoticeRound } from "./notices.server";
import { viewTrail } from "./trail-view.server";

let mailbox: Mailbox;
beforeEach(async () => {
  mailbox = await openMailbox();
});
afterEach(() => mailbox.close());

const ADDRESS = "alice@example.test";
const MRN = "MRN-NOTICE-1";

const to = (m: ParsedMail) => (Array.isArray(m.to) ? m.to[0] : m.to)?.text ?? "";
const notices = () => mailbox.mails.filter((m) => m.subject === NOTICE_SUBJECT);
const alerts = () => mailbox.mails.filter((m) => m.subject?.startsWith(ALERT_SUBJECT));

/** An access to Alice's record by `actorId` from `sourceId`. */
const access = (
  ctx: TestContext,
  actorId: string,
  extra: { notes?: string; sourceId?: string; purpose?: string } = {},
) =>
  appendRecords(ctx, [{ ...sampleRecord(1, MRN), actorId, actorName: `Dr. ${actorId}`, ...extra }]);

/** A patient account for MRN; notices never need its login. */
const patient = (ctx: TestContext, name: string, username: string) =>
  insertUser(ctx, {
    name,
    username,
    role: "patient",
    patientId: MRN,
    credential: { scheme: "argon2", hash: "not used here" },
  });

/** Alice, a patient whose record dr-known has already opened, with notices confirmed at ADDRESS. */
async function subscribed(): Promise<{ ctx: TestContext; alice: User }> {
  const ctx = makeTestContext(mailbox.env);
  const alice = patient(ctx, "Alice Example", "alice-notices");
  await access(ctx, "dr-known");
  expect(await requestAddress(ctx, alice, ` ${ADDRESS} `, "https://trail.example")).toEqual({
    ok: true,
  });
  const [confirmation] = await mailbox.received(1);
  expect(to(confirmation!)).toBe(ADDRESS);
  const token = /\/notices\/confirm\?token=([\w-]+)/.exec(confirmation!.text ?? "")![1]!;
  expect(await confirmAddress(ctx, token)).toEqual({ ok: true });
  mailbox.mails.length = 0;
  return { ctx, alice };
}

describe("notice settings", () => {
  test("an address is used only once confirmed, by a single-use link; the token is stored only as an HMAC", async () => {
    const ctx = makeTestContext(mailbox.env);
    const alice = patient(ctx, "Alice", "alice-confirm");
    await requestAddress(ctx, alice, ADDRESS, "https://trail.example");
    const [mail] = await mailbox.received(1);
    const token = /token=([\w-]+)/.exec(mail!.text ?? "")![1]!;
    const stored = intrude(ctx, (db) => db.prepare("SELECT * FROM notice_settings").all());
    expect(JSON.stringify(stored)).not.toContain(token);
    expect(JSON.stringify(stored)).not.toContain("alice@");

    await access(ctx, "dr-new");
    expect(await runNoticeRound(ctx)).toEqual({ sent: 0 });
    expect(await confirmAddress(ctx, token)).toEqual({ ok: true });
    expect(await confirmAddress(ctx, token)).toMatchObject({ ok: false, status: 400 });
    expect(await confirmAddress(ctx, "forged-token-forged-token")).toMatchObject({ status: 400 });
    const page = await loadNoticeSettings(ctx, alice);
    expect(page.ok && page.settings?.email).toBe(ADDRESS);

    // A link is good for a day.
    await requestAddress(ctx, alice, "new@example.test", "https://trail.example");
    const [, second] = await mailbox.received(2);
    ctx.clock.now += 25 * 3_600_000;
    const late = /token=([\w-]+)/.exec(second!.text ?? "")![1]!;
    expect(await confirmAddress(ctx, late)).toMatchObject({ ok: false, status: 400 });
    const after = await loadNoticeSettings(ctx, alice);
    expect(after.ok && after.settings?.email).toBe(ADDRESS);
  });

  test("a bad address is refused clearly and nothing is mailed", async () => {
    const ctx = makeTestContext(mailbox.env);
    const alice = patient(ctx, "Alice", "alice-bad");
    expect(await requestAddress(ctx, alice, "not an address", "https://x")).toMatchObject({
      status: 400,
      error: "Enter a valid e-mail address.",
    });
    expect(mailbox.mails).toHaveLength(0);
  });
});

describe("notices of new accesses", () => {
  test("a new actor is noticed by e-mail, without PHI; a known actor is not", async () => {
    const { ctx } = await subscribed();
    await access(ctx, "dr-known");
    expect(await runNoticeRound(ctx)).toEqual({ sent: 0 });

    await access(ctx, "dr-stranger");
    expect(await runNoticeRound(ctx)).toEqual({ sent: 1 });
    const [notice] = notices();
    expect(to(notice!)).toBe(ADDRESS);
    expect(notice!.text).toContain("There is a new access to your record. Log in to see it.");
    expect(notice!.text).not.toMatch(/stranger|MRN|Alice|medications|lab_results/);
    expect(await runNoticeRound(ctx)).toEqual({ sent: 0 });
  });

  test("a new organisation is noticed even for a known actor id", async () => {
    const { ctx } = await subscribed();
    await access(ctx, "dr-known", { sourceId: "other-hospital" });
    expect(await runNoticeRound(ctx)).toEqual({ sent: 1 });
  });

  test("every emergency access is noticed when chosen, also by a known actor", async () => {
    const { ctx, alice } = await subscribed();
    expect(await setChoices(ctx, alice, { newActors: false, emergency: true })).toEqual({
      ok: true,
    });
    await access(ctx, "dr-stranger");
    expect(await runNoticeRound(ctx)).toEqual({ sent: 0 });
    // Words in the notes are not a purpose of use.
    await access(ctx, "dr-known", { notes: "break the glass", purpose: "TREAT" });
    expect(await runNoticeRound(ctx)).toEqual({ sent: 0 });
    await access(ctx, "dr-known", { purpose: "BTG" });
    expect(await runNoticeRound(ctx)).toEqual({ sent: 1 });
    expect(notices()).toHaveLength(1);
    expect(isEmergencyAccess({ purpose: "ETREAT" })).toBe(true);
    expect(isEmergencyAccess({ purpose: null })).toBe(false);
  });

  test("at most one message an hour, the accesses meanwhile batched into the next", async () => {
    const { ctx } = await subscribed();
    await access(ctx, "dr-a");
    expect(await runNoticeRound(ctx)).toEqual({ sent: 1 });
    await access(ctx, "dr-b");
    await access(ctx, "dr-c");
    ctx.clock.now += 59 * 60_000;
    expect(await runNoticeRound(ctx)).toEqual({ sent: 0 });
    ctx.clock.now += 2 * 60_000;
    expect(await runNoticeRound(ctx)).toEqual({ sent: 1 });
    ctx.clock.now += 2 * 3_600_000;
    expect(await runNoticeRound(ctx)).toEqual({ sent: 0 });
    expect(notices()).toHaveLength(2);
  });

  test("a failed send is tried again at the next round, and the log names no address", async () => {
    const { ctx } = await subscribed();
    await access(ctx, "dr-stranger");
    const port = Number(new URL(mailbox.env.SMTP_URL!).port);
    await mailbox.close();
    const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      expect(await runNoticeRound(ctx)).toEqual({ sent: 0 });
      expect(error).toHaveBeenCalledTimes(1);
      expect(String(error.mock.calls[0]![0])).toContain("Could not send a notice of new access");
      expect(String(error.mock.calls[0]![0])).not.toContain("alice");
    } finally {
      error.mockRestore();
    }
    mailbox = await openMailbox(port);
    expect(await runNoticeRound(ctx)).toEqual({ sent: 1 });
    expect(notices()).toHaveLength(1);
  });

  test("the patient's own use, the notices themselves and notices off send nothing", async () => {
    const { ctx, alice } = await subscribed();
    await viewTrail(ctx, alice);
    expect(await runNoticeRound(ctx)).toEqual({ sent: 0 });
    expect(await turnOffNotices(ctx, alice)).toEqual({ ok: true });
    await access(ctx, "dr-stranger");
    expect(await runNoticeRound(ctx)).toEqual({ sent: 0 });
    const view = await viewTrail(ctx, alice);
    expect(view.ok && view.records.map((r) => r.notes)).toContain("Notices by e-mail: off");
  });
});

describe("attacks on notice state", () => {
  async function alertAfterRound(ctx: TestContext) {
    expect(await runNoticeRound(ctx)).toEqual({ sent: 0 });
    const [alert] = await vi.waitFor(() => {
      expect(alerts()).toHaveLength(1);
      return alerts();
    });
    expect(notices()).toHaveLength(0);
    return alert!.text ?? "";
  }

  test("a deleted settings row does not silence notices unseen: the admins are told which account", async () => {
    const { ctx, alice } = await subscribed();
    intrude(ctx, (db) => db.prepare("DELETE FROM notice_settings").run());
    await access(ctx, "dr-stranger");
    const text = await alertAfterRound(ctx);
    expect(text).toContain(`notice ${alice.id}`);
    expect(text).toContain("the notice settings row named by the trail is gone");
    expect(await loadNoticeSettings(ctx, alice)).toEqual({ ok: false, reason: "tampered" });
    // The patient starts again from settings the trail vouches for; nothing more is reported.
    expect(await turnOffNotices(ctx, alice)).toEqual({ ok: true });
    expect(await loadNoticeSettings(ctx, alice)).toMatchObject({
      ok: true,
      settings: { email: null },
    });
    expect(await runNoticeRound(ctx)).toEqual({ sent: 0 });
    expect(alerts()).toHaveLength(1);
  });

  test("an edited settings row (notices for new actors switched off) fails its signature", async () => {
    const { ctx, alice } = await subscribed();
    await access(ctx, "dr-stranger");
    intrude(ctx, (db) => db.prepare("UPDATE notice_settings SET new_actors = 0").run());
    const text = await alertAfterRound(ctx);
    expect(text).toContain(
      `notice ${alice.id}: the notice settings row was changed after it was signed`,
    );
    // Like every signed row, it is a finding of the full pass until the operator resets trust,
    // which removes it; the trail still says notices were on, so the round says it is missing.
    const status = await ensureTrailIntact(ctx, { viewerId: null });
    expect(!status.ok && status.findings).toContainEqual(
      expect.objectContaining({ target: "notice", ref: alice.id, kind: "modified" }),
    );
    const reset = await resetTrust(ctx, "restored notice settings", "ops");
    expect(reset.ok && reset.removed).toEqual([`notice settings ${alice.id}`]);
    mailbox.mails.length = 0;
    await runNoticeRound(ctx);
    await vi.waitFor(() =>
      expect(
        alerts()
          .map((m) => m.text)
          .join(""),
      ).toContain("the notice settings row named by the trail is gone"),
    );
  });

  test(
    "verify names an edited settings row offline, with the public key",
    async () => {
      const { ctx, alice } = await subscribed();
      intrude(ctx, (db) => db.prepare("UPDATE notice_settings SET emergency = 0").run());
      const { DATABASE_PATH, KEYS_DIR, TRAIL_HEAD_PATH, OUTBOX_DIR } = ctx.config;
      const r = runCli(["verify"], { DATABASE_PATH, KEYS_DIR, TRAIL_HEAD_PATH, OUTBOX_DIR });
      expect(r.status).toBe(1);
      expect(r.stdout).toContain(
        `notice ${alice.id}: the notice settings row was changed after it was signed`,
      );
    },
    CLI_TIMEOUT,
  );

  test("an older signed copy of the row put back is caught against the trail", async () => {
    const { ctx, alice } = await subscribed();
    const before = intrude(ctx, (db) => db.prepare("SELECT * FROM notice_settings").get());
    expect(await turnOffNotices(ctx, alice)).toEqual({ ok: true });
    // The intruder wants to keep the old address in use: the row of before notices were off.
    intrude(ctx, (db) => {
      db.prepare("DELETE FROM notice_settings").run();
      const row = before as Record<string, unknown>;
      const cols = Object.keys(row);
      db.prepare(
        `INSERT INTO notice_settings (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`,
      ).run(...cols.map((c) => row[c]));
    });
    await access(ctx, "dr-stranger");
    const text = await alertAfterRound(ctx);
    expect(text).toContain("is not the one the trail's newest settings record names");
  });

  test("a notice record edited to say more was told is caught by the trail", async () => {
    const { ctx } = await subscribed();
    await access(ctx, "dr-a");
    await runNoticeRound(ctx);
    ctx.clock.now += 2 * 3_600_000;
    await access(ctx, "dr-b");
    intrude(ctx, (db) =>
      db
        .prepare(
          "UPDATE audit_records SET notes_enc = (SELECT notes_enc FROM audit_records WHERE seq = 1) WHERE seq = (SELECT max(seq) - 1 FROM audit_records)",
        )
        .run(),
    );
    expect(await runNoticeRound(ctx)).toEqual({ sent: 0 });
    await vi.waitFor(() => expect(alerts()).toHaveLength(1));
  });
});
