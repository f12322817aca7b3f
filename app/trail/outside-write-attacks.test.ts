import Database from "better-sqlite3";
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { startWalCheckpointer, type WalCheckpointer } from "../../db/wal-checkpointer";
import { makeTestContext, type TestContext } from "../../tests/context";
import { intrude, seedTrail } from "../../tests/trail";
import { ensureTrailIntact } from "./guard.server";
import { needsFullVerification, states } from "./guard-state.server";
import { startOutsideWriteWatch } from "./outside-write-watch.server";

// The WAL checkpointer must not hide another process's write from the guard, whatever the
// intruder does with the log around it, and the watch must report the edit with nobody viewing.

const FAST = { everyMs: 20, quietMs: 60, maxDelayMs: 2_000, fullEveryMs: 600_000 };

let ctx: TestContext;
let checkpointer: WalCheckpointer | null = null;
let stop: (() => Promise<void>) | null = null;
let warn: ReturnType<typeof vi.spyOn>;
beforeEach(async () => {
  warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
  ctx = makeTestContext();
  await seedTrail(ctx, 12);
  expect((await ensureTrailIntact(ctx, { viewerId: null })).ok).toBe(true);
  checkpointer = startWalCheckpointer(ctx.conn, 60_000);
});
afterEach(async () => {
  await stop?.();
  stop = null;
  await checkpointer?.stop();
  checkpointer = null;
  warn.mockRestore();
});

const until = async (what: () => boolean) => {
  for (let waited = 0; !what(); waited += 20) {
    if (waited > 10_000) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

const edit = (db: Database.Database) =>
  db.prepare("UPDATE audit_records SET occurred_at = occurred_at + 1 WHERE seq = 5").run();

test.each([
  ["checkpointed by the server's thread", async () => void (await checkpointer!.checkpoint())],
  [
    "checkpointed and truncated by the intruder",
    async () => void intrude(ctx, (db) => db.pragma("wal_checkpoint(TRUNCATE)")),
  ],
  [
    "checkpointed by the intruder, then the log restarted by a no-op write",
    async () =>
      void intrude(ctx, (db) => {
        db.pragma("wal_checkpoint(RESTART)");
        db.prepare("DELETE FROM append_lease WHERE 0").run();
        db.exec("BEGIN IMMEDIATE; COMMIT");
      }),
  ],
])("an edit %s is still seen by the guard", async (_, after) => {
  intrude(ctx, edit);
  await after();
  // The server's thread checkpoints once more, as every second.
  await checkpointer!.checkpoint();
  expect(needsFullVerification(ctx, states.get(ctx))).toBe(true);
  const status = await ensureTrailIntact(ctx, { viewerId: null });
  expect(!status.ok && status.findings).toEqual([
    expect.objectContaining({ kind: "modified", target: "record", seq: 5 }),
  ]);
});

test("an edit made with journal_mode changed by the intruder is still seen", async () => {
  // The server holds the file open in WAL mode: the intruder cannot leave it, and its edit is a
  // WAL write like any other.
  intrude(ctx, (db) => {
    try {
      db.pragma("journal_mode = DELETE");
    } catch {
      // refused while others have the file open
    }
    edit(db);
  });
  await checkpointer!.checkpoint();
  expect(needsFullVerification(ctx, states.get(ctx))).toBe(true);
  expect((await ensureTrailIntact(ctx, { viewerId: null })).ok).toBe(false);
});

test("an edit undone before the watch looks, but after its first look, is still verified", async () => {
  stop = startOutsideWriteWatch(ctx, FAST);
  const original = ctx.conn.sqlite
    .prepare("SELECT occurred_at FROM audit_records WHERE seq = 5")
    .pluck()
    .get() as number;
  intrude(ctx, edit);
  await new Promise((resolve) => setTimeout(resolve, 30));
  intrude(ctx, (db) =>
    db.prepare("UPDATE audit_records SET occurred_at = ? WHERE seq = 5").run(original),
  );
  await checkpointer!.checkpoint();
  // The file changed: the watch runs a full pass, whose verdict is then remembered.
  await until(() => !needsFullVerification(ctx, states.get(ctx)));
  expect(states.get(ctx)!.findings).toEqual([]);
});

test("an edit after the watch settled is reported by its next pass", async () => {
  stop = startOutsideWriteWatch(ctx, FAST);
  // A harmless write by another process starts the watch's pass.
  intrude(ctx, (db) => db.prepare("DELETE FROM append_lease").run());
  await until(() => !needsFullVerification(ctx, states.get(ctx)));
  intrude(ctx, edit);
  await checkpointer!.checkpoint();
  await until(() => states.get(ctx)!.findings.length > 0);
  expect(states.get(ctx)!.findings).toEqual([
    expect.objectContaining({ kind: "modified", target: "record", seq: 5 }),
  ]);
});
