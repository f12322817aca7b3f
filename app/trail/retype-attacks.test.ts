// SQLite stores any type in any column. An intruder who re-types a value in place keeps its bytes
// (and so its signature), yet changes what SQL look-ups match: a blind index stored as text hides
// the record from its patient's view. A trigger planted in the file can do it to every new record.
import { expect, test, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { intrude, sampleRecord, seedTrail } from "../../tests/trail";
import { appendRecords } from "./append.server";
import { viewTrail } from "../services/trail-view.server";
import { patient } from "../../tests/users";
import { ensureTrailIntact, TrailCompromisedError } from "./guard.server";
import { verifyTrail } from "./verify.server";

async function trail(): Promise<{ ctx: TestContext; logIds: string[] }> {
  const ctx = makeTestContext();
  const logIds = await seedTrail(ctx, 8);
  expect((await ensureTrailIntact(ctx)).ok).toBe(true);
  return { ctx, logIds };
}

const offline = (ctx: TestContext) =>
  verifyTrail(ctx.conn.sqlite, ctx.keys.trustedPublicKeys, {
    origin: ctx.config.TRAIL_ORIGIN,
    head: { state: "not_checked" },
  }).findings.map((f) => ({
    kind: f.kind,
    target: f.target,
    seq: f.seq,
    logId: f.logId,
    detail: f.detail,
  }));

test.each([
  ["a blind index stored as text", "patient_index = CAST(patient_index AS TEXT)"],
  ["a time stored as a real number", "occurred_at = occurred_at + 0.5"],
  ["a log id stored as bytes", "log_id = CAST(log_id AS BLOB)"],
])("%s is caught and named", async (_, change) => {
  const { ctx, logIds } = await trail();
  intrude(ctx, (db) => db.prepare(`UPDATE audit_records SET ${change} WHERE seq = 8`).run());
  expect(offline(ctx)).toEqual([
    {
      kind: "modified",
      target: "record",
      seq: 8,
      logId: logIds[7],
      detail: expect.stringMatching(/another type|differs from what was signed/),
    },
  ]);
  const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
  const status = await ensureTrailIntact(ctx, { viewerId: null });
  expect(status.ok).toBe(false);
  if (!status.ok) expect(await status.alert).not.toBeNull();
  // The patient whose record it is sees nothing rather than a silently shorter list.
  expect(await viewTrail(ctx, patient("MRN-101"))).toEqual({ ok: false });
  warn.mockRestore();
});

test("a purpose's blind index stored as text, which hides an emergency from the dashboard, is caught", async () => {
  const { ctx } = await trail();
  const { logId } = (await appendRecords(ctx, [{ ...sampleRecord(9), purpose: "BTG" }]))
    .records[0]!;
  intrude(ctx, (db) =>
    db
      .prepare("UPDATE audit_records SET purpose_index = CAST(purpose_index AS TEXT) WHERE seq = 9")
      .run(),
  );
  expect(offline(ctx)).toEqual([
    { kind: "modified", target: "record", seq: 9, logId, detail: expect.any(String) },
  ]);
});

test("a trigger planted in the file is a finding", async () => {
  const { ctx } = await trail();
  intrude(ctx, (db) =>
    db.exec(
      "CREATE TRIGGER hide AFTER INSERT ON audit_records BEGIN UPDATE audit_records SET patient_index = CAST(patient_index AS TEXT) WHERE seq = NEW.seq; END",
    ),
  );
  expect(offline(ctx)).toEqual([
    expect.objectContaining({
      kind: "modified",
      target: "database",
      detail: expect.stringContaining('"hide"'),
    }),
  ]);
});

test("a trigger that blocks the append lease makes appends refuse as compromised, not fail", async () => {
  const { ctx } = await trail();
  intrude(ctx, (db) =>
    db.exec(
      "CREATE TRIGGER block BEFORE INSERT ON append_lease BEGIN SELECT RAISE(ABORT, 'nope'); END",
    ),
  );
  const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
  await expect(appendRecords(ctx, [sampleRecord(9)])).rejects.toBeInstanceOf(TrailCompromisedError);
  warn.mockRestore();
});
