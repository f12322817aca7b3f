// The head kept outside the database is the anchor that catches a rollback. An intruder who can
// write every file deletes it, fills it with garbage, or cuts off the newest records: each is a
// finding with an alert, and only the operator's explicit `trust reset` re-anchors the trail.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { afterEach, beforeEach, expect, test } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { openMailbox, type Mailbox } from "../../tests/mailbox";
import { intrude, seedTrail } from "../../tests/trail";
import { auditor } from "../../tests/users";
import { viewTrail } from "../services/trail-view.server";
import { ensureTrailIntact } from "./guard.server";
import { resetTrust } from "./trust-reset.server";
import { readHead } from "./witness.server";

let mailbox: Mailbox;
let ctx: TestContext;
let logIds: string[];
beforeEach(async () => {
  mailbox = await openMailbox();
  ctx = makeTestContext(mailbox.env);
  logIds = await seedTrail(ctx, 8);
  expect((await ensureTrailIntact(ctx)).ok).toBe(true);
});
afterEach(() => mailbox.close());

async function expectFindings() {
  const status = await ensureTrailIntact(ctx, { viewerId: "viewer-1" });
  if (status.ok) throw new Error("expected the trail to be reported compromised");
  await status.alert;
  expect(await viewTrail(ctx, auditor)).toEqual({ ok: false });
  return status.findings;
}

const alertText = async () => (await mailbox.received())[0]!.text ?? "";

test("a deleted head file is a finding, not a pass", async () => {
  fs.rmSync(ctx.config.TRAIL_HEAD_PATH);
  expect(await expectFindings()).toEqual([
    expect.objectContaining({ kind: "anchor", target: "head", ref: ctx.config.TRAIL_HEAD_PATH }),
  ]);
  expect(await alertText()).toMatch(/Head missing or unreadable \(1\):\n {2}- head .*is missing/);
  // The server does not quietly write a new head over the finding.
  expect(fs.existsSync(ctx.config.TRAIL_HEAD_PATH)).toBe(false);
});

test("a head file filled with garbage is a finding, and the server keeps it", async () => {
  fs.writeFileSync(ctx.config.TRAIL_HEAD_PATH, "\u0000garbage{");
  expect(await expectFindings()).toEqual([
    expect.objectContaining({ kind: "anchor", detail: expect.stringContaining("is not JSON") }),
  ]);
  expect(fs.readFileSync(ctx.config.TRAIL_HEAD_PATH, "utf8")).toBe("\u0000garbage{");
  fs.writeFileSync(ctx.config.TRAIL_HEAD_PATH, JSON.stringify({ number: -1 }));
  const findings = await expectFindings();
  expect(findings[0]!.detail).toContain("is not a tree head");
});

test("a new trail with no checkpoint yet needs no head", async () => {
  const fresh = makeTestContext();
  expect(fs.existsSync(fresh.config.TRAIL_HEAD_PATH)).toBe(false);
  expect(await ensureTrailIntact(fresh)).toMatchObject({ ok: true, records: 0 });
});

test("cutting off the newest records and their checkpoints names every one of them", async () => {
  intrude(ctx, (db) => {
    db.prepare("DELETE FROM audit_records WHERE seq > 4").run();
    db.prepare("DELETE FROM checkpoints WHERE tree_size > 4").run();
  });
  const findings = await expectFindings();
  const missing = findings.filter((f) => f.kind === "missing");
  expect(missing.map((f) => f.seq)).toEqual([5, 6, 7, 8]);
  expect(missing.at(-1)!.logId).toBe(logIds[7]);
  const text = await alertText();
  expect(text).toContain("Rolled back (1):");
  expect(text).toMatch(/Missing \(4\):/);
  expect(text).toContain(`seq 8, log id ${logIds[7]}: the record is missing`);
});

test("trust reset re-anchors a restored trail, records itself and mails the admins", async () => {
  fs.rmSync(ctx.config.TRAIL_HEAD_PATH);
  await expectFindings();
  intrude(ctx, (db) =>
    db
      .prepare("INSERT INTO sources (id, name, token_hash, created_at) VALUES ('x', 'x', x'00', 0)")
      .run(),
  );
  const result = await resetTrust(ctx, "restored the 02:00 backup after a disk failure", "ops");
  expect(result).toMatchObject({ ok: true, removed: ["source x"], head: { treeSize: 9 } });
  expect(readHead(ctx.config.TRAIL_HEAD_PATH)).toMatchObject({
    state: "found",
    head: { treeSize: 9 },
  });
  expect(await ensureTrailIntact(ctx, { viewerId: null })).toMatchObject({ ok: true, records: 9 });
  const mails = await mailbox.received(2);
  const notice = mails.find((m) => m.subject?.includes("reset the trusted head"))!;
  expect(notice.text).toContain("Reason: restored the 02:00 backup after a disk failure");
  expect(notice.text).toContain("Head before: missing");
  expect(notice.text).toContain("  - source x");
});

test("trust reset refuses a trail whose records fail", async () => {
  intrude(ctx, (db) =>
    db.prepare("UPDATE audit_records SET notes_enc = notes_enc || x'00' WHERE seq = 3").run(),
  );
  const result = await resetTrust(ctx, "trying to hide an edit", "ops");
  expect(result).toMatchObject({
    ok: false,
    findings: [expect.objectContaining({ kind: "modified", seq: 3 })],
  });
  expect(readHead(ctx.config.TRAIL_HEAD_PATH)).toMatchObject({ head: { treeSize: 8 } });
  await expectFindings();
});

test("a head file rewritten to match a truncated trail does not fool the running server", async () => {
  const cp1 = ctx.conn.sqlite
    .prepare("SELECT number, tree_size, root_hash, last_log_id FROM checkpoints WHERE number = 1")
    .get() as { number: number; tree_size: number; root_hash: Buffer; last_log_id: string };
  intrude(ctx, (db) => {
    db.prepare("DELETE FROM audit_records WHERE seq > ?").run(cp1.tree_size);
    db.prepare("DELETE FROM checkpoints WHERE number > 1").run();
  });
  fs.writeFileSync(
    ctx.config.TRAIL_HEAD_PATH,
    JSON.stringify({
      number: cp1.number,
      treeSize: cp1.tree_size,
      rootHash: cp1.root_hash.toString("hex"),
      lastLogId: cp1.last_log_id,
    }),
  );
  const findings = await expectFindings();
  expect(findings[0]).toMatchObject({ kind: "rollback" });
  expect(findings.filter((f) => f.kind === "missing").map((f) => f.seq)).toEqual([5, 6, 7, 8]);
  // Still caught after a later write: what the server trusted is not forgotten on a failed pass.
  intrude(ctx, (db) => db.prepare("UPDATE incidents SET triggered_by = 'x'").run());
  expect((await ensureTrailIntact(ctx, { viewerId: null })).ok).toBe(false);
});

test("a FIFO, a directory or a huge tree size in place of the head stalls nothing", async () => {
  fs.rmSync(ctx.config.TRAIL_HEAD_PATH);
  execFileSync("mkfifo", [ctx.config.TRAIL_HEAD_PATH]);
  expect(await expectFindings()).toEqual([
    expect.objectContaining({ kind: "anchor", detail: expect.stringContaining("ENOTFILE") }),
  ]);
  fs.rmSync(ctx.config.TRAIL_HEAD_PATH);
  fs.mkdirSync(ctx.config.TRAIL_HEAD_PATH);
  expect((await expectFindings())[0]).toMatchObject({ kind: "anchor" });
  fs.rmdirSync(ctx.config.TRAIL_HEAD_PATH);

  const huge = { number: 99, treeSize: Number.MAX_SAFE_INTEGER, rootHash: "00".repeat(32) };
  fs.writeFileSync(ctx.config.TRAIL_HEAD_PATH, JSON.stringify(huge));
  const started = Date.now();
  const findings = await expectFindings();
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(findings.filter((f) => f.kind === "missing").length).toBeLessThanOrEqual(1002);
});

test("an alert log turned into a directory does not silence the alert", async () => {
  fs.mkdirSync(`${ctx.config.TRAIL_HEAD_PATH}.alerts`);
  intrude(ctx, (db) =>
    db.prepare("UPDATE audit_records SET notes_enc = notes_enc || x'00' WHERE seq = 2").run(),
  );
  await expectFindings();
  expect(await alertText()).toContain(`seq 2, log id ${logIds[1]}`);
});
