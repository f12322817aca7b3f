import fs from "node:fs";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { makeTestContext } from "../tests/context";
import { seedTrail } from "../tests/trail";
import { ensureTrailIntact } from "../app/trail/guard.server";
import { dataVersionOf } from "../app/trail/guard-state.server";
import { startWalCheckpointer } from "./wal-checkpointer";

// The server's commits never copy the write-ahead log back themselves; a thread of its own does,
// without looking to the guard like another process's write.

const walFrames = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    // A read-only look: the log's size in frames, from its file (32-byte header, 24 + page each).
    return (
      (fs.statSync(`${file}-wal`).size - 32) /
      (24 + (db.pragma("page_size", { simple: true }) as number))
    );
  } finally {
    db.close();
  }
};

describe("WAL checkpointer", () => {
  it("keeps checkpoints out of the server's commits and copies the log back on its own thread", async () => {
    const ctx = makeTestContext();
    const checkpointer = startWalCheckpointer(ctx.conn, 60_000);
    try {
      // SQLite's own checkpoints, inside commits, are off while the thread runs.
      expect(ctx.conn.sqlite.pragma("wal_autocheckpoint", { simple: true })).toBe(0);
      await seedTrail(ctx, 200, 100);
      const frames = walFrames(ctx.config.DATABASE_PATH);
      const done = await checkpointer.checkpoint();
      expect(done.log).toBe(frames);
      expect(done.checkpointed).toBe(done.log);
      // The next commit starts the log from its beginning: it does not grow any more.
      await seedTrail(ctx, 8, 4);
      expect(walFrames(ctx.config.DATABASE_PATH)).toBe(frames);
      const restarted = await checkpointer.checkpoint();
      expect(restarted.log).toBeLessThan(frames);
      expect((await ensureTrailIntact(ctx, { viewerId: null, force: true })).ok).toBe(true);
    } finally {
      await checkpointer.stop();
    }
    expect(ctx.conn.sqlite.pragma("wal_autocheckpoint", { simple: true })).toBe(1000);
  });

  it("changes nothing the guard reads as another process's write, which a real one does", async () => {
    const ctx = makeTestContext();
    const checkpointer = startWalCheckpointer(ctx.conn, 60_000);
    try {
      await seedTrail(ctx, 40, 10);
      const before = dataVersionOf(ctx);
      expect((await checkpointer.checkpoint()).checkpointed).toBeGreaterThan(0);
      expect(dataVersionOf(ctx)).toBe(before);
      // The control: a write by another connection is seen.
      const other = new Database(ctx.config.DATABASE_PATH);
      other.prepare("DELETE FROM append_lease").run();
      other.close();
      expect(dataVersionOf(ctx)).not.toBe(before);
    } finally {
      await checkpointer.stop();
    }
  });
});
