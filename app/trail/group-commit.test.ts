import { describe, expect, it } from "vitest";
import { makeTestContext } from "../../tests/context";
import { sampleRecord } from "../../tests/trail";
import { appendRecords, inlineSigner, type Signer } from "./append.server";
import { ensureTrailIntact } from "./guard.server";
import { GroupCommit } from "./group-commit.server";

// Appends that arrive together are committed together: one transaction, one checkpoint.

describe("group commit", () => {
  it("commits concurrent appends under shared checkpoints, each caller with its own records", async () => {
    const ctx = makeTestContext();
    const results = await Promise.all(
      // As 24 different users' views: whoever triggers an append, it may share a commit.
      Array.from({ length: 24 }, (_, i) =>
        appendRecords(ctx, [sampleRecord(i)], { triggeredBy: `user-${i}` }),
      ),
    );
    const seqs = results.flatMap((r) => r.records.map((rec) => rec.seq));
    expect(new Set(seqs).size).toBe(24);
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    const checkpoints = ctx.conn.sqlite.prepare("SELECT count(*) FROM checkpoints").pluck().get();
    expect(checkpoints).toBeLessThan(24);
    // Every caller's checkpoint seals its records.
    for (const r of results)
      expect(r.checkpoint.treeSize).toBeGreaterThanOrEqual(r.records[0]!.seq);
    expect((await ensureTrailIntact(ctx, { viewerId: null, force: true })).ok).toBe(true);
  });

  it("stores nothing of a group that fails, and tells only its callers", async () => {
    const ctx = makeTestContext();
    let calls = 0;
    const inline = inlineSigner(ctx);
    // The second group's signing fails, as a crash of the signing workers would.
    const flaky: Signer = async (inputs) => {
      calls++;
      if (calls === 3) throw new Error("signer gone");
      return inline(inputs);
    };
    const outcomes = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => appendRecords(ctx, [sampleRecord(i)], { signer: flaky })),
    );
    const stored = ctx.conn.sqlite.prepare("SELECT log_id FROM audit_records").pluck().all();
    const told = outcomes.flatMap((o) => (o.status === "fulfilled" ? o.value.records : []));
    // Whoever was told the record is stored finds it stored; nothing else is.
    expect(told.map((r) => r.logId).sort()).toEqual([...stored].sort());
    expect(outcomes.some((o) => o.status === "rejected")).toBe(true);
    expect((await ensureTrailIntact(ctx, { viewerId: null, force: true })).ok).toBe(true);
    await appendRecords(ctx, [sampleRecord(9)]);
    expect((await ensureTrailIntact(ctx, { viewerId: null, force: true })).ok).toBe(true);
  });

  it("groups only callers of the same group, and never past the size limit", async () => {
    const batches: number[][] = [];
    const committer = new GroupCommit<number, string>(async (items) => {
      batches.push(items);
      await new Promise((resolve) => setTimeout(resolve, 5));
      return "ok";
    }, 3);
    const a = "a";
    const b = "b";
    const done = await Promise.all([
      committer.submit([1], a),
      committer.submit([2], a),
      committer.submit([3], b),
      committer.submit([4, 5], a),
      committer.submit([6], a),
    ]);
    expect(batches).toEqual([[1], [2, 4, 5], [3], [6]]);
    expect(done.map((d) => d.offset)).toEqual([0, 0, 0, 1, 0]);
  });
});
