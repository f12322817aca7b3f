// An intruder who holds the keys re-seals and re-signs a patient's notice settings with their own
// address, naming the same trail record and keeping the choices. The settings record on the
// trail binds the confirmed address (a keyed fingerprint of it), so no notice goes there.
import type { ParsedMail } from "mailparser";
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { alertTexts, openMailbox, type Mailbox } from "../../tests/mailbox";
import { sampleRecord } from "../../tests/trail";
import { storedAccount } from "../../tests/users";
import { openDatabase } from "../../db/connection";
import { loadOrCreateKeys } from "../keys.server";
import { getNoticeSettings, saveNoticeSettings } from "../models/notice-settings.server";
import type { User } from "../models/user.server";
import { appendRecords } from "../trail/append.server";
import { SELF_SOURCE } from "../trail/self-source";
import { confirmAddress, requestAddress } from "./notice-settings.server";
import { NOTICE_SUBJECT, runNoticeRound } from "./notices.server";
import { NOTICE_ACTION, NOTICES_TABLE } from "./own-actions";

const MRN = "MRN-NOTICE-9";
const ADDRESS = "alice@example.test";
const INTRUDER = "intruder@evil.test";

let mailbox: Mailbox;
let ctx: TestContext;
let alice: User;
beforeEach(async () => {
  mailbox = await openMailbox();
  ctx = makeTestContext(mailbox.env);
  alice = storedAccount(ctx, "patient", MRN);
  await access("dr-known");
  expect(await requestAddress(ctx, alice, ADDRESS, "https://trail.example")).toEqual({ ok: true });
  const [confirmation] = await mailbox.received(1);
  const token = /\/notices\/confirm\?token=([\w-]+)/.exec(confirmation!.text ?? "")![1]!;
  expect(await confirmAddress(ctx, token)).toEqual({ ok: true });
  mailbox.mails.length = 0;
});
afterEach(() => mailbox.close());

const access = (actorId: string) =>
  appendRecords(ctx, [{ ...sampleRecord(1, MRN), actorId, actorName: `Dr. ${actorId}` }]);
const to = (m: ParsedMail) => (Array.isArray(m.to) ? m.to[0] : m.to)?.text ?? "";
const sentTo = () => mailbox.mails.filter((m) => m.subject === NOTICE_SUBJECT).map(to);
const alerts = () => alertTexts(mailbox);

/** The server's own code, run by the intruder on a connection of their own with the stolen keys. */
function asIntruder(act: (intruder: TestContext) => void) {
  const conn = openDatabase(ctx.config.DATABASE_PATH);
  try {
    const { keys } = loadOrCreateKeys(ctx.config.KEYS_DIR, ctx.config.TRAIL_ORIGIN);
    act({ ...ctx, keys, conn });
  } finally {
    conn.sqlite.close();
  }
}

test("an address swapped with the stolen keys gets no notice, and the admins are told", async () => {
  asIntruder((intruder) => {
    const settings = getNoticeSettings(intruder, alice.id, MRN)!;
    expect(settings.email).toBe(ADDRESS);
    saveNoticeSettings(intruder, { ...settings, email: INTRUDER });
  });
  await access("dr-stranger");
  await runNoticeRound(ctx);
  await vi.waitFor(() => expect(alerts()).toContain(`notice ${alice.id}`));
  expect(sentTo()).not.toContain(INTRUDER);
});

test("settings recorded before records named the address still send their notices", async () => {
  // As an earlier version recorded a confirmation: the choices in words, no address.
  const { records } = await appendRecords(ctx, [
    {
      patientId: MRN,
      actorId: alice.id,
      actorName: alice.name,
      action: NOTICE_ACTION.settings,
      tableAffected: NOTICES_TABLE,
      occurredAt: ctx.now(),
      notes:
        "Notices by e-mail: an actor or organisation new to your record, and every emergency access",
      sourceId: SELF_SOURCE,
    },
  ]);
  const settings = getNoticeSettings(ctx, alice.id, MRN)!;
  saveNoticeSettings(ctx, { ...settings, trailLogId: records[0]!.logId });
  await access("dr-stranger");
  expect(await runNoticeRound(ctx)).toEqual({ sent: 1 });
  expect(sentTo()).toEqual([ADDRESS]);
  expect(alerts()).toBe("");
});
