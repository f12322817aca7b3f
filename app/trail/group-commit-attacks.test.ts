import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { intrude, sampleRecord, seedTrail } from "../../tests/trail";
import { appendRecords, inlineSigner, type AppendResult, type Signer } from "./append.server";
import { ensureTrailIntact } from "./guard.server";

// Pipelined appends under attack: whatever interleaves with them (another writer on the file, an
// intruder's row where the next group goes, a slow or failing signer), a caller told "stored"
// finds exactly its records stored once, at the seqs it was told, and nothing else is stored.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let warn: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
});
afterEach(() => warn.mockRestore());

/** A second server on the same file and head. */
const second = (ctx: TestContext) =>
  makeTestContext({
    DATABASE_PATH: ctx.config.DATABASE_PATH,
    TRAIL_HEAD_PATH: ctx.config.TRAIL_HEAD_PATH,
  });

/** Every record a caller was told is stored is stored once, where it was told; nothing else is. */
function expectToldIsStored(ctx: TestContext, outcomes: PromiseSettledResult<AppendResult>[]) {
  const told = outcomes.flatMap((o) => (o.status === "fulfilled" ? o.value.records : []));
  const stored = ctx.conn.sqlite
    .prepare("SELECT seq, log_id AS logId FROM audit_records ORDER BY seq")
    .all() as { seq: number; logId: string }[];
  expect([...told].sort((a, b) => a.seq - b.seq)).toEqual(stored);
  expect(stored.map((r) => r.seq)).toEqual(stored.map((_, i) => i + 1));
}

function gatedCheckpoints(ctx: TestContext, gateFirst: number) {
  const inline = inlineSigner(ctx);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let checkpoints = 0;
  const signer: Signer = async (inputs, options) => {
    if (options?.urgent && ++checkpoints <= gateFirst) await gate;
    return inline(inputs, options);
  };
  return { signer, release };
}

/**
 * A trail of 4 records; one append (seq 5) whose checkpoint waits for `slow.release()`, and
 * the next (seq 6), sealed ahead meanwhile.
 */
async function groupSealedAhead() {
  const ctx = makeTestContext();
  await seedTrail(ctx, 4);
  expect((await ensureTrailIntact(ctx, { viewerId: null })).ok).toBe(true);
  const slow = gatedCheckpoints(ctx, 1);
  const first = appendRecords(ctx, [sampleRecord(5)], { signer: slow.signer });
  await sleep(20);
  const ahead = appendRecords(ctx, [sampleRecord(6)], { signer: slow.signer });
  await sleep(20);
  return { ctx, slow, first, ahead };
}

describe("pipelined appends, attacked", () => {
  it("two servers on one file, each pipelining, interleaved: every record stored once", async () => {
    const a = makeTestContext();
    await seedTrail(a, 3);
    const b = second(a);
    const slow = gatedCheckpoints(a, 1);
    const first = appendRecords(a, [sampleRecord(100)], { signer: slow.signer });
    await sleep(20);
    // Sealed against the head the gated commit will leave.
    const queued = Array.from({ length: 5 }, (_, i) =>
      appendRecords(a, [sampleRecord(200 + i)], { signer: slow.signer }),
    );
    await sleep(20);
    // Meanwhile the other server waits for the lease, then appends between A's groups.
    const fromB = Array.from({ length: 4 }, (_, i) => appendRecords(b, [sampleRecord(300 + i)]));
    await sleep(20);
    slow.release();
    const outcomes = await Promise.allSettled([first, ...queued, ...fromB]);
    expect(outcomes.map((o) => o.status)).toEqual(Array(10).fill("fulfilled"));
    expectToldIsStored(a, [
      ...outcomes,
      ...[0, 1, 2].map((i): PromiseSettledResult<AppendResult> => ({
        status: "fulfilled",
        value: {
          records: [
            {
              seq: i + 1,
              logId: a.conn.sqlite
                .prepare("SELECT log_id FROM audit_records WHERE seq = ?")
                .pluck()
                .get(i + 1) as string,
            },
          ],
          checkpoint: null as never,
        },
      })),
    ]);
    expect((await ensureTrailIntact(a, { viewerId: null, force: true })).ok).toBe(true);
    expect((await ensureTrailIntact(b, { viewerId: null, force: true })).ok).toBe(true);
  });

  it("another server appends after a group was sealed ahead: it is sealed again, not stored stale", async () => {
    const a = makeTestContext();
    const b = second(a);
    await appendRecords(b, [sampleRecord(0)]);
    const slow = gatedCheckpoints(a, 1);
    const first = appendRecords(a, [sampleRecord(1)], { signer: slow.signer });
    await sleep(20);
    const ahead = appendRecords(a, [sampleRecord(2), sampleRecord(3)], { signer: slow.signer });
    await sleep(20);
    slow.release();
    // B's append queues for the lease, and may land between A's two groups.
    const fromB = appendRecords(b, [sampleRecord(4)]);
    const outcomes = await Promise.allSettled([first, ahead, fromB]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "fulfilled"]);
    const rows = a.conn.sqlite
      .prepare("SELECT seq, log_id, prev_log_id FROM audit_records ORDER BY seq")
      .all() as { seq: number; log_id: string; prev_log_id: string | null }[];
    expect(rows).toHaveLength(5);
    // Chained: each record names the one before it, whoever wrote it.
    for (const [i, row] of rows.entries()) {
      expect(row.seq).toBe(i + 1);
      expect(row.prev_log_id).toBe(i === 0 ? null : rows[i - 1]!.log_id);
    }
    const told = outcomes.flatMap((o) => (o.status === "fulfilled" ? o.value.records : []));
    expect(told.map((r) => r.logId).sort()).toEqual(
      rows
        .slice(1)
        .map((r) => r.log_id)
        .sort(),
    );
    expect((await ensureTrailIntact(a, { viewerId: null, force: true })).ok).toBe(true);
  });

  it("an intruder's row where the group sealed ahead goes: no caller of that group is told stored", async () => {
    const { ctx, slow, first, ahead } = await groupSealedAhead();
    // The group ahead was sealed as seq 6: the intruder plants a copy of seq 4 there.
    intrude(ctx, (db) => {
      const row = db.prepare("SELECT * FROM audit_records WHERE seq = 4").get() as Record<
        string,
        unknown
      >;
      row.seq = 6;
      row.log_id = "11111111-1111-4111-8111-111111111111";
      const names = Object.keys(row);
      db.prepare(
        `INSERT INTO audit_records (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})`,
      ).run(...Object.values(row));
    });
    slow.release();
    const outcomes = await Promise.allSettled([first, ahead]);
    expect(outcomes[1]!.status).toBe("rejected");
    const stored = ctx.conn.sqlite
      .prepare("SELECT log_id FROM audit_records WHERE seq > 4 ORDER BY seq")
      .pluck()
      .all();
    const told = outcomes.flatMap((o) => (o.status === "fulfilled" ? o.value.records : []));
    for (const r of told) expect(stored).toContain(r.logId);
    // Nothing of the refused group was stored.
    expect(stored.filter((id) => !told.some((r) => r.logId === id))).toEqual([
      "11111111-1111-4111-8111-111111111111",
    ]);
    const status = await ensureTrailIntact(ctx, { viewerId: null, force: true });
    expect(status.ok).toBe(false);
  });

  it("a signer that fails for the group sealed ahead: its callers are refused, the rest stored once", async () => {
    const ctx = makeTestContext();
    const inline = inlineSigner(ctx);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let recordCalls = 0;
    let checkpoints = 0;
    const signer: Signer = async (inputs, options) => {
      if (options?.urgent && ++checkpoints === 1) await gate;
      // The records of the group sealed ahead cannot be signed.
      if (!options?.urgent && ++recordCalls === 2) throw new Error("signer gone");
      return inline(inputs, options);
    };
    const first = appendRecords(ctx, [sampleRecord(0)], { signer });
    await sleep(20);
    const ahead = appendRecords(ctx, [sampleRecord(1), sampleRecord(2)], { signer });
    await sleep(20);
    release();
    const outcomes = await Promise.allSettled([first, ahead]);
    expect(outcomes[0]!.status).toBe("fulfilled");
    expectToldIsStored(ctx, outcomes);
    expect((await ensureTrailIntact(ctx, { viewerId: null, force: true })).ok).toBe(true);
    const after = await appendRecords(ctx, [sampleRecord(3)]);
    expect(after.records[0]!.seq).toBe(
      ctx.conn.sqlite.prepare("SELECT max(seq) FROM audit_records").pluck().get(),
    );
    expect((await ensureTrailIntact(ctx, { viewerId: null, force: true })).ok).toBe(true);
  });

  it("an intruder's edit between groups is caught before the next group is stored", async () => {
    const { ctx, slow, first, ahead } = await groupSealedAhead();
    intrude(ctx, (db) =>
      db.prepare("UPDATE audit_records SET occurred_at = occurred_at + 1 WHERE seq = 2").run(),
    );
    slow.release();
    const outcomes = await Promise.allSettled([first, ahead]);
    // The group sealed ahead must not be sealed under a new checkpoint over a tampered table.
    expect(outcomes[1]!.status).toBe("rejected");
    const status = await ensureTrailIntact(ctx, { viewerId: null, force: true });
    expect(!status.ok && status.findings).toEqual([
      expect.objectContaining({ kind: "modified", target: "record", seq: 2 }),
    ]);
  });
});
