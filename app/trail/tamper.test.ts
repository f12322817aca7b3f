import { describe, expect, test, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { intrude, sampleRecord, seedTrail } from "../../tests/trail";
import { appendRecords } from "./append.server";
import { ensureTrailIntact, verifyNow } from "./guard.server";
import { verifyTrail, type Finding } from "./verify.server";

async function trailOf(count: number) {
  const ctx = makeTestContext();
  const logIds = await seedTrail(ctx, count);
  expect(verifyNow(ctx).ok).toBe(true);
  return { ctx, logIds };
}

/** Verification with only the public keys, as the offline verifier runs it with --no-head. */
function offline(ctx: TestContext) {
  return verifyTrail(ctx.conn.sqlite, ctx.keys.trustedPublicKeys, {
    origin: ctx.config.TRAIL_ORIGIN,
    head: { state: "not_checked" },
  });
}

const summary = (findings: Finding[]) =>
  findings.map((f) => ({
    kind: f.kind,
    target: f.target,
    seq: f.seq,
    logId: f.logId ?? undefined,
  }));

describe("verification of an untouched trail", () => {
  test("is clean and counts every record", async () => {
    const { ctx } = await trailOf(10);
    const report = offline(ctx);
    expect(report).toMatchObject({ ok: true, records: 10, findings: [] });
    expect(report.checkpoint?.treeSize).toBe(10);
  });
});

describe("each tamper made through a second connection is caught and named", () => {
  test("a modified ciphertext", async () => {
    const { ctx, logIds } = await trailOf(10);
    intrude(ctx, (db) =>
      db.prepare("UPDATE audit_records SET notes_enc = notes_enc || x'00' WHERE seq = 4").run(),
    );
    expect(summary(offline(ctx).findings)).toEqual([
      { kind: "modified", target: "record", seq: 4, logId: logIds[3] },
    ]);
  });

  test("what the source sent, removed from a record or added to one", async () => {
    const { ctx, logIds } = await trailOf(10);
    const sent = await appendRecords(ctx, [{ ...sampleRecord(10), extra: '{"outcome":"0"}' }]);
    expect(offline(ctx).ok).toBe(true);
    intrude(ctx, (db) => {
      db.prepare("UPDATE audit_records SET extra_enc = NULL WHERE seq = 11").run();
      db.prepare(
        "UPDATE audit_records SET extra_enc = (SELECT notes_enc FROM audit_records WHERE seq = 2) WHERE seq = 2",
      ).run();
    });
    expect(summary(offline(ctx).findings)).toEqual([
      { kind: "modified", target: "record", seq: 2, logId: logIds[1] },
      { kind: "modified", target: "record", seq: 11, logId: sent.records[0]!.logId },
    ]);
  });

  test("a modified signature", async () => {
    const { ctx, logIds } = await trailOf(10);
    intrude(ctx, (db) => {
      const { signature } = db
        .prepare("SELECT signature FROM audit_records WHERE seq = 7")
        .get() as {
        signature: Buffer;
      };
      signature[100]! ^= 0x01;
      db.prepare("UPDATE audit_records SET signature = ? WHERE seq = 7").run(signature);
    });
    expect(summary(offline(ctx).findings)).toEqual([
      { kind: "bad_signature", target: "record", seq: 7, logId: logIds[6] },
    ]);
  });

  test("a deleted middle row", async () => {
    const { ctx, logIds } = await trailOf(10);
    intrude(ctx, (db) => db.prepare("DELETE FROM audit_records WHERE seq = 5").run());
    expect(summary(offline(ctx).findings)).toEqual([
      { kind: "missing", target: "record", seq: 5, logId: logIds[4] },
    ]);
  });

  test("a deleted last row", async () => {
    const { ctx, logIds } = await trailOf(10);
    intrude(ctx, (db) => db.prepare("DELETE FROM audit_records WHERE seq = 10").run());
    expect(summary(offline(ctx).findings)).toEqual([
      { kind: "missing", target: "record", seq: 10, logId: logIds[9] },
    ]);
  });

  test("a forged row inserted after the last", async () => {
    const { ctx } = await trailOf(10);
    intrude(ctx, (db) =>
      db
        .prepare(
          `INSERT INTO audit_records SELECT 11, 'forged-log-id', log_id, patient_index, actor_index,
             action_index, table_index, patient_id_enc, actor_id_enc, actor_name_enc, action_enc,
             table_affected_enc, notes_enc, occurred_at, recorded_at, source_id, key_id, randomblob(384), extra_enc,
             purpose_index, purpose_enc
           FROM audit_records WHERE seq = 10`,
        )
        .run(),
    );
    expect(summary(offline(ctx).findings)).toEqual([
      { kind: "inserted", target: "record", seq: 11, logId: "forged-log-id" },
    ]);
  });

  test("a duplicated row", async () => {
    const { ctx, logIds } = await trailOf(10);
    intrude(ctx, (db) => {
      db.exec("DROP INDEX audit_records_log_id");
      db.prepare(
        "INSERT INTO audit_records SELECT 11, log_id, prev_log_id, patient_index, actor_index, action_index, table_index, patient_id_enc, actor_id_enc, actor_name_enc, action_enc, table_affected_enc, notes_enc, occurred_at, recorded_at, source_id, key_id, signature, extra_enc, purpose_index, purpose_enc FROM audit_records WHERE seq = 3",
      ).run();
    });
    const findings = summary(offline(ctx).findings);
    expect(findings).toContainEqual({
      kind: "duplicated",
      target: "record",
      seq: 11,
      logId: logIds[2],
    });
    expect(findings).toContainEqual({
      kind: "inserted",
      target: "record",
      seq: 11,
      logId: logIds[2],
    });
    expect(findings.every((f) => f.seq === 11)).toBe(true);
  });

  test("two rows' seq swapped", async () => {
    const { ctx, logIds } = await trailOf(10);
    intrude(ctx, (db) => {
      db.prepare("UPDATE audit_records SET seq = -1 WHERE seq = 3").run();
      db.prepare("UPDATE audit_records SET seq = 3 WHERE seq = 8").run();
      db.prepare("UPDATE audit_records SET seq = 8 WHERE seq = -1").run();
    });
    expect(summary(offline(ctx).findings)).toEqual([
      { kind: "reordered", target: "record", seq: 3, logId: logIds[7] },
      { kind: "reordered", target: "record", seq: 8, logId: logIds[2] },
    ]);
  });

  test("one row's ciphertext copied into another row", async () => {
    const { ctx, logIds } = await trailOf(10);
    intrude(ctx, (db) =>
      db
        .prepare(
          "UPDATE audit_records SET patient_id_enc = (SELECT patient_id_enc FROM audit_records WHERE seq = 2) WHERE seq = 6",
        )
        .run(),
    );
    expect(summary(offline(ctx).findings)).toEqual([
      { kind: "modified", target: "record", seq: 6, logId: logIds[5] },
    ]);
  });

  test("the newest checkpoint replaced with an older one", async () => {
    const { ctx } = await trailOf(12);
    intrude(ctx, (db) => {
      const newest = (db.prepare("SELECT max(number) AS n FROM checkpoints").get() as { n: number })
        .n;
      db.prepare(
        `UPDATE checkpoints SET (origin, tree_size, root_hash, last_log_id, created_at, key_id, signature, frontier) =
           (SELECT origin, tree_size, root_hash, last_log_id, created_at, key_id, signature, frontier FROM checkpoints WHERE number = ?)
         WHERE number = ?`,
      ).run(newest - 1, newest);
    });
    const findings = offline(ctx).findings;
    expect(findings[0]).toMatchObject({ kind: "bad_checkpoint", target: "checkpoint", ref: "3" });
    // The four records the real newest checkpoint sealed are now signed but unsealed.
    expect(findings.filter((f) => f.target === "record").map((f) => [f.kind, f.seq])).toEqual([
      ["bad_checkpoint", 9],
      ["bad_checkpoint", 10],
      ["bad_checkpoint", 11],
      ["bad_checkpoint", 12],
    ]);
  });

  test("a user's role column changed", async () => {
    const { ctx } = await trailOf(2);
    const { registerWithPassword: registerUser } =
      await import("../services/enrol-with-password.server");
    const { createInvitation } = await import("../models/invitation.server");
    const patient = createInvitation(ctx, { role: "patient", patientId: "MRN-5" });
    const auditor = createInvitation(ctx, { role: "auditor" });
    const base = {
      name: "N",
      password: "long enough password",
      confirmPassword: "long enough password",
    };
    const p = await registerUser(ctx, {
      ...base,
      username: "pat",
      userType: "patient",
      code: patient.code,
    });
    const a = await registerUser(ctx, {
      ...base,
      username: "aud",
      userType: "auditor",
      code: auditor.code,
    });
    if (!p.ok || !a.ok) throw new Error("setup");
    intrude(ctx, (db) =>
      db
        .prepare(
          "UPDATE users SET role_enc = (SELECT role_enc FROM users WHERE id = ?) WHERE id = ?",
        )
        .run(a.user.id, p.user.id),
    );
    expect(offline(ctx).findings).toEqual([
      expect.objectContaining({ kind: "modified", target: "user", ref: p.user.id }),
    ]);
  });

  test("the whole file rolled back to an older copy", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 4);
    const fs = await import("node:fs");
    ctx.conn.sqlite.pragma("wal_checkpoint(TRUNCATE)");
    fs.copyFileSync(ctx.config.DATABASE_PATH, `${ctx.dir}/old.db`);
    await seedTrail(ctx, 4);
    expect((await ensureTrailIntact(ctx)).ok).toBe(true);
    // Restore the old copy's content into the live file through SQLite, as a restore would.
    intrude(ctx, (db) => {
      db.exec(`ATTACH '${ctx.dir}/old.db' AS old`);
      db.exec(
        "DELETE FROM audit_records; INSERT INTO audit_records SELECT * FROM old.audit_records;",
      );
      db.exec("DELETE FROM checkpoints; INSERT INTO checkpoints SELECT * FROM old.checkpoints;");
    });
    // Internally consistent, so only the witnessed head shows it.
    expect(offline(ctx).ok).toBe(true);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const status = await ensureTrailIntact(ctx);
    expect(status.ok).toBe(false);
    expect(!status.ok && status.findings.map((f) => f.kind)).toContain("rollback");
    if (!status.ok) await status.alert;
    warn.mockRestore();
  });
});
