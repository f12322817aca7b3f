import type { LoaderFunctionArgs } from "@remix-run/node";
import { toAuditEvent } from "~/fhir/audit-event.server";
import { operationOutcome } from "~/fhir/outcome.server";
import { findRecordOfSource } from "~/models/record.server";
import { openRecords } from "~/services/open-records.server";
import { sourceFromRequest } from "~/models/source.server";
import { readVerified } from "~/services/verified-read.server";
import { COL } from "~/trail/encoding.server";

const FHIR_JSON = "application/fhir+json";
const fhir = (body: unknown, status: number) =>
  Response.json(body, { status, headers: { "Content-Type": FHIR_JSON } });

/** GET /api/fhir/AuditEvent/<id>: a source reads back an event it sent, after verification. */
export async function loader({ request, params, context }: LoaderFunctionArgs) {
  const ctx = context.app;
  const source = sourceFromRequest(ctx, request);
  if (!source)
    return fhir(
      operationOutcome("security", [{ message: "A valid bearer token is required." }]),
      401,
    );
  const row = findRecordOfSource(ctx, source.name, params.id ?? "");
  if (!row) return fhir(operationOutcome("not-found", [{ message: "No such AuditEvent." }]), 404);
  const read = await readVerified(
    ctx,
    `source ${source.name}`,
    (checkpoint) => openRecords(ctx, [row], checkpoint)[0]!,
  );
  if (!read.ok)
    return fhir(
      operationOutcome("transient", [{ message: "The trail failed verification." }]),
      503,
    );
  const seal = {
    signature: row[COL.signature].toString("base64"),
    origin: ctx.config.TRAIL_ORIGIN,
  };
  return fhir(toAuditEvent(read.value, seal), 200);
}
