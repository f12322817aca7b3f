import fs from "node:fs";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { intrude, seedTrail } from "../../tests/trail";
import { auditor } from "../../tests/users";
import { addSource } from "../models/source.server";
import { loader as fhirRead } from "../routes/api.fhir.AuditEvent.$id";
import { ensureTrailIntact } from "../trail/guard.server";
import { buildDashboard } from "./dashboard.server";
import { startExport } from "./export.server";
import { recordDetail } from "./record-detail.server";
import { viewTrail } from "./trail-view.server";

// Alerts go to the outbox and announce themselves with console.warn.
let warn: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
});
afterEach(() => {
  warn.mockRestore();
});

/** A trail of 9 records from the source "test-ehr"; seq 9 is shown by every read below. */
async function trail() {
  const ctx = makeTestContext();
  const logIds = await seedTrail(ctx, 9);
  const { token } = addSource(ctx, "test-ehr");
  return { ctx, logIds, token };
}

/** Through the server's own connection: neither data_version nor the newest checkpoint moves, so
 * the guard keeps its verdict and only the check of the rows read can notice. */
const swapSignatureOfSeq9 = (ctx: TestContext) =>
  ctx.conn.sqlite
    .prepare(
      "UPDATE audit_records SET signature = (SELECT signature FROM audit_records WHERE seq = 8) WHERE seq = 9",
    )
    .run();

async function exportOutcome(ctx: TestContext): Promise<string> {
  const started = await startExport(ctx, auditor, {}, "csv");
  if (!started.ok) return started.reason;
  return new Response(started.stream).text().then(
    () => "signed",
    () => "stopped",
  );
}

async function fhirStatus(ctx: TestContext, token: string, logId: string): Promise<number> {
  const request = new Request(`http://localhost/api/fhir/AuditEvent/${logId}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  const response = await fhirRead({
    request,
    params: { id: logId },
    context: { app: ctx, cspNonce: "", clientAddress: "127.0.0.1" },
  });
  return response.status;
}

async function expectIncidentForSeq9(ctx: TestContext) {
  const status = await ensureTrailIntact(ctx, { viewerId: null });
  expect(!status.ok && status.findings).toContainEqual(
    expect.objectContaining({ kind: "modified", target: "record", seq: 9 }),
  );
  await vi.waitFor(() => {
    const files = fs.existsSync(ctx.config.OUTBOX_DIR) ? fs.readdirSync(ctx.config.OUTBOX_DIR) : [];
    expect(files.filter((f) => f.endsWith(".eml"))).toHaveLength(1);
  });
}

type Read = (ctx: TestContext, logId: string, token: string) => Promise<unknown>;

// What each read answers on a good trail, when its own check catches the change, and afterwards.
const READS: [path: string, read: Read, good: unknown, caught: unknown, refused: unknown][] = [
  ["the home view", async (ctx) => (await viewTrail(ctx, auditor)).ok, true, false, false],
  [
    "a record's detail",
    async (ctx, logId) => (await recordDetail(ctx, auditor, logId)).kind,
    "ok",
    "compromised",
    "compromised",
  ],
  // The export checks its rows as it streams them: it stops, unsigned; a later one is refused.
  ["an export", (ctx) => exportOutcome(ctx), "signed", "stopped", "compromised"],
  ["a source's FHIR read", (ctx, logId, token) => fhirStatus(ctx, token, logId), 200, 503, 503],
  [
    "the dashboard",
    async (ctx) => (await buildDashboard(ctx, auditor)) !== null,
    true,
    false,
    false,
  ],
];

describe("a row changed where the guard cannot see it", () => {
  test.each(READS)("is caught by %s, which answers compromised and alerts", async (...args) => {
    const [, read, good, caught, refused] = args;
    const { ctx, logIds, token } = await trail();
    expect(await read(ctx, logIds[8]!, token)).toEqual(good);
    swapSignatureOfSeq9(ctx);
    expect((await ensureTrailIntact(ctx, { viewerId: null })).ok).toBe(true);

    expect(await read(ctx, logIds[8]!, token)).toEqual(caught);
    await expectIncidentForSeq9(ctx);
    // From now on every read is refused, not only those of the changed row.
    expect(await read(ctx, logIds[0]!, token)).toEqual(refused);
  });
});

test("an export started before an intruder changes a row stops there, unsigned, and alerts", async () => {
  const { ctx } = await trail();
  const started = await startExport(ctx, auditor, {}, "csv");
  if (!started.ok) throw new Error("expected the export to start");
  // The pages are checked against the checkpoint verified at the start, not verified again.
  intrude(ctx, (db) =>
    db.prepare("UPDATE audit_records SET notes_enc = notes_enc || x'00' WHERE seq = 9").run(),
  );
  await expect(new Response(started.stream).text()).rejects.toThrow(/failed its check/);
  await expectIncidentForSeq9(ctx);
});
