import { describe, expect, it } from "vitest";
import type { TestContext } from "../../tests/context";
import { copyOfSeededTrail, intrude } from "../../tests/trail";
import { CHUNK_ROWS, leafChunksInThread, startLeafWorkers } from "./leaf-chunks.server";
import { verifyTrail, verifyTrailAsync } from "./verify.server";

// The full pass may read and hash the rows on worker threads. They must see exactly what the
// verifying thread sees, and a table they do not reproduce is read again in that thread, which
// names what changed: every finding is the same either way.

const RECORDS = CHUNK_ROWS * 2 + 37;

const trail = () => copyOfSeededTrail(RECORDS, 500);

const options = (ctx: TestContext) => ({
  origin: ctx.config.TRAIL_ORIGIN,
  head: { state: "not_checked" as const },
});

async function workerChunks(ctx: TestContext, threads: number) {
  const workers = startLeafWorkers(ctx.config.DATABASE_PATH, threads);
  try {
    const reading = workers.read(RECORDS);
    await reading.snapshots;
    return await Promise.all([...reading.chunks]);
  } finally {
    await workers.close();
  }
}

describe("the full pass on worker threads", () => {
  it("reads the same chunks as the verifying thread, and the same report follows", async () => {
    const ctx = await trail();
    const inThread = [...leafChunksInThread(ctx.conn.sqlite)];
    const inWorkers = await workerChunks(ctx, 2);
    expect(inWorkers.map((c) => c.seqs.length)).toEqual([CHUNK_ROWS, CHUNK_ROWS, 37]);
    expect(inWorkers).toEqual(inThread);
    const progress: number[] = [];
    const report = await verifyTrailAsync(ctx.conn.sqlite, ctx.keys.trustedPublicKeys, {
      ...options(ctx),
      leafThreads: 2,
      onProgress: (done) => progress.push(done),
    });
    expect(report).toEqual(verifyTrail(ctx.conn.sqlite, ctx.keys.trustedPublicKeys, options(ctx)));
    expect(report).toMatchObject({ ok: true, records: RECORDS, findings: [] });
    // Read once, by the workers: no second reading in this thread.
    expect(progress).toEqual([CHUNK_ROWS, CHUNK_ROWS * 2, RECORDS]);
  });

  it("reports a row re-typed in place, which keeps its bytes, in the worker's chunk", async () => {
    const ctx = await trail();
    intrude(ctx, (db) =>
      db
        .prepare(
          "UPDATE audit_records SET patient_index = CAST(patient_index AS TEXT) WHERE seq = 700",
        )
        .run(),
    );
    const chunks = await workerChunks(ctx, 2);
    expect(chunks.map((c) => c.typesOk)).toEqual([true, false, true]);
  });

  it.each([
    [
      "a record's notes changed",
      "UPDATE audit_records SET notes_enc = randomblob(40) WHERE seq = 612",
    ],
    ["a record deleted", "DELETE FROM audit_records WHERE seq = 3"],
    [
      "a blind index re-typed",
      "UPDATE audit_records SET actor_index = CAST(actor_index AS TEXT) WHERE seq = 1001",
    ],
    [
      "two records swapped",
      "UPDATE audit_records SET seq = CASE seq WHEN 10 THEN 11 ELSE 10 END WHERE seq IN (10, 11)",
    ],
  ])("%s: the same findings as a pass in one thread", async (_, change) => {
    const ctx = await trail();
    intrude(ctx, (db) => {
      // Swapping two primary keys needs room: move one out of the way first.
      if (change.includes("CASE seq")) {
        db.prepare("UPDATE audit_records SET seq = -10 WHERE seq = 10").run();
        db.prepare("UPDATE audit_records SET seq = 10 WHERE seq = 11").run();
        db.prepare("UPDATE audit_records SET seq = 11 WHERE seq = -10").run();
      } else db.prepare(change).run();
    });
    const serial = verifyTrail(ctx.conn.sqlite, ctx.keys.trustedPublicKeys, options(ctx));
    expect(serial.ok).toBe(false);
    const parallel = await verifyTrailAsync(ctx.conn.sqlite, ctx.keys.trustedPublicKeys, {
      ...options(ctx),
      leafThreads: 2,
    });
    expect(parallel).toEqual(serial);
  });

  it("tells whether any commit reached the file since the workers started", async () => {
    const ctx = await trail();
    expect(() => startLeafWorkers(`${ctx.config.DATABASE_PATH}.gone`, 2)).toThrow();
    const workers = startLeafWorkers(ctx.config.DATABASE_PATH, 2);
    try {
      await workers.read(RECORDS).snapshots;
      expect(workers.unchanged()).toBe(true);
      intrude(ctx, (db) => db.prepare("DELETE FROM append_lease").run());
      expect(workers.unchanged()).toBe(false);
    } finally {
      await workers.close();
    }
  });
});
