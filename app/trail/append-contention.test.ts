import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { ActionFunctionArgs } from "@remix-run/node";
import Database from "better-sqlite3";
import { afterEach, describe, expect, test } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { intrude, sampleRecord } from "../../tests/trail";
import { addSource } from "../models/source.server";
import { action as appendEvents } from "../routes/api.audit-events";
import { action as appendFhirEvent } from "../routes/api.fhir.AuditEvent";
import { appendRecords } from "./append.server";
import { verifyNow } from "./guard.server";
import { LEASE_MS, NEXT_MS } from "./lease.server";

const ROOT = path.resolve(import.meta.dirname, "../..");
const IMPORTED = 2000;
const REQUESTS = 40;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function event(i: number) {
  return {
    patient_id: `MRN-${200 + (i % 7)}`,
    actor_id: `nurse-${i % 4}`,
    actor_name: `Nurse Example ${i % 4}`,
    action: "read",
    table_affected: "medications",
    occurred_at: new Date(Date.UTC(2025, 9, 1, 8) + i * 1000).toISOString(),
    notes: `contention ${i}`,
  };
}

/** An R4 AuditEvent as another system would send it. */
function fhirEvent() {
  return {
    resourceType: "AuditEvent",
    type: { system: "http://dicom.nema.org/resources/ontology/DCM", code: "110110" },
    action: "R",
    recorded: "2026-10-20T13:45:00+02:00",
    agent: [
      { who: { identifier: { value: "nurse-7" }, display: "Nurse Jackie" }, requestor: true },
    ],
    source: { observer: { display: "other-ehr" } },
    entity: [{ what: { reference: "Patient/MRN-207" } }],
  };
}

let importer: ChildProcess | undefined;
afterEach(() => {
  importer?.kill("SIGKILL");
  importer = undefined;
});

/** Runs the real `import` command on the test's database, as an operator would beside the server. */
function startImport(ctx: TestContext, file: string) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "cli/main.ts", "import", file, "--source", "bulk-import", "--batch", "50"],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_PATH: ctx.config.DATABASE_PATH,
        KEYS_DIR: ctx.config.KEYS_DIR,
        TRAIL_HEAD_PATH: ctx.config.TRAIL_HEAD_PATH,
        OUTBOX_DIR: ctx.config.OUTBOX_DIR,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  importer = child;
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; output: string }>((resolve) =>
    child.on("exit", (code) => resolve({ code, output })),
  );
  return { child, exited };
}

type Action = (args: ActionFunctionArgs) => Promise<Response>;

/** Calls a route's action as the server would; a thrown error is what Remix answers with 500. */
function post(route: Action, ctx: TestContext, token: string, body: object): Promise<Response> {
  const request = new Request("http://localhost/api", {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return route({
    request,
    context: { app: ctx },
    params: {},
  } as unknown as ActionFunctionArgs).catch((error: Error) =>
    Response.json({ thrown: error.message }, { status: 500 }),
  );
}

describe("appends while another process imports", () => {
  test("the API never answers 5xx but 503 with Retry-After, and the trail holds everything and verifies", async () => {
    const ctx = makeTestContext();
    // The lease is shared with a process on the real clock.
    ctx.now = Date.now;
    const { token } = addSource(ctx, "ward-ehr");
    const file = path.join(ctx.dir, "bulk.ndjson");
    fs.writeFileSync(
      file,
      Array.from({ length: IMPORTED }, (_, i) => `${JSON.stringify(event(i))}\n`).join(""),
    );

    const { child, exited } = startImport(ctx, file);
    const running = () => child.exitCode === null && child.signalCode === null;
    const importedSoFar = ctx.conn.sqlite
      .prepare("SELECT count(*) FROM audit_records WHERE source_id = 'bulk-import'")
      .pluck();
    while (running() && importedSoFar.get() === 0) await sleep(20);

    const answers: string[] = [];
    let accepted = 0;
    for (let i = 0; i < REQUESTS && running(); i++) {
      const events = Array.from({ length: 10 }, (_, j) => event(i * 10 + j));
      const response = await post(appendEvents, ctx, token, { records: events });
      if (response.status === 201) accepted += events.length;
      else if (response.status !== 503 || !response.headers.get("Retry-After")) {
        answers.push(`${response.status} ${await response.text()}`);
      }
      await sleep(10);
    }
    const { code, output } = await exited;

    expect(answers).toEqual([]);
    expect(code, output).toBe(0);
    const count = (source: string) =>
      ctx.conn.sqlite
        .prepare(
          "SELECT count(*) AS n, min(seq) AS first, max(seq) AS last FROM audit_records WHERE source_id = ?",
        )
        .get(source) as { n: number; first: number; last: number };
    const imported = count("bulk-import");
    const api = count("ward-ehr");
    expect(imported.n).toBe(IMPORTED);
    expect(api.n).toBe(accepted);
    // The appends really raced the import: some landed between its batches.
    expect(api.first).toBeLessThan(imported.last);
    expect(api.last).toBeGreaterThan(imported.first);

    const report = verifyNow(ctx);
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.records).toBe(IMPORTED + accepted);
  }, 60_000);
});

/** What an append is doing `ms` after it started: still waiting for its turn, or done. */
const after = (append: Promise<unknown>, ms: number) =>
  Promise.race([append.then(() => "appended"), sleep(ms).then(() => "waiting")]);

function writeLeaseRow(ctx: TestContext, id: number, holder: string, expiresAt: number) {
  intrude(ctx, (db) =>
    db
      .prepare("INSERT INTO append_lease (id, holder, expires_at) VALUES (?, ?, ?)")
      .run(id, holder, expiresAt),
  );
}

const leaseRows = (ctx: TestContext) =>
  ctx.conn.sqlite.prepare("SELECT count(*) FROM append_lease").pluck().get();

describe("the append lease", () => {
  // The test clock stands still unless a test moves it: a lease that is waited for is waited for
  // until the test says its time has passed.

  test("a lease an intruder sets far ahead is void: the append goes ahead at once", async () => {
    const ctx = makeTestContext();
    writeLeaseRow(ctx, 1, "intruder", ctx.clock.now + 10 * 365 * 86_400_000);
    expect(await after(appendRecords(ctx, [sampleRecord(1)]), 10_000)).toBe("appended");
    expect(leaseRows(ctx)).toBe(0);
  });

  test("a lease set as far ahead as a holder may delays an append by that one lease only", async () => {
    const ctx = makeTestContext();
    writeLeaseRow(ctx, 1, "intruder", ctx.clock.now + LEASE_MS);
    const append = appendRecords(ctx, [sampleRecord(1)]);
    expect(await after(append, 200)).toBe("waiting");
    ctx.clock.now += LEASE_MS - 1;
    expect(await after(append, 200)).toBe("waiting");
    ctx.clock.now += 1;
    expect(await after(append, 10_000)).toBe("appended");
    expect((await append).records[0]!.seq).toBe(1);
  });

  test("the lease of a writer that died is taken over once expired", async () => {
    const ctx = makeTestContext();
    writeLeaseRow(ctx, 1, "4242:crashed-import", ctx.clock.now - 1);
    expect(await after(appendRecords(ctx, [sampleRecord(1)]), 10_000)).toBe("appended");
    expect(leaseRows(ctx)).toBe(0);
  });

  test("a writer in line goes first; a place in line that is not kept lapses", async () => {
    const ctx = makeTestContext();
    writeLeaseRow(ctx, 2, "9999:waiting-server", ctx.clock.now + NEXT_MS);
    const append = appendRecords(ctx, [sampleRecord(1)]);
    expect(await after(append, 200)).toBe("waiting");
    ctx.clock.now += NEXT_MS;
    expect(await after(append, 10_000)).toBe("appended");
    expect(leaseRows(ctx)).toBe(0);
  });

  test("while the database stays locked, both APIs answer 503 with Retry-After and store nothing", async () => {
    const ctx = makeTestContext();
    const { token } = addSource(ctx, "ward-ehr");
    ctx.conn.sqlite.pragma("busy_timeout = 50");
    const locker = new Database(ctx.config.DATABASE_PATH);
    locker.exec("BEGIN IMMEDIATE");
    try {
      const json = await post(appendEvents, ctx, token, event(1));
      expect(json.status).toBe(503);
      expect(json.headers.get("Retry-After")).toMatch(/^\d+$/);
      expect((await json.json()).error.code).toBe("trail_busy");

      const fhir = await post(appendFhirEvent, ctx, token, fhirEvent());
      expect(fhir.status).toBe(503);
      expect(fhir.headers.get("Retry-After")).toMatch(/^\d+$/);
      expect(fhir.headers.get("Content-Type")).toBe("application/fhir+json");
      expect((await fhir.json()).issue[0].code).toBe("lock-error");
    } finally {
      locker.exec("ROLLBACK");
      locker.close();
    }
    expect(ctx.conn.sqlite.prepare("SELECT count(*) FROM audit_records").pluck().get()).toBe(0);
  });
});
