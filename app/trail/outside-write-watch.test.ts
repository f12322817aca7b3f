import { afterEach, beforeEach, expect, test } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { openMailbox, type Mailbox } from "../../tests/mailbox";
import { intrude, sampleRecord, seedTrail } from "../../tests/trail";
import { appendRecords } from "./append.server";
import { ensureTrailIntact } from "./guard.server";
import { needsFullVerification, states } from "./guard-state.server";
import { startOutsideWriteWatch, WATCH_TRIGGER } from "./outside-write-watch.server";

// Nobody needs to look for a change to be caught: the server verifies in full soon after another
// process wrote, and an intruder's edit reaches the admins' inbox with no view at all.

const FAST = { everyMs: 20, quietMs: 60, maxDelayMs: 2_000 };

let mailbox: Mailbox;
let ctx: TestContext;
let stop: (() => Promise<void>) | null = null;
beforeEach(async () => {
  mailbox = await openMailbox();
  ctx = makeTestContext(mailbox.env);
});
afterEach(async () => {
  await stop?.();
  stop = null;
  await mailbox.close();
});

const until = async (what: () => boolean) => {
  for (let waited = 0; !what(); waited += 20) {
    if (waited > 10_000) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

test("an edited record is reported to the admins with no view, naming the row", async () => {
  const logIds = await seedTrail(ctx, 12);
  expect((await ensureTrailIntact(ctx)).ok).toBe(true);
  stop = startOutsideWriteWatch(ctx, FAST);
  intrude(ctx, (db) =>
    db.prepare("UPDATE audit_records SET occurred_at = occurred_at + 1 WHERE seq = 5").run(),
  );
  const [mail] = await mailbox.received(1);
  expect(mail!.subject).toMatch(/integrity/i);
  expect(mail!.text).toContain(logIds[4]!);
  expect(mail!.text).toContain(WATCH_TRIGGER);
  expect(states.get(ctx)!.findings).toEqual([
    expect.objectContaining({ kind: "modified", target: "record", seq: 5 }),
  ]);
});

test("another process's appends are verified before anyone views, and raise nothing", async () => {
  await seedTrail(ctx, 4);
  expect((await ensureTrailIntact(ctx)).ok).toBe(true);
  stop = startOutsideWriteWatch(ctx, FAST);
  const other = makeTestContext({
    DATABASE_PATH: ctx.config.DATABASE_PATH,
    TRAIL_HEAD_PATH: ctx.config.TRAIL_HEAD_PATH,
  });
  await appendRecords(other, [sampleRecord(20), sampleRecord(21)]);
  expect(needsFullVerification(ctx, states.get(ctx))).toBe(true);
  await until(() => !needsFullVerification(ctx, states.get(ctx)));
  expect(states.get(ctx)!).toMatchObject({ findings: [], records: 6 });
  expect(mailbox.mails).toEqual([]);
});
