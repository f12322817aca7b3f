import fs from "node:fs";
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { openMailbox, type Mailbox } from "../../tests/mailbox";
import { intrude, sampleRecord, seedTrail } from "../../tests/trail";
import { appendRecords } from "./append.server";
import { ensureTrailIntact } from "./guard.server";
import { needsFullVerification, states } from "./guard-state.server";
import { patient } from "../../tests/users";
import { blindIndex } from "../crypto/hashing.server";
import { viewTrail } from "../services/trail-view.server";
import {
  PERIODIC_TRIGGER,
  startOutsideWriteWatch,
  WATCH_TRIGGER,
} from "./outside-write-watch.server";

// Nobody needs to look for a change to be caught: the server verifies in full soon after another
// process wrote, and an intruder's edit reaches the admins' inbox with no view at all.

const FAST = { everyMs: 20, quietMs: 60, maxDelayMs: 2_000, fullEveryMs: 200 };

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

test("bytes written into the file beside SQLite are caught by the pass at a fixed interval", async () => {
  await seedTrail(ctx, 12);
  const alice = patient("MRN-100");
  const before = await viewTrail(ctx, alice);
  expect(before.ok && before.records.length).toBeGreaterThan(0);
  ctx.conn.sqlite.pragma("wal_checkpoint(TRUNCATE)");
  // The intruder rewrites MRN-100's blind index in place, in the rows and in their index,
  // straight into the file: no commit, so nothing the watch looks at moves.
  const index = blindIndex(ctx.keys.blindIndexKey, "patient_id", "MRN-100");
  const other = Buffer.from(index);
  other[0]! ^= 0xff;
  const file = fs.readFileSync(ctx.config.DATABASE_PATH);
  let patched = 0;
  for (let at = file.indexOf(index); at !== -1; at = file.indexOf(index, at + 1), patched++) {
    other.copy(file, at);
  }
  expect(patched).toBeGreaterThan(0);
  fs.writeFileSync(ctx.config.DATABASE_PATH, file);
  expect(needsFullVerification(ctx, states.get(ctx))).toBe(false);

  stop = startOutsideWriteWatch(ctx, { ...FAST, fullEveryMs: 200 });
  const [mail] = await mailbox.received(1);
  expect(mail!.text).toContain(PERIODIC_TRIGGER);
  expect(states.get(ctx)!.findings).toContainEqual(
    expect.objectContaining({ target: "record", seq: before.ok ? before.records[0]!.seq : -1 }),
  );
  const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
  expect((await viewTrail(ctx, alice)).ok).toBe(false);
  warn.mockRestore();
});
