import { createSign } from "node:crypto";
import type { AppContext } from "../context.server";
import { toAuditEvent } from "../fhir/audit-event.server";
import { scopeOf, type AuditRecordView, type RecordFilters } from "../models/record.server";
import { openRecordPage } from "./open-records.server";
import type { User } from "../models/user.server";
import { checkpointJson, exportTrailer } from "../trail/export-verify.server";
import { filterQuery } from "./record-query.server";
import { auditView } from "./trail-view.server";
import { readAgainst, readVerified } from "./verified-read.server";

// An export is checked before it is written and signed after: each record carries its seq and
// signature, the file carries the checkpoint it was checked against, and a last line (CSV) or
// Bundle.signature (FHIR) signs every byte before it. docs/decisions/007-exports.md.

export const EXPORT_FORMATS = ["csv", "fhir"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
const PAGE = 500;
const MAX_PATIENT_RECORDS = 1000;

export const CSV_COLUMNS = [
  "seq",
  "log_id",
  "occurred_at",
  "recorded_at",
  "patient_id",
  "actor_id",
  "actor_name",
  "action",
  "table_affected",
  "notes",
  "source_id",
  "key_id",
  "signature",
  // Added after the others, so a reader that counts columns still finds them where they were.
  "purpose_of_use",
] as const;

/** A CSV cell: quoted when needed, and a leading =, +, -, @ defused for spreadsheets (OWASP). */
function cell(value: string | number, defuse = true): string {
  let text = String(value);
  if (defuse && /^[=+\-@\t\r]/.test(text) && typeof value === "string") text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvRow(r: AuditRecordView, signature: string): string {
  const values: Record<(typeof CSV_COLUMNS)[number], string | number> = {
    seq: r.seq,
    log_id: r.logId,
    occurred_at: r.occurredAt,
    recorded_at: r.recordedAt,
    patient_id: r.patientId,
    actor_id: r.actorId,
    actor_name: r.actorName,
    action: r.action,
    table_affected: r.tableAffected,
    notes: r.notes,
    source_id: r.sourceId,
    key_id: r.keyId,
    signature,
    purpose_of_use: r.purpose ?? "",
  };
  // Signatures are base64 and may start with "+": they are data, not text for a spreadsheet.
  return CSV_COLUMNS.map((c) => cell(values[c], c !== "signature")).join(",") + "\n";
}

export type ExportStart =
  | { ok: true; stream: ReadableStream<Uint8Array>; filename: string }
  | { ok: false; reason: "compromised" | "empty" };

/**
 * Streams the records `viewer` may see under `filters`, newest first, in pages: each record is
 * checked (sealed, signed, decrypted, in scope) before it is written. The export is recorded on
 * the trail, once per patient it contains, before the closing signature is written.
 */
export async function startExport(
  ctx: AppContext,
  viewer: User,
  filters: RecordFilters,
  format: ExportFormat,
): Promise<ExportStart> {
  const verified = await readVerified(ctx, viewer.id, (checkpoint) => checkpoint);
  if (!verified.ok) return { ok: false, reason: "compromised" };
  const checkpoint = verified.value;
  if (!checkpoint) return { ok: false, reason: "empty" };
  const exportedAt = new Date(ctx.now()).toISOString();
  const signer = createSign("sha512");
  const encoder = new TextEncoder();
  const patients = new Set<string>();
  const scope = scopeOf(viewer);
  let before: number | undefined;
  let first = true;
  let done = false;
  let count = 0;

  const header = (): string => {
    const cp = JSON.stringify(checkpointJson(ctx.config.TRAIL_ORIGIN, checkpoint));
    if (format === "csv") {
      return (
        `# ehr-audit-trail export; format=csv; version=1; exported_at=${exportedAt}; filters=${filterQuery(filters) || "none"}\n` +
        `# checkpoint: ${cp}\n${CSV_COLUMNS.join(",")}\n`
      );
    }
    const meta = {
      lastUpdated: exportedAt,
      extension: [
        { url: "urn:ehr-audit-trail:checkpoint", valueString: cp },
        { url: "urn:ehr-audit-trail:filters", valueString: filterQuery(filters) || "none" },
      ],
    };
    return `{"resourceType":"Bundle","type":"collection","timestamp":${JSON.stringify(exportedAt)},"meta":${JSON.stringify(meta)},"entry":[`;
  };

  const body = (records: AuditRecordView[], signatures: string[]): string =>
    records
      .map((r, i) => {
        if (format === "csv") return csvRow(r, signatures[i]!);
        const entry = JSON.stringify({
          fullUrl: `urn:uuid:${r.logId}`,
          resource: toAuditEvent(r, {
            signature: signatures[i]!,
            origin: ctx.config.TRAIL_ORIGIN,
          }),
        });
        return `${count + i === 0 ? "" : ","}\n${entry}`;
      })
      .join("");

  const trailer = (signature: string): string =>
    exportTrailer(format, {
      keyId: ctx.keys.signing.keyId,
      signature,
      when: exportedAt,
      origin: ctx.config.TRAIL_ORIGIN,
    });

  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const emit = (text: string) => {
        const bytes = encoder.encode(text);
        controller.enqueue(bytes);
        return bytes;
      };
      try {
        if (first) {
          first = false;
          signer.update(emit(header()));
          return;
        }
        if (!done) {
          const page = await readAgainst(ctx, viewer.id, verified, (sealed) =>
            openRecordPage(ctx, viewer, filters, { limit: PAGE, before, checkpoint: sealed }),
          );
          // A record that fails its check mid-way ends the export unsigned: it will not verify.
          if (!page.ok) throw new Error("a record failed its check; the export was stopped");
          const { records, signatures, nextBefore } = page.value;
          for (const r of records) patients.add(r.patientId);
          signer.update(emit(body(records, signatures)));
          count += records.length;
          before = nextBefore ?? undefined;
          done = nextBefore === null;
          return;
        }
        if (format === "fhir") signer.update(emit("\n]"));
        // One record per patient, so each sees it; a trail-wide export of very many patients
        // is recorded once, as signing thousands of records would hold the download up.
        const recordedFor =
          patients.size === 0 || patients.size > MAX_PATIENT_RECORDS
            ? [scope ?? ""]
            : [...patients];
        await auditView(
          ctx,
          viewer,
          recordedFor,
          `exported ${count} record(s) of ${patients.size} patient(s) as ${format.toUpperCase()}`,
          "export",
        );
        emit(trailer(signer.sign(ctx.keys.signing.privateKey).toString("base64")));
        controller.close();
      } catch (error) {
        controller.error(error);
      }
    },
  });
  const stamp = exportedAt.replace(/[:.]/g, "-");
  return {
    ok: true,
    stream,
    filename: `audit-trail-${stamp}.${format === "csv" ? "csv" : "fhir.json"}`,
  };
}
