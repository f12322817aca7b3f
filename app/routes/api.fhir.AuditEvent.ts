import type { ActionFunctionArgs } from "@remix-run/node";
import { fromAuditEvent } from "~/fhir/ingest.server";
import { operationOutcome, type Issue } from "~/fhir/outcome.server";
import { sourceFromRequest } from "~/models/source.server";
import { appendRecords } from "~/trail/append.server";
import { TrailCompromisedError } from "~/trail/guard.server";
import { TrailBusyError } from "~/trail/lease.server";
import { MAX_BODY_BYTES } from "~/trail/ingest.server";
import { BodyError, readJsonBody } from "~/utils/http.server";

const FHIR_JSON = "application/fhir+json";

function outcome(status: number, code: string, issues: Issue[], headers = {}) {
  return Response.json(operationOutcome(code, issues), {
    status,
    headers: { "Content-Type": FHIR_JSON, ...headers },
  });
}

export function loader() {
  return outcome(405, "not-supported", [{ message: "POST an AuditEvent to append it." }], {
    Allow: "POST",
  });
}

/** POST /api/fhir/AuditEvent: one R4 AuditEvent, with the JSON API's bearer tokens. */
export async function action({ request, context }: ActionFunctionArgs) {
  const ctx = context.app;
  if (request.method !== "POST") return loader();
  const source = sourceFromRequest(ctx, request);
  if (!source) {
    return outcome(401, "security", [{ message: "A valid bearer token is required." }], {
      "WWW-Authenticate": 'Bearer realm="audit-events"',
    });
  }
  let body: unknown;
  try {
    body = await readJsonBody(request, MAX_BODY_BYTES, [FHIR_JSON, "application/json"]);
  } catch (error) {
    if (!(error instanceof BodyError)) throw error;
    const code =
      error.status === 413 ? "too-costly" : error.status === 415 ? "not-supported" : "structure";
    return outcome(error.status, code, [{ message: error.message }]);
  }
  const mapped = fromAuditEvent(body);
  if (!mapped.ok) return outcome(400, "invalid", mapped.issues);
  try {
    // One record per patient, appended in one batch: all of them or none.
    const result = await appendRecords(
      ctx,
      mapped.inputs.map((input) => ({ ...input, sourceId: source.name })),
      { triggeredBy: `source ${source.name}` },
    );
    const { logId, seq } = result.records[0]!;
    const stored = result.records.map((r) => `seq ${r.seq} (AuditEvent/${r.logId})`).join(", ");
    return new Response(
      JSON.stringify({
        resourceType: "OperationOutcome",
        issue: [
          {
            severity: "information",
            code: "informational",
            diagnostics: `stored as ${stored}, sealed by checkpoint #${result.checkpoint.number}`,
          },
        ],
      }),
      {
        status: 201,
        headers: {
          "Content-Type": FHIR_JSON,
          Location: `/api/fhir/AuditEvent/${logId}`,
          ETag: `W/"${seq}"`,
        },
      },
    );
  } catch (error) {
    if (error instanceof TrailBusyError) {
      return outcome(
        503,
        "lock-error",
        [{ message: "The trail is busy with other writers; nothing was stored. Try again later." }],
        { "Retry-After": String(error.retryAfterSeconds) },
      );
    }
    if (!(error instanceof TrailCompromisedError)) throw error;
    return outcome(503, "transient", [
      { message: "The trail failed verification and accepts no appends." },
    ]);
  }
}
