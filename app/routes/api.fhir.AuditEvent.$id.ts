import type { LoaderFunctionArgs } from "@remix-run/node";
import { operationOutcome, toAuditEvent } from "~/fhir/audit-event.server";
import { findRecordOfSource, openRecords, RecordCheckFailed } from "~/models/record.server";
import { sourceFromRequest } from "~/models/source.server";
import { ensureTrailIntact } from "~/trail/guard.server";

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
  const notFound = () =>
    fhir(operationOutcome("not-found", [{ message: "No such AuditEvent." }]), 404);
  const row = findRecordOfSource(ctx, source.name, params.id ?? "");
  if (!row) return notFound();
  const status = await ensureTrailIntact(ctx, { viewerId: `source ${source.name}` });
  const compromised = () =>
    fhir(operationOutcome("transient", [{ message: "The trail failed verification." }]), 503);
  if (!status.ok) return compromised();
  try {
    const [record] = openRecords(ctx, [row], status.checkpoint);
    return fhir(toAuditEvent(record!, { signature: row[17].toString("base64") }), 200);
  } catch (error) {
    if (!(error instanceof RecordCheckFailed)) throw error;
    await ensureTrailIntact(ctx, { viewerId: `source ${source.name}`, force: true });
    return compromised();
  }
}
