import fs from "node:fs";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { openDatabase } from "../../db/connection";
import { makeTestContext, type TestContext } from "../../tests/context";
import { intrude, sampleRecord, seedTrail } from "../../tests/trail";
import { listRecords } from "../models/record.server";
import { openRecords } from "../services/open-records.server";
import { SELF_SOURCE } from "./self-source";
import { viewTrail } from "../services/trail-view.server";
import { appendRecords } from "./append.server";
import { ensureTrailIntact, TrailCompromisedError, type TrailStatus } from "./guard.server";
import * as verify from "./verify.server";
import { readHead } from "./witness.server";
import { patient, auditor } from "../../tests/users";

// No SMTP_URL here: alerts go to the outbox and announce themselves with console.warn.
let warn: ReturnType<typeof vi.spyOn>;
const reopened: TestContext[] = [];
beforeEach(() => {
  warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
});
afterEach(() => {
  warn.mockRestore();
  for (const ctx of reopened.splice(0)) if (ctx.conn.sqlite.open) ctx.conn.sqlite.close();
});

const count = (ctx: TestContext, table: "audit_records" | "checkpoints" | "incidents") =>
  (ctx.conn.sqlite.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

const modifyNotes = (seq: number) => (db: import("better-sqlite3").Database) =>
  db.prepare("UPDATE audit_records SET notes_enc = notes_enc || x'00' WHERE seq = ?").run(seq);

/** Waits until every incident raised so far has its alert delivered (views do not await it). */
async function alertsDelivered(ctx: TestContext, expected: number) {
  await vi.waitFor(() => {
    const rows = ctx.conn.sqlite.prepare("SELECT notified_at, delivery FROM incidents").all() as {
      notified_at: number | null;
      delivery: string | null;
    }[];
    expect(rows).toHaveLength(expected);
    for (const row of rows) expect(row.delivery).toMatch(/\.eml$/);
  });
}

function expectCompromised(status: TrailStatus): Extract<TrailStatus, { ok: false }> {
  if (status.ok) throw new Error("expected the trail to be reported compromised");
  return status;
}

/** The same files opened by a new process: a new context object, so a new guard state. */
function restart(ctx: TestContext): TestContext {
  if (ctx.conn.sqlite.open) ctx.conn.sqlite.close();
  const again: TestContext = { ...ctx, conn: openDatabase(ctx.config.DATABASE_PATH) };
  reopened.push(again);
  return again;
}

describe("ensureTrailIntact", () => {
  test("is ok on a freshly seeded trail and reports its records and newest checkpoint", async () => {
    const ctx = makeTestContext();
    const logIds = await seedTrail(ctx, 10);
    const status = await ensureTrailIntact(ctx, { viewerId: "user-1" });
    expect(status).toMatchObject({
      ok: true,
      records: 10,
      checkpoint: {
        number: 3,
        treeSize: 10,
        lastLogId: logIds[9],
        keyId: ctx.keys.signing.keyId,
      },
    });
    expect(count(ctx, "incidents")).toBe(0);
  });

  test("notices a tamper made through a second connection without being forced", async () => {
    const ctx = makeTestContext();
    const logIds = await seedTrail(ctx, 10);
    expect((await ensureTrailIntact(ctx, { viewerId: null })).ok).toBe(true);
    intrude(ctx, modifyNotes(4));
    const status = expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-1" }));
    expect(status.findings).toEqual([
      expect.objectContaining({ kind: "modified", target: "record", seq: 4, logId: logIds[3] }),
    ]);
    expect(await status.alert).toMatchObject({ via: "outbox" });
    // The verdict sticks: the next call reports the same findings.
    const again = expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-2" }));
    expect(again.findings).toEqual(status.findings);
    expect(await again.alert).toBeNull();
  });

  test("a write by another connection that changes nothing still triggers a full pass, and passes", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 6);
    await ensureTrailIntact(ctx, { viewerId: null });
    const spy = vi.spyOn(verify, "verifyTrailAsync");
    try {
      expect((await ensureTrailIntact(ctx, { viewerId: null })).ok).toBe(true);
      expect(spy).not.toHaveBeenCalled();
      intrude(ctx, (db) => db.prepare("UPDATE audit_records SET seq = seq WHERE seq = 1").run());
      expect(await ensureTrailIntact(ctx, { viewerId: null })).toMatchObject({
        ok: true,
        records: 6,
      });
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  test("a full pass gives the event loop back between chunks, and concurrent views share it", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 1_200, 400);
    await ensureTrailIntact(ctx, { viewerId: null });
    intrude(ctx, (db) => db.prepare("UPDATE audit_records SET seq = seq WHERE seq = 1").run());
    const spy = vi.spyOn(verify, "verifyTrailAsync");
    let ticks = 0;
    let passing = true;
    const tick = () => {
      ticks++;
      if (passing) setImmediate(tick);
    };
    setImmediate(tick);
    try {
      const [a, b] = await Promise.all([
        ensureTrailIntact(ctx, { viewerId: "user-1" }),
        ensureTrailIntact(ctx, { viewerId: "user-2" }),
      ]);
      passing = false;
      expect(a).toMatchObject({ ok: true, records: 1_200 });
      expect(b).toMatchObject({ ok: true, records: 1_200 });
      expect(spy).toHaveBeenCalledTimes(1);
      // Other work ran while the 1,200 rows were checked in chunks of 500.
      expect(ticks).toBeGreaterThanOrEqual(3);
    } finally {
      passing = false;
      spy.mockRestore();
    }
  }, 60_000);

  test("a view that joins a pass already running still sees a write made after the pass began", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 1_200, 400);
    await ensureTrailIntact(ctx, { viewerId: null });
    intrude(ctx, (db) => db.prepare("UPDATE audit_records SET seq = seq WHERE seq = 1").run());
    const first = ensureTrailIntact(ctx, { viewerId: "user-1" });
    // The pass has taken its snapshot and checked its first chunk when the intruder writes.
    await new Promise((resolve) => setImmediate(resolve));
    intrude(ctx, (db) =>
      db.prepare("UPDATE audit_records SET notes_enc = notes_enc || x'00' WHERE seq = 1100").run(),
    );
    const second = await ensureTrailIntact(ctx, { viewerId: "user-2" });
    expect(second.ok).toBe(false);
    if (!second.ok) expect(second.findings.map((f) => f.seq)).toContain(1100);
    await first;
  }, 60_000);

  test("appends by the same context need no full pass and stay ok", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 4);
    expect((await ensureTrailIntact(ctx, { viewerId: null })).ok).toBe(true);
    const spy = vi.spyOn(verify, "verifyTrailAsync");
    try {
      const appended = await appendRecords(ctx, [
        sampleRecord(4),
        sampleRecord(5),
        sampleRecord(6),
      ]);
      expect(appended.records.map((r) => r.seq)).toEqual([5, 6, 7]);
      const status = await ensureTrailIntact(ctx, { viewerId: null });
      expect(status).toMatchObject({
        ok: true,
        records: 7,
        checkpoint: { number: 2, treeSize: 7, lastLogId: appended.records[2]!.logId },
      });
      expect(spy).not.toHaveBeenCalled();
      // A forced pass agrees with what the fast path remembered.
      const forced = await ensureTrailIntact(ctx, { viewerId: null, force: true });
      expect(spy).toHaveBeenCalledTimes(1);
      expect(forced).toMatchObject(status);
    } finally {
      spy.mockRestore();
    }
  });

  test("appendRecords refuses while the trail is compromised and stores nothing", async () => {
    const ctx = makeTestContext();
    const logIds = await seedTrail(ctx, 8);
    intrude(ctx, modifyNotes(2));
    await expectCompromised(await ensureTrailIntact(ctx, { viewerId: null })).alert;
    const witnessBefore = fs.readFileSync(ctx.config.TRAIL_HEAD_PATH, "utf8");
    const error = await appendRecords(ctx, [sampleRecord(8)], { triggeredBy: "source-1" }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TrailCompromisedError);
    expect((error as TrailCompromisedError).findings).toEqual([
      expect.objectContaining({ kind: "modified", seq: 2, logId: logIds[1] }),
    ]);
    expect(count(ctx, "audit_records")).toBe(8);
    expect(count(ctx, "checkpoints")).toBe(2);
    expect(fs.readFileSync(ctx.config.TRAIL_HEAD_PATH, "utf8")).toBe(witnessBefore);
    // Still refused on the next attempt.
    await expect(appendRecords(ctx, [sampleRecord(9)])).rejects.toBeInstanceOf(
      TrailCompromisedError,
    );
    expect(count(ctx, "audit_records")).toBe(8);
  });
});

describe("viewTrail", () => {
  test("shows a patient only their own records and an auditor all of them", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 9);
    const alice = patient("MRN-100");
    const view = await viewTrail(ctx, alice);
    if (!view.ok) throw new Error("the view was withheld");
    // sampleRecord(i) is about MRN-100 for i = 0, 3, 6: seqs 1, 4, 7, newest first.
    expect(view.records.map((r) => r.seq)).toEqual([7, 4, 1]);
    expect(view.records.every((r) => r.patientId === "MRN-100")).toBe(true);
    expect(view.status).toMatchObject({ records: 9, checkpointNumber: 3 });
    expect(view.nextBefore).toBeNull();

    const all = await viewTrail(ctx, auditor);
    if (!all.ok) throw new Error("the view was withheld");
    // The nine seeded records and the record of Alice's view.
    expect(all.records.map((r) => r.seq)).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(new Set(all.records.map((r) => r.patientId))).toEqual(
      new Set(["MRN-100", "MRN-101", "MRN-102"]),
    );

    // Alice's next view includes the record of her own earlier view, and the auditor's.
    const again = await viewTrail(ctx, alice);
    if (!again.ok) throw new Error("the view was withheld");
    expect(again.records.every((r) => r.patientId === "MRN-100")).toBe(true);
    expect(again.records.filter((r) => r.action === "query").map((r) => r.actorId)).toEqual([
      auditor.id,
      alice.id,
    ]);
  });

  test("records each view as query records, one per patient shown", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 9);
    const bob = patient("MRN-101");
    expect((await viewTrail(ctx, bob)).ok).toBe(true);
    expect(count(ctx, "audit_records")).toBe(10);
    expect((await viewTrail(ctx, auditor)).ok).toBe(true);
    expect(count(ctx, "audit_records")).toBe(13);

    const status = await ensureTrailIntact(ctx, { viewerId: null });
    expect(status).toMatchObject({ ok: true, records: 13, checkpoint: { treeSize: 13 } });
    if (!status.ok) return;
    const page = listRecords(ctx, auditor, {}, { sealedUpTo: Number.MAX_SAFE_INTEGER, limit: 4 });
    const [a, b, c, d] = openRecords(ctx, page.records, status.checkpoint);
    expect(d).toMatchObject({
      seq: 10,
      action: "query",
      patientId: "MRN-101",
      actorId: bob.id,
      actorName: bob.name,
      tableAffected: "audit_trail",
      notes: "viewed 3 record(s)",
      sourceId: SELF_SOURCE,
    });
    // The auditor saw all ten: four about MRN-101 (with Bob's view), three each about the others.
    const auditorRecords = [a!, b!, c!].sort((x, y) => x.patientId.localeCompare(y.patientId));
    expect(
      auditorRecords.map((r) => [r.action, r.actorId, r.patientId, r.notes, r.sourceId]),
    ).toEqual([
      ["query", auditor.id, "MRN-100", "viewed 3 record(s)", SELF_SOURCE],
      ["query", auditor.id, "MRN-101", "viewed 4 record(s)", SELF_SOURCE],
      ["query", auditor.id, "MRN-102", "viewed 3 record(s)", SELF_SOURCE],
    ]);
  });

  test("after a tamper returns no records to anyone and records no views", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 9);
    expect((await viewTrail(ctx, patient("MRN-102"))).ok).toBe(true);
    // seq 5 is about MRN-101: the other patients' views are withheld just the same.
    intrude(ctx, modifyNotes(5));
    expect(await viewTrail(ctx, patient("MRN-100"))).toEqual({ ok: false });
    expect(await viewTrail(ctx, patient("MRN-102"))).toEqual({ ok: false });
    expect(await viewTrail(ctx, auditor)).toEqual({ ok: false });
    expect(count(ctx, "audit_records")).toBe(10);
    await alertsDelivered(ctx, 1);
    const incident = ctx.conn.sqlite.prepare("SELECT triggered_by FROM incidents").get() as {
      triggered_by: string;
    };
    expect(incident.triggered_by).toBe("user-MRN-100");
  });

  test("a swapped signature on a shown row is caught by the view's own check", async () => {
    const ctx = makeTestContext();
    const logIds = await seedTrail(ctx, 9);
    const alice = patient("MRN-100");
    expect((await viewTrail(ctx, alice)).ok).toBe(true);
    // Through the server's own connection, which changes neither data_version nor the newest
    // checkpoint: only the check of the rows being shown can notice.
    ctx.conn.sqlite
      .prepare(
        "UPDATE audit_records SET signature = (SELECT signature FROM audit_records WHERE seq = 5) WHERE seq = 4",
      )
      .run();
    expect((await ensureTrailIntact(ctx, { viewerId: null })).ok).toBe(true);

    expect(await viewTrail(ctx, alice)).toEqual({ ok: false });
    const status = expectCompromised(await ensureTrailIntact(ctx, { viewerId: null }));
    expect(status.findings).toEqual([
      expect.objectContaining({ kind: "modified", target: "record", seq: 4, logId: logIds[3] }),
    ]);
    // Now every view is withheld, also of patients whose rows were not touched.
    expect(await viewTrail(ctx, patient("MRN-102"))).toEqual({ ok: false });
    expect(count(ctx, "audit_records")).toBe(10);
    await alertsDelivered(ctx, 1);
  });

  test("a row beyond the verified checkpoint is never shown, and the full pass names it", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 8);
    ctx.conn.sqlite
      .prepare(
        `INSERT INTO audit_records SELECT 9, 'forged-log-id', log_id, patient_index, actor_index,
           action_index, table_index, patient_id_enc, actor_id_enc, actor_name_enc, action_enc,
           table_affected_enc, notes_enc, occurred_at, recorded_at, source_id, key_id, signature, extra_enc,
           purpose_index, purpose_enc
         FROM audit_records WHERE seq = 8`,
      )
      .run();
    // Views list only what the verified checkpoint seals (an append may land mid-view).
    const view = await viewTrail(ctx, auditor);
    expect(view.ok && view.records.map((r) => r.logId)).not.toContain("forged-log-id");
    const status = expectCompromised(await ensureTrailIntact(ctx, { viewerId: null, force: true }));
    expect(status.findings).toContainEqual(
      expect.objectContaining({ kind: "inserted", seq: 9, logId: "forged-log-id" }),
    );
    await alertsDelivered(ctx, 1);
  });
});

describe("the database file under a running server", () => {
  test("deleting it is reported on the next call", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 4);
    expect((await ensureTrailIntact(ctx, { viewerId: null })).ok).toBe(true);
    fs.unlinkSync(ctx.config.DATABASE_PATH);
    const status = expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-1" }));
    expect(status.findings).toEqual([
      expect.objectContaining({ kind: "missing", target: "database" }),
    ]);
    expect(status.findings[0]!.detail).toContain("deleted");
    expect(await status.alert).toMatchObject({ via: "outbox" });
    expect(await viewTrail(ctx, auditor)).toEqual({ ok: false });
    await expect(appendRecords(ctx, [sampleRecord(4)])).rejects.toBeInstanceOf(
      TrailCompromisedError,
    );
  });

  test("replacing it, even with an identical copy, is reported on the next call", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 4);
    expect((await ensureTrailIntact(ctx, { viewerId: null })).ok).toBe(true);
    ctx.conn.sqlite.pragma("wal_checkpoint(TRUNCATE)");
    const copy = `${ctx.dir}/copy.db`;
    fs.copyFileSync(ctx.config.DATABASE_PATH, copy);
    fs.renameSync(copy, ctx.config.DATABASE_PATH);
    const status = expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-1" }));
    expect(status.findings).toEqual([
      expect.objectContaining({ kind: "rollback", target: "database" }),
    ]);
    expect(status.findings[0]!.detail).toContain("replaced");
    expect(await status.alert).toMatchObject({ via: "outbox" });
    // Forcing a full pass does not clear it: the open connection no longer reads the file.
    expect((await ensureTrailIntact(ctx, { viewerId: null, force: true })).ok).toBe(false);
  });
});

describe("the witness of the newest verified head", () => {
  test("follows the process's own appends and names the last record", async () => {
    const ctx = makeTestContext();
    const logIds = await seedTrail(ctx, 6);
    const status = await ensureTrailIntact(ctx, { viewerId: null, force: true });
    if (!status.ok) throw new Error("the trail failed verification");
    expect(readHead(ctx.config.TRAIL_HEAD_PATH)).toMatchObject({
      state: "found",
      head: { number: 2, treeSize: 6, rootHash: status.checkpoint!.rootHash, lastLogId: logIds[5] },
    });
    await appendRecords(ctx, [sampleRecord(6)]);
    expect(readHead(ctx.config.TRAIL_HEAD_PATH)).toMatchObject({
      head: { number: 3, treeSize: 7 },
    });
  });

  test("is not moved by a failed verification", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 6);
    const before = readHead(ctx.config.TRAIL_HEAD_PATH);
    intrude(ctx, modifyNotes(1));
    await expectCompromised(await ensureTrailIntact(ctx, { viewerId: null })).alert;
    expect(readHead(ctx.config.TRAIL_HEAD_PATH)).toEqual(before);
  });

  test("reports a restart on an older copy of the database as a rollback", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 4);
    ctx.conn.sqlite.pragma("wal_checkpoint(TRUNCATE)");
    const backup = `${ctx.dir}/backup.db`;
    fs.copyFileSync(ctx.config.DATABASE_PATH, backup);
    const logIds = await seedTrail(ctx, 4);
    expect(await ensureTrailIntact(ctx, { viewerId: null })).toMatchObject({
      ok: true,
      records: 8,
    });
    expect(readHead(ctx.config.TRAIL_HEAD_PATH)).toMatchObject({
      head: { number: 2, treeSize: 8 },
    });

    ctx.conn.sqlite.close();
    fs.copyFileSync(backup, ctx.config.DATABASE_PATH);
    const restarted = restart(ctx);
    // The copy is internally consistent: only the witness shows what happened.
    expect(
      verify.verifyTrail(restarted.conn.sqlite, ctx.keys.trustedPublicKeys, {
        origin: ctx.config.TRAIL_ORIGIN,
        head: { state: "not_checked" },
      }).ok,
    ).toBe(true);
    const status = expectCompromised(await ensureTrailIntact(restarted, { viewerId: null }));
    // The records cut off are named by seq, and the last one by the log id the head kept.
    expect(status.findings).toEqual([
      expect.objectContaining({ kind: "rollback", target: "checkpoint", ref: "1" }),
      ...[5, 6, 7].map((seq) => expect.objectContaining({ kind: "missing", seq, logId: null })),
      expect.objectContaining({ kind: "missing", seq: 8, logId: logIds[3] }),
    ]);
    expect(status.findings[0]!.detail).toContain("older than #2");
    expect(await status.alert).toMatchObject({ via: "outbox" });
  });

  test("reports a restart on another, validly signed trail as rewritten history", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 8);
    // Another trail signed with the same keys (the test contexts share them), equally long.
    const other = makeTestContext();
    await seedTrail(other, 8);
    other.conn.sqlite.close();
    ctx.conn.sqlite.close();
    fs.copyFileSync(other.config.DATABASE_PATH, ctx.config.DATABASE_PATH);
    const restarted = restart(ctx);
    const status = expectCompromised(await ensureTrailIntact(restarted, { viewerId: null }));
    expect(status.findings).toContainEqual(
      expect.objectContaining({ kind: "rollback", target: "checkpoint", ref: "2" }),
    );
    expect(status.findings.find((f) => f.kind === "rollback")!.detail).toContain(
      "history was rewritten",
    );
    await status.alert;
  });
});
