import fs from "node:fs";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { intrude } from "../../tests/trail";
import { fromAuditEvent } from "../fhir/audit-event.server";
import { keyIdOf } from "../keys.server";
import { listRecords, type AuditRecordView } from "../models/record.server";
import { openRecords } from "../services/open-records.server";
import type { User } from "../models/user.server";
import { CSV_COLUMNS, startExport, type ExportFormat } from "../services/export.server";
import type { RecordFilters } from "../services/record-query.server";
import { SELF_SOURCE } from "./self-source";
import { appendRecords, type RecordInput } from "./append.server";
import { parseCsv, verifyExport } from "./export-verify.server";
import { ensureTrailIntact, verifyNow } from "./guard.server";
import { patient, auditor } from "../../tests/users";

// A tampered trail raises an alert, written to the outbox with a console.warn.
let warn: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
});
afterEach(() => {
  warn.mockRestore();
});

const TRICKY_NOTES = [
  'said "hello", then left',
  "line one\nline two\r\nline three",
  '=HYPERLINK("http://evil.example","click")',
  "+1 dose, -2 dose",
  "@SUM(A1:A9)",
  "",
];
const PATIENTS = ["MRN-1", "MRN-2", "MRN-3"];
const ACTIONS = ["read", "update", "print", "create"];
const TABLES = ["lab_results", "medications", "notes"];

function input(i: number): RecordInput {
  return {
    patientId: PATIENTS[i % PATIENTS.length]!,
    actorId: `dr-${i % 4}`,
    actorName: i === 5 ? 'Smith, Jane "JJ"' : `Dr. Example ${i % 4}`,
    action: ACTIONS[i % ACTIONS.length]!,
    tableAffected: TABLES[i % TABLES.length]!,
    occurredAt: Date.UTC(2026, 9, 10, 8) + i * 3_600_000,
    notes: i < TRICKY_NOTES.length ? TRICKY_NOTES[i]! : `ordinary note ${i}`,
    sourceId: "test-ehr",
    purpose: [null, "TREAT", "BTG"][i % 3],
  };
}

const RECORDS = 12;

async function buildTrail(count = RECORDS): Promise<TestContext> {
  const ctx = makeTestContext();
  const inputs = Array.from({ length: count }, (_, i) => input(i));
  for (let i = 0; i < inputs.length; i += 5) await appendRecords(ctx, inputs.slice(i, i + 5));
  expect(verifyNow(ctx).ok).toBe(true);
  return ctx;
}

async function currentCheckpoint(ctx: TestContext) {
  const status = await ensureTrailIntact(ctx, { viewerId: null });
  if (!status.ok || !status.checkpoint) throw new Error("expected an intact, non-empty trail");
  return status.checkpoint;
}

/** What `viewer` may see under `filters` right now, newest first, checked and decrypted. */
async function visible(
  ctx: TestContext,
  viewer: User,
  filters: RecordFilters = {},
): Promise<AuditRecordView[]> {
  const page = listRecords(ctx, viewer, filters, {
    sealedUpTo: Number.MAX_SAFE_INTEGER,
    limit: 10_000,
  });
  return openRecords(ctx, page.records, await currentCheckpoint(ctx));
}

async function exportFile(
  ctx: TestContext,
  viewer: User,
  format: ExportFormat,
  filters: RecordFilters = {},
): Promise<Buffer> {
  const started = await startExport(ctx, viewer, filters, format);
  if (!started.ok) throw new Error(`export refused: ${started.reason}`);
  return Buffer.from(await new Response(started.stream).arrayBuffer());
}

type CsvExport = {
  preamble: string;
  checkpoint: Record<string, unknown>;
  header: string[];
  rows: Record<string, string>[];
  trailer: Record<string, unknown>;
};

function readCsvExport(file: Buffer): CsvExport {
  const text = file.toString("utf8");
  const marker = "\n# export-signature: ";
  const at = text.lastIndexOf(marker);
  expect(at).toBeGreaterThan(0);
  expect(text.endsWith("\n")).toBe(true);
  const signed = text.slice(0, at + 1);
  const [preamble, checkpointLine] = signed.split("\n", 2) as [string, string];
  expect(checkpointLine.startsWith("# checkpoint: ")).toBe(true);
  const csv = signed.slice(preamble.length + checkpointLine.length + 2);
  const [header, ...data] = parseCsv(csv);
  return {
    preamble,
    checkpoint: JSON.parse(checkpointLine.slice("# checkpoint: ".length)) as Record<
      string,
      unknown
    >,
    header: header!,
    rows: data.map((cells) => {
      expect(cells).toHaveLength(header!.length);
      return Object.fromEntries(header!.map((h, i) => [h, cells[i]!]));
    }),
    trailer: JSON.parse(text.slice(at + marker.length)) as Record<string, unknown>,
  };
}

type Bundle = {
  resourceType: string;
  type: string;
  timestamp: string;
  meta: { extension: { url: string; valueString: string }[] };
  entry: { fullUrl: string; resource: Record<string, unknown> & { id: string } }[];
  signature: { data: string; extension: { url: string; valueString: string }[] };
};

/** The value a spreadsheet-safe CSV cell holds for `text`. */
const defused = (text: string) => (/^[=+\-@\t\r]/.test(text) ? `'${text}` : text);

/** `text` with the character at `index` replaced by another of its kind, so it still parses. */
function changeAt(text: string, index: number): string {
  const c = text[index]!;
  const replacement = /[0-9]/.test(c)
    ? String((Number(c) + 1) % 10)
    : /[a-z]/.test(c)
      ? c === "a"
        ? "b"
        : "a"
      : /[A-Z]/.test(c)
        ? c === "A"
          ? "B"
          : "A"
        : c === "+"
          ? "/"
          : c === "/"
            ? "+"
            : null;
  if (replacement === null) throw new Error(`no replacement for ${JSON.stringify(c)} at ${index}`);
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

function expectRejected(ctx: TestContext, text: string, why?: RegExp) {
  const report = verifyExport(Buffer.from(text, "utf8"), ctx.keys.trustedPublicKeys);
  expect(report.ok).toBe(false);
  expect(report.problems.length).toBeGreaterThan(0);
  if (why) expect(report.problems.join("\n")).toMatch(why);
  return report;
}

function otherKeys(): Map<string, KeyObject> {
  const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 3072 });
  return new Map([[keyIdOf(publicKey), publicKey]]);
}

describe("a CSV export", () => {
  test("verifies, counts its records and names the checkpoint it was checked against", async () => {
    const ctx = await buildTrail();
    const checkpoint = await currentCheckpoint(ctx);
    const file = await exportFile(ctx, auditor, "csv");
    const report = verifyExport(file, ctx.keys.trustedPublicKeys);
    expect(report).toEqual({
      ok: true,
      format: "csv",
      records: RECORDS,
      checkpoint: { number: checkpoint.number, treeSize: checkpoint.treeSize },
      problems: [],
    });
    expect(checkpoint.treeSize).toBe(RECORDS);
  });

  test("holds every visible record, newest first, with the exact column header", async () => {
    const ctx = await buildTrail();
    const expected = await visible(ctx, auditor);
    const checkpoint = await currentCheckpoint(ctx);
    const csv = readCsvExport(await exportFile(ctx, auditor, "csv"));
    expect(csv.preamble).toBe(
      "# ehr-audit-trail export; format=csv; version=1; exported_at=2026-11-02T09:00:00.000Z; filters=none",
    );
    expect(csv.checkpoint).toMatchObject({
      origin: ctx.config.TRAIL_ORIGIN,
      number: checkpoint.number,
      tree_size: checkpoint.treeSize,
      root_hash: checkpoint.rootHash.toString("hex"),
      key_id: ctx.keys.signing.keyId,
    });
    expect(csv.header).toEqual([...CSV_COLUMNS]);
    expect(csv.trailer).toMatchObject({
      algorithm: "RSASSA-PKCS1-v1_5-SHA512",
      key_id: ctx.keys.signing.keyId,
    });
    const rows = csv.rows.map(({ signature, ...rest }) => {
      expect(Buffer.from(signature!, "base64")).toHaveLength(384);
      return rest;
    });
    expect(rows).toEqual(
      expected.map((r) => ({
        seq: String(r.seq),
        log_id: r.logId,
        occurred_at: r.occurredAt,
        recorded_at: r.recordedAt,
        patient_id: r.patientId,
        actor_id: r.actorId,
        actor_name: defused(r.actorName),
        action: r.action,
        table_affected: r.tableAffected,
        notes: defused(r.notes),
        source_id: r.sourceId,
        key_id: r.keyId,
        purpose_of_use: r.purpose ?? "",
      })),
    );
    expect(new Set(rows.map((r) => r.purpose_of_use))).toEqual(new Set(["", "TREAT", "BTG"]));
    expect(rows.map((r) => Number(r.seq))).toEqual(
      Array.from({ length: RECORDS }, (_, i) => RECORDS - i),
    );
  });

  test("keeps commas, quotes and newlines in notes, and defuses a leading = + - @", async () => {
    const ctx = await buildTrail();
    const { rows } = readCsvExport(await exportFile(ctx, auditor, "csv"));
    const notes = new Map(rows.map((r) => [Number(r.seq), r.notes]));
    expect(notes.get(1)).toBe('said "hello", then left');
    expect(notes.get(2)).toBe("line one\nline two\r\nline three");
    expect(notes.get(3)).toBe(`'=HYPERLINK("http://evil.example","click")`);
    expect(notes.get(4)).toBe("'+1 dose, -2 dose");
    expect(notes.get(5)).toBe("'@SUM(A1:A9)");
    expect(notes.get(6)).toBe("");
    expect(rows.find((r) => r.seq === "6")!.actor_name).toBe('Smith, Jane "JJ"');
    const text = (await exportFile(ctx, auditor, "csv")).toString("utf8");
    expect(text).not.toMatch(/(^|,)=HYPERLINK/m);
  });

  test("changing any one character of the signed part or the signature is caught", async () => {
    const ctx = await buildTrail();
    const text = (await exportFile(ctx, auditor, "csv")).toString("utf8");
    const lineOf = (seq: number) => text.indexOf(`\n${seq},`) + 1;
    const sigLine = text.lastIndexOf("# export-signature: ");
    const sigValue = text.indexOf('"signature":"', sigLine) + '"signature":"'.length;
    const positions: [string, number][] = [
      ["a record's notes", text.indexOf("ordinary note 9") + 9],
      ["a record's notes, last character", text.indexOf("ordinary note 9") + 14],
      ["a seq", lineOf(7)],
      ["a log id", lineOf(8) + 3],
      ["an occurred_at", lineOf(9) + 2 + 36 + 1 + 3],
      ["an actor id", text.indexOf(",dr-3,") + 4],
      ["a record signature", text.indexOf("\n", lineOf(10)) - 5],
      ["the preamble", text.indexOf("exported_at=") + 12 + 3],
      ["the column header", text.indexOf("table_affected")],
      ["the checkpoint's tree size", text.indexOf('"tree_size":') + 12],
      ["the checkpoint's root hash", text.indexOf('"root_hash":"') + 20],
      [
        "the checkpoint's signature",
        text.indexOf('"signature":"', text.indexOf("# checkpoint")) + 40,
      ],
      ["the export signature, first character", sigValue],
      ["the export signature, in the middle", sigValue + 200],
      ["the export signature, last character", text.indexOf('"', sigValue) - 1],
      ["the export signature's key id", text.indexOf('"key_id":"', sigLine) + 12],
    ];
    for (const [where, index] of positions) {
      expect(index, where).toBeGreaterThan(0);
      const changed = changeAt(text, index);
      expect(changed, where).not.toBe(text);
      const report = verifyExport(Buffer.from(changed), ctx.keys.trustedPublicKeys);
      expect(report.ok, `${where} (index ${index})`).toBe(false);
    }
  });

  test("a change to a record is reported as a change after export", async () => {
    const ctx = await buildTrail();
    const text = (await exportFile(ctx, auditor, "csv")).toString("utf8");
    expectRejected(
      ctx,
      text.replace("ordinary note 9", "ordinary note 8"),
      /changed after it was made/,
    );
    expectRejected(ctx, text.replace(",MRN-2,", ",MRN-9,"), /changed after it was made/);
  });

  test("removing, duplicating or truncating record lines is caught", async () => {
    const ctx = await buildTrail();
    const text = (await exportFile(ctx, auditor, "csv")).toString("utf8");
    const start = text.indexOf("\n10,") + 1;
    const end = text.indexOf("\n", start) + 1;
    const line = text.slice(start, end);
    expect(line).toContain("ordinary note 9");
    expectRejected(ctx, text.slice(0, start) + text.slice(end), /changed after it was made/);
    expectRejected(ctx, text.slice(0, end) + line + text.slice(end));
    expectRejected(ctx, text.slice(0, Math.floor(text.length / 2)));
    expectRejected(ctx, text.slice(0, text.lastIndexOf("# export-signature: ")));
  });

  test("does not verify with another key set: the key is unknown", async () => {
    const ctx = await buildTrail(4);
    const file = await exportFile(ctx, auditor, "csv");
    const report = verifyExport(file, otherKeys());
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.stringMatching(/unknown key/));
    expect(report.problems.join("\n")).toMatch(/export is signed by an unknown key/);
    expect(report.problems.join("\n")).toMatch(/checkpoint #\d+ is signed by an unknown key/);
  });
});

describe("a FHIR export", () => {
  test("verifies and is a Bundle of AuditEvents that map back to the records", async () => {
    const ctx = await buildTrail();
    const expected = await visible(ctx, auditor);
    const checkpoint = await currentCheckpoint(ctx);
    const file = await exportFile(ctx, auditor, "fhir");
    expect(verifyExport(file, ctx.keys.trustedPublicKeys)).toEqual({
      ok: true,
      format: "fhir",
      records: RECORDS,
      checkpoint: { number: checkpoint.number, treeSize: checkpoint.treeSize },
      problems: [],
    });
    const bundle = JSON.parse(file.toString("utf8")) as Bundle;
    expect(bundle).toMatchObject({
      resourceType: "Bundle",
      type: "collection",
      timestamp: "2026-11-02T09:00:00.000Z",
    });
    const cp = JSON.parse(
      bundle.meta.extension.find((e) => e.url === "urn:ehr-audit-trail:checkpoint")!.valueString,
    ) as Record<string, unknown>;
    expect(cp).toMatchObject({ number: checkpoint.number, tree_size: checkpoint.treeSize });
    expect(bundle.entry.map((e) => e.resource.id)).toEqual(expected.map((r) => r.logId));
    expect(bundle.entry.map((e) => e.fullUrl)).toEqual(expected.map((r) => `urn:uuid:${r.logId}`));
    for (const [i, entry] of bundle.entry.entries()) {
      const r = expected[i]!;
      expect(fromAuditEvent(entry.resource)).toEqual({
        ok: true,
        inputs: [
          {
            patientId: r.patientId,
            actorId: r.actorId,
            actorName: r.actorName,
            action: r.action,
            tableAffected: r.tableAffected,
            occurredAt: Date.parse(r.occurredAt),
            notes: r.notes,
            extra: expect.any(String),
            ...(r.purpose ? { purpose: r.purpose } : {}),
          },
        ],
      });
    }
  });

  test("changing any one character of the signed part or the signature is caught", async () => {
    const ctx = await buildTrail();
    const text = (await exportFile(ctx, auditor, "fhir")).toString("utf8");
    const sig = text.lastIndexOf(',"signature":');
    const data = text.indexOf('"data":"', sig) + '"data":"'.length;
    const positions: [string, number][] = [
      ["a record's notes", text.indexOf("ordinary note 9") + 9],
      ["a seq", text.indexOf('"valueInteger":7') + 15],
      ["an actor", text.indexOf('"value":"dr-3"') + 12],
      ["a patient reference", text.indexOf('"Patient/MRN-2"') + 13],
      ["an action code", text.indexOf('"action":"U"') + 10],
      ["a record signature", text.indexOf('"valueBase64Binary":"') + 60],
      ["the timestamp", text.indexOf('"timestamp":"') + 16],
      ["the checkpoint's tree size", text.indexOf('\\"tree_size\\":') + 15],
      ["the checkpoint's root hash", text.indexOf('\\"root_hash\\":\\"') + 30],
      ["the signature data, first character", data],
      ["the signature data, in the middle", data + 250],
      ["the signature data, last character", text.indexOf('"', data) - 1],
      ["the signature's key id", text.indexOf('"valueString":"', sig) + 20],
    ];
    for (const [where, index] of positions) {
      expect(index, where).toBeGreaterThan(0);
      const report = verifyExport(Buffer.from(changeAt(text, index)), ctx.keys.trustedPublicKeys);
      expect(report.ok, `${where} (index ${index})`).toBe(false);
    }
  });

  test("removing an entry is caught", async () => {
    const ctx = await buildTrail();
    const text = (await exportFile(ctx, auditor, "fhir")).toString("utf8");
    const bundle = JSON.parse(text) as Bundle;
    const victim = JSON.stringify(bundle.entry[3]);
    expect(text).toContain(`,\n${victim}`);
    const removed = text.replace(`,\n${victim}`, "");
    expect((JSON.parse(removed) as Bundle).entry).toHaveLength(RECORDS - 1);
    expectRejected(ctx, removed, /changed after it was made/);
  });

  test("does not verify with another key set: the key is unknown", async () => {
    const ctx = await buildTrail(4);
    const report = verifyExport(await exportFile(ctx, auditor, "fhir"), otherKeys());
    expect(report.ok).toBe(false);
    expect(report.problems.join("\n")).toMatch(/export is signed by an unknown key/);
  });
});

describe("what an export holds", () => {
  test("an auditor's filters select the records", async () => {
    const ctx = await buildTrail();
    const filters: RecordFilters = { patient: "MRN-2", action: "update" };
    const expected = await visible(ctx, auditor, filters);
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(RECORDS);
    const file = await exportFile(ctx, auditor, "csv", filters);
    expect(verifyExport(file, ctx.keys.trustedPublicKeys)).toMatchObject({
      ok: true,
      records: expected.length,
    });
    const csv = readCsvExport(file);
    expect(csv.preamble).toMatch(/; filters=\?patient=MRN-2&action=update$/);
    expect(csv.rows.map((r) => r.log_id)).toEqual(expected.map((r) => r.logId));
  });

  test.each(["csv", "fhir"] as const)(
    "a patient's %s export holds only their own records, even when filters name another patient",
    async (format) => {
      const ctx = await buildTrail();
      const viewer = patient("MRN-1");
      const own = (await visible(ctx, auditor)).filter((r) => r.patientId === "MRN-1");
      expect(own.length).toBeGreaterThan(0);
      const file = await exportFile(ctx, viewer, format, { patient: "MRN-2" });
      expect(verifyExport(file, ctx.keys.trustedPublicKeys)).toMatchObject({
        ok: true,
        records: own.length,
      });
      const patients =
        format === "csv"
          ? readCsvExport(file).rows.map((r) => r.patient_id)
          : (JSON.parse(file.toString("utf8")) as Bundle).entry.map(
              (e) => (e.resource.entity as { what: { reference: string } }[])[0]!.what.reference,
            );
      expect(patients).toEqual(own.map(() => (format === "csv" ? "MRN-1" : "Patient/MRN-1")));
      // Only the echo of the filters may name another patient.
      const text = file.toString("utf8").replace(/\?patient=MRN-2/g, "");
      expect(text).not.toContain("MRN-2");
      expect(text).not.toContain("MRN-3");
    },
  );

  test("an export that matches nothing is still signed and verifies, with no records", async () => {
    const ctx = await buildTrail(4);
    const file = await exportFile(ctx, auditor, "csv", { action: "delete" });
    expect(verifyExport(file, ctx.keys.trustedPublicKeys)).toMatchObject({ ok: true, records: 0 });
    const fhir = await exportFile(ctx, auditor, "fhir", { action: "delete" });
    expect(verifyExport(fhir, ctx.keys.trustedPublicKeys)).toMatchObject({ ok: true, records: 0 });
    expect((JSON.parse(fhir.toString("utf8")) as Bundle).entry).toEqual([]);
  });

  test("the file name carries the export time and the format", async () => {
    const ctx = await buildTrail(2);
    const csv = await startExport(ctx, auditor, {}, "csv");
    const fhir = await startExport(ctx, auditor, {}, "fhir");
    expect(csv.ok && csv.filename).toBe("audit-trail-2026-11-02T09-00-00-000Z.csv");
    expect(fhir.ok && fhir.filename).toBe("audit-trail-2026-11-02T09-00-00-000Z.fhir.json");
    if (csv.ok) await csv.stream.cancel();
    if (fhir.ok) await fhir.stream.cancel();
  });
});

describe("an export is recorded on the trail", () => {
  async function exportRecords(ctx: TestContext) {
    return (await visible(ctx, auditor, { action: "export" })).filter(
      (r) => r.sourceId === SELF_SOURCE,
    );
  }

  test.each(["csv", "fhir"] as const)(
    "once per patient in a %s export, after the stream is read",
    async (format) => {
      const ctx = await buildTrail();
      const before = (await currentCheckpoint(ctx)).treeSize;
      const started = await startExport(ctx, auditor, {}, format);
      if (!started.ok) throw new Error(started.reason);
      expect(await exportRecords(ctx)).toEqual([]);
      const file = Buffer.from(await new Response(started.stream).arrayBuffer());
      expect(verifyExport(file, ctx.keys.trustedPublicKeys).ok).toBe(true);
      const recorded = await exportRecords(ctx);
      expect(recorded.map((r) => r.patientId).sort()).toEqual(PATIENTS);
      for (const r of recorded) {
        expect(r).toMatchObject({
          actorId: auditor.id,
          actorName: auditor.name,
          action: "export",
          tableAffected: "audit_trail",
          notes: expect.stringMatching(
            new RegExp(`^exported ${RECORDS} record\\(s\\) (.* )?as ${format.toUpperCase()}$`),
          ),
          occurredAt: "2026-11-02T09:00:00.000Z",
        });
        expect(r.seq).toBeGreaterThan(before);
      }
      expect((await currentCheckpoint(ctx)).treeSize).toBe(before + PATIENTS.length);
    },
  );

  test("a filtered export is recorded only for the patients it holds", async () => {
    const ctx = await buildTrail();
    await exportFile(ctx, auditor, "csv", { patient: "MRN-3" });
    const recorded = await exportRecords(ctx);
    expect(recorded.map((r) => r.patientId)).toEqual(["MRN-3"]);
  });

  test("a patient's export is recorded for that patient, who sees it", async () => {
    const ctx = await buildTrail();
    const viewer = patient("MRN-2");
    await exportFile(ctx, viewer, "fhir");
    const recorded = await exportRecords(ctx);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ patientId: "MRN-2", actorId: viewer.id });
    const seen = (await visible(ctx, viewer)).map((r) => r.logId);
    expect(seen).toContain(recorded[0]!.logId);
  });
});

describe("an export is refused", () => {
  test("on a tampered trail, and the operators are alerted", async () => {
    const ctx = await buildTrail(6);
    intrude(ctx, (db) =>
      db.prepare("UPDATE audit_records SET notes_enc = notes_enc || x'00' WHERE seq = 3").run(),
    );
    for (const format of ["csv", "fhir"] as const) {
      expect(await startExport(ctx, auditor, {}, format)).toEqual({
        ok: false,
        reason: "compromised",
      });
    }
    expect(await startExport(ctx, patient("MRN-1"), {}, "csv")).toEqual({
      ok: false,
      reason: "compromised",
    });
    await vi.waitFor(() => {
      const files = fs.existsSync(ctx.config.OUTBOX_DIR)
        ? fs.readdirSync(ctx.config.OUTBOX_DIR)
        : [];
      expect(files.filter((f) => f.endsWith(".eml"))).toHaveLength(1);
    });
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/Integrity alert written/));
  });

  test("on an empty trail", async () => {
    const ctx = makeTestContext();
    expect(await startExport(ctx, auditor, {}, "csv")).toEqual({ ok: false, reason: "empty" });
    expect(await startExport(ctx, patient("MRN-1"), {}, "fhir")).toEqual({
      ok: false,
      reason: "empty",
    });
    expect(
      (ctx.conn.sqlite.prepare("SELECT count(*) AS n FROM audit_records").get() as { n: number }).n,
    ).toBe(0);
  });
});

describe("what lies outside the signed bytes", () => {
  test("a second entry list appended after a FHIR Bundle's signature is refused", async () => {
    const ctx = await buildTrail(4);
    const text = (await exportFile(ctx, auditor, "fhir")).toString("utf8");
    const entry = (JSON.parse(text) as { entry: { resource: { entity: { what: object }[] } }[] })
      .entry[0]!;
    entry.resource.entity[0]!.what = { reference: "Patient/MRN-FORGED" };
    expectRejected(ctx, text.replace(/\}\n$/, `,"entry":${JSON.stringify([entry])}}\n`));
    expectRejected(ctx, text.replace(/\}\n$/, `,"entry":[]}\n`));
  });

  test("the unsigned metadata of the signature cannot be changed either", async () => {
    const ctx = await buildTrail(3);
    const fhir = (await exportFile(ctx, auditor, "fhir")).toString("utf8");
    const when = /"when":"([^"]+)"/.exec(fhir)![1]!;
    expectRejected(
      ctx,
      fhir.replace(`"when":"${when}"`, `"when":"2019${when.slice(4)}"`),
      /signature element/,
    );
    const csv = (await exportFile(ctx, auditor, "csv")).toString("utf8");
    expectRejected(
      ctx,
      csv.replace("RSASSA-PKCS1-v1_5-SHA512", "RSASSA-PKCS1-v1_5-SHA256"),
      /signature line/,
    );
  });

  test("a record appended while an export streams is left out, and the export still verifies", async () => {
    const ctx = await buildTrail(4);
    const started = await startExport(ctx, auditor, {}, "csv");
    if (!started.ok) throw new Error("export refused");
    await appendRecords(ctx, [input(99)]);
    const file = Buffer.from(await new Response(started.stream).arrayBuffer());
    const report = verifyExport(file, ctx.keys.trustedPublicKeys);
    expect(report).toMatchObject({ ok: true, records: 4 });
  });
});
