import type { ActionFunctionArgs } from "@remix-run/node";
import { sourceFromRequest } from "~/models/source.server";
import { appendRecords } from "~/trail/append.server";
import { TrailCompromisedError } from "~/trail/guard.server";
import { TrailBusyError } from "~/trail/lease.server";
import { MAX_BATCH, MAX_BODY_BYTES, parseBody, toRecordInput } from "~/trail/ingest.server";
import { readJsonBody, jsonError, BodyError } from "~/utils/http.server";

export function loader() {
  return jsonError(405, "method_not_allowed", "Use POST to append audit events.", {
    Allow: "POST",
  });
}

export async function action({ request, context }: ActionFunctionArgs) {
  const ctx = context.app;
  if (request.method !== "POST") return loader();
  const source = sourceFromRequest(ctx, request);
  if (!source) {
    return jsonError(401, "unauthorized", "A valid bearer token is required.", {
      "WWW-Authenticate": 'Bearer realm="audit-events"',
    });
  }
  let body: unknown;
  try {
    body = await readJsonBody(request, MAX_BODY_BYTES);
  } catch (error) {
    if (error instanceof BodyError) return jsonError(error.status, error.code, error.message);
    throw error;
  }
  const parsed = parseBody(body);
  if (!parsed.ok) {
    return jsonError(
      400,
      "invalid_fields",
      `The body is one event or {"records": [...]} with 1 to ${MAX_BATCH} events.`,
      {},
      parsed.errors,
    );
  }
  try {
    const result = await appendRecords(
      ctx,
      parsed.events.map((e) => toRecordInput(e, source.name)),
      { triggeredBy: `source ${source.name}` },
    );
    return Response.json(
      {
        records: result.records.map((r) => ({ log_id: r.logId, seq: r.seq })),
        checkpoint: {
          number: result.checkpoint.number,
          tree_size: result.checkpoint.treeSize,
          root_hash: result.checkpoint.rootHash,
          created_at: result.checkpoint.createdAt,
          key_id: result.checkpoint.keyId,
        },
      },
      { status: 201 },
    );
  } catch (error) {
    if (error instanceof TrailCompromisedError) {
      return jsonError(
        503,
        "integrity_compromised",
        "The trail failed verification and accepts no appends until an operator resolves it.",
      );
    }
    if (error instanceof TrailBusyError) {
      return jsonError(
        503,
        "trail_busy",
        "The trail is busy with other writers; nothing was stored. Try again later.",
        { "Retry-After": String(error.retryAfterSeconds) },
      );
    }
    throw error;
  }
}
