import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import type { TestContext } from "../../tests/context";
import { copyOfSeededTrail, intrude } from "../../tests/trail";
import { CHUNK_ROWS } from "./leaf-chunks.server";
import { verifyTrail, verifyTrailAsync, type VerifyOptions } from "./verify.server";

// An intruder who edits the file must not make the pass on worker threads say anything other
// than what the pass in one thread says of the same snapshot. The table holds exactly two
// chunks (1,000 records, sealed 500 at a time), so chunk boundaries and anchors fall together.

const RECORDS = CHUNK_ROWS * 2;

const trail = () => copyOfSeededTrail(RECORDS, CHUNK_ROWS);

const base = (ctx: TestContext): VerifyOptions => ({
  origin: ctx.config.TRAIL_ORIGIN,
  head: { state: "not_checked" as const },
});

/** Checkpoint `number`'s size and root, as a witness would have cosigned it. */
function checkpointHead(ctx: TestContext, number: number) {
  const row = ctx.conn.sqlite
    .prepare("SELECT tree_size, root_hash, last_log_id FROM checkpoints WHERE number = ?")
    .get(number) as { tree_size: number; root_hash: Buffer; last_log_id: string };
  return { treeSize: row.tree_size, rootHash: row.root_hash, lastLogId: row.last_log_id };
}

/** The serial pass must find something, and the pass on two worker threads the very same. */
async function expectSameFindings(ctx: TestContext, options: VerifyOptions = base(ctx)) {
  const serial = verifyTrail(ctx.conn.sqlite, ctx.keys.trustedPublicKeys, options);
  expect(serial.ok).toBe(false);
  const parallel = await verifyTrailAsync(ctx.conn.sqlite, ctx.keys.trustedPublicKeys, {
    ...options,
    leafThreads: 2,
  });
  expect(parallel).toEqual(serial);
  return serial;
}

describe("the full pass on worker threads, attacked", () => {
  it("agrees on an intact table of exactly two chunks, witnessed at both chunk boundaries", async () => {
    const ctx = await trail();
    expect(ctx.conn.sqlite.prepare("SELECT count(*) FROM checkpoints").pluck().get()).toBe(2);
    const witnessed = [1, 2].map((n) => ({
      witness: `w${n}`,
      ...checkpointHead(ctx, n),
      timestamp: 1,
      logSigned: null,
    }));
    const options = {
      ...base(ctx),
      witnessed,
      remembered: { number: 1, ...checkpointHead(ctx, 1) },
    };
    const serial = verifyTrail(ctx.conn.sqlite, ctx.keys.trustedPublicKeys, options);
    expect(serial).toMatchObject({ ok: true, records: RECORDS });
    const parallel = await verifyTrailAsync(ctx.conn.sqlite, ctx.keys.trustedPublicKeys, {
      ...options,
      leafThreads: 2,
    });
    expect(parallel).toEqual(serial);
  });

  it("a witnessed head at a chunk boundary with another root: the same findings", async () => {
    const ctx = await trail();
    const witnessed = [
      {
        witness: "w",
        treeSize: CHUNK_ROWS,
        rootHash: Buffer.alloc(32, 7),
        timestamp: 1,
        logSigned: null,
      },
    ];
    await expectSameFindings(ctx, { ...base(ctx), witnessed });
  });

  it("a remembered head at a chunk boundary with another root: the same findings", async () => {
    const ctx = await trail();
    const remembered = { number: 1, treeSize: CHUNK_ROWS, rootHash: Buffer.alloc(32, 9) };
    await expectSameFindings(ctx, { ...base(ctx), remembered });
  });

  it.each([
    [
      "the last row of the first chunk edited",
      "UPDATE audit_records SET notes_enc = randomblob(40) WHERE seq = 500",
    ],
    [
      "the first row of the second chunk edited",
      "UPDATE audit_records SET notes_enc = randomblob(40) WHERE seq = 501",
    ],
    [
      "the very last row edited",
      "UPDATE audit_records SET occurred_at = occurred_at + 1 WHERE seq = 1000",
    ],
    [
      "a key id renamed to an unknown key",
      "UPDATE audit_records SET key_id = 'not-a-key' WHERE seq = 777",
    ],
    [
      "a key id re-typed as a blob of its bytes",
      "UPDATE audit_records SET key_id = CAST(key_id AS BLOB) WHERE seq = 778",
    ],
    [
      "a record's time re-typed as text",
      "UPDATE audit_records SET occurred_at = 'x' || occurred_at WHERE seq = 1",
    ],
    [
      "a record's time re-typed as real",
      "UPDATE audit_records SET occurred_at = occurred_at + 0.5 WHERE seq = 999",
    ],
    [
      "the last log id re-typed as a blob",
      "UPDATE audit_records SET log_id = CAST(log_id AS BLOB) WHERE seq = 1000",
    ],
    ["the first record moved to seq 0", "UPDATE audit_records SET seq = 0 WHERE seq = 1"],
    ["the first record moved to a negative seq", "UPDATE audit_records SET seq = -5 WHERE seq = 1"],
    [
      "the last record moved far beyond",
      "UPDATE audit_records SET seq = 9007199254740991 WHERE seq = 1000",
    ],
    [
      "a record moved into a gap at the boundary",
      "UPDATE audit_records SET seq = 1001 WHERE seq = 500",
    ],
    ["every record deleted, checkpoints kept", "DELETE FROM audit_records"],
    ["a trigger planted", "CREATE TRIGGER t AFTER INSERT ON audit_records BEGIN SELECT 1; END"],
  ])("%s: the same findings as a pass in one thread", async (_, change) => {
    const ctx = await trail();
    intrude(ctx, (db) => db.exec(change));
    await expectSameFindings(ctx);
  });

  it("rolled back by exactly one chunk, past a remembered head: the same findings", async () => {
    const ctx = await trail();
    const remembered = { number: 2, ...checkpointHead(ctx, 2) };
    intrude(ctx, (db) =>
      db.exec(
        "DELETE FROM audit_records WHERE seq > 500; DELETE FROM checkpoints WHERE number = 2",
      ),
    );
    await expectSameFindings(ctx, { ...base(ctx), remembered });
  });

  it("a copy of the last record appended beyond the checkpoint, seqs still 1 … total", async () => {
    const ctx = await trail();
    intrude(ctx, (db) => {
      const cols = (db.prepare("SELECT * FROM audit_records WHERE seq = 1000").get() ??
        {}) as Record<string, unknown>;
      cols.seq = 1001;
      cols.log_id = "00000000-0000-4000-8000-000000000000";
      const names = Object.keys(cols);
      db.prepare(
        `INSERT INTO audit_records (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})`,
      ).run(...Object.values(cols));
    });
    await expectSameFindings(ctx);
  });

  it("a tamper present in the verifying snapshot is reported even if undone before the workers read", async () => {
    const ctx = await trail();
    const original = ctx.conn.sqlite
      .prepare("SELECT notes_enc FROM audit_records WHERE seq = 612")
      .pluck()
      .get() as Buffer;
    const tamper = (db: Database.Database) =>
      db.prepare("UPDATE audit_records SET notes_enc = randomblob(40) WHERE seq = 612").run();
    const restore = (db: Database.Database) =>
      db.prepare("UPDATE audit_records SET notes_enc = ? WHERE seq = 612").run(original);

    // The control, in one thread: its snapshot holds the tamper, which it reports.
    intrude(ctx, tamper);
    const control = new Database(ctx.config.DATABASE_PATH, { readonly: true });
    const serialPending = verifyTrailAsync(control, ctx.keys.trustedPublicKeys, {
      ...base(ctx),
      leafThreads: 0,
    });
    intrude(ctx, restore);
    const serial = await serialPending;
    control.close();
    expect(serial.ok).toBe(false);
    expect(serial.findings).toEqual([
      expect.objectContaining({ kind: "modified", target: "record", seq: 612 }),
    ]);

    // The attack: tamper, let the pass take its snapshot, undo before the workers open theirs,
    // and tamper again once they have read. The table was tampered before, during and after.
    intrude(ctx, tamper);
    const reader = new Database(ctx.config.DATABASE_PATH, { readonly: true });
    const parallelPending = verifyTrailAsync(reader, ctx.keys.trustedPublicKeys, {
      ...base(ctx),
      leafThreads: 2,
    });
    intrude(ctx, restore);
    const parallel = await parallelPending;
    reader.close();
    intrude(ctx, tamper);
    expect(parallel.ok).toBe(false);
    expect(parallel.findings).toEqual(serial.findings);
  });
});
