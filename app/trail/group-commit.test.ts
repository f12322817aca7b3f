import { describe, expect, it, vi } from "vitest";
import { makeTestContext } from "../../tests/context";
import { intrude, sampleRecord, seedTrail } from "../../tests/trail";
import { appendRecords, inlineSigner, type Signer } from "./append.server";
import { ensureTrailIntact, TrailCompromisedError } from "./guard.server";
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

  it("prepares the next group while one commits, and commits them one at a time, in order", async () => {
    const events: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const committer = new GroupCommit<number, string, string>(
      async (items, _group, _notes, prepared) => {
        events.push(`commit ${items.join(",")} with ${prepared}`);
        if (items[0] === 1) await gate;
        events.push(`committed ${items.join(",")}`);
        return "ok";
      },
      10,
      (items, _group, after) => {
        events.push(`prepare ${items.join(",")} after ${after}`);
        return `p${items.join(",")}`;
      },
    );
    const first = committer.submit([1], "a");
    await new Promise((resolve) => setImmediate(resolve));
    const later = [committer.submit([2], "a"), committer.submit([3], "a")];
    await new Promise((resolve) => setImmediate(resolve));
    // The second group is prepared against the first while the first has not committed.
    expect(events).toEqual(["prepare 1 after null", "commit 1 with p1", "prepare 2,3 after p1"]);
    release();
    await Promise.all([first, ...later]);
    expect(events.slice(3)).toEqual(["committed 1", "commit 2,3 with p2,3", "committed 2,3"]);
  });

  it("hands a group's records to the signer before the group ahead of it has committed", async () => {
    const ctx = makeTestContext();
    const inline = inlineSigner(ctx);
    const calls: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // The first checkpoint waits: meanwhile the next group's records must already be signing.
    const gated: Signer = async (inputs, options) => {
      calls.push(options?.urgent ? "checkpoint" : `records ${inputs.length}`);
      if (options?.urgent && calls.filter((c) => c === "checkpoint").length === 1) await gate;
      return inline(inputs, options);
    };
    const first = appendRecords(ctx, [sampleRecord(0)], { signer: gated });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = appendRecords(ctx, [sampleRecord(1), sampleRecord(2)], { signer: gated });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(calls).toEqual(["records 1", "checkpoint", "records 2"]);
    release();
    const [a, b] = await Promise.all([first, second]);
    expect(a.records.map((r) => r.seq)).toEqual([1]);
    expect(b.records.map((r) => r.seq)).toEqual([2, 3]);
    expect(b.checkpoint.number).toBe(a.checkpoint.number + 1);
    expect((await ensureTrailIntact(ctx, { viewerId: null, force: true })).ok).toBe(true);
  });

  it("seals a prepared group again when the group it was sealed after fails", async () => {
    const ctx = makeTestContext();
    const inline = inlineSigner(ctx);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let checkpoints = 0;
    // The first group's checkpoint cannot be signed: the second was sealed as seq 2 after it.
    const failing: Signer = async (inputs, options) => {
      if (options?.urgent && ++checkpoints === 1) {
        await gate;
        throw new Error("signer gone");
      }
      return inline(inputs, options);
    };
    const first = appendRecords(ctx, [sampleRecord(0)], { signer: failing });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = appendRecords(ctx, [sampleRecord(1)], { signer: failing });
    await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    await expect(first).rejects.toThrow("signer gone");
    const stored = await second;
    expect(stored.records.map((r) => r.seq)).toEqual([1]);
    const rows = ctx.conn.sqlite
      .prepare("SELECT seq, log_id, prev_log_id FROM audit_records")
      .all();
    expect(rows).toEqual([{ seq: 1, log_id: stored.records[0]!.logId, prev_log_id: null }]);
    expect((await ensureTrailIntact(ctx, { viewerId: null, force: true })).ok).toBe(true);
  });

  it("refuses an append over an edited frontier, leaving no failure unheard", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 4);
    expect((await ensureTrailIntact(ctx, { viewerId: null })).ok).toBe(true);
    // The group is sealed after the head, whose frontier no longer folds to its signed root.
    intrude(ctx, (db) =>
      db.prepare("UPDATE checkpoints SET frontier = randomblob(length(frontier))").run(),
    );
    const unheard = vi.fn();
    process.on("unhandledRejection", unheard);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      await expect(appendRecords(ctx, [sampleRecord(9)])).rejects.toBeInstanceOf(
        TrailCompromisedError,
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unheard).not.toHaveBeenCalled();
    } finally {
      process.off("unhandledRejection", unheard);
      warn.mockRestore();
    }
  });
});
