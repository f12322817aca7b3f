import type { LoaderFunctionArgs } from "@remix-run/node";
import { getOptionalUser, integrityFailure, isIntegrityError } from "~/auth.server";
import type { AppContext } from "~/context.server";
import { sourceFromRequest } from "~/models/source.server";
import { buildAggregateFile, parsePeriod } from "~/services/aggregates.server";
import { jsonError } from "~/utils/http.server";

type Caller =
  | { ok: true; viewerId: string; headers: Record<string, string> }
  | { ok: false; response: Response };

const compromised = () =>
  jsonError(503, "integrity_compromised", "The trail failed verification; no aggregates.");

/** A source by its bearer token, or a signed-in auditor; anyone else is refused. */
async function caller(ctx: AppContext, request: Request): Promise<Caller> {
  const unauthorized = {
    ok: false as const,
    response: jsonError(
      401,
      "unauthorized",
      "A source's bearer token or an auditor's login is required.",
      {
        "WWW-Authenticate": 'Bearer realm="aggregates"',
      },
    ),
  };
  if (request.headers.has("Authorization")) {
    const source = sourceFromRequest(ctx, request);
    return source ? { ok: true, viewerId: `source ${source.name}`, headers: {} } : unauthorized;
  }
  let found: Awaited<ReturnType<typeof getOptionalUser>>;
  try {
    found = await getOptionalUser(ctx, request);
  } catch (error) {
    if (!isIntegrityError(error)) throw error;
    await integrityFailure(ctx, "a request for aggregates");
    return { ok: false, response: compromised() };
  }
  if (!found) return unauthorized;
  if (found.user.role !== "auditor") {
    return {
      ok: false,
      response: jsonError(403, "forbidden", "Only sources and auditors may read aggregates."),
    };
  }
  return { ok: true, viewerId: found.user.id, headers: { "Set-Cookie": found.refreshCookie } };
}

/**
 * GET /api/aggregates?from=YYYY-MM-DD&to=YYYY-MM-DD: the trail's access counts per day, by
 * action and by part of the record, encrypted under the audit company's Paillier key, bound to
 * the verified checkpoint and signed by the trail (docs/decisions/018-paillier-aggregates.md).
 */
export async function loader({ request, context }: LoaderFunctionArgs) {
  const ctx = context.app;
  const who = await caller(ctx, request);
  if (!who.ok) return who.response;
  const parsed = parsePeriod(new URL(request.url).searchParams, ctx.now());
  if (!parsed.ok) return jsonError(400, "invalid_query", parsed.message);
  const result = await buildAggregateFile(ctx, who.viewerId, parsed.period);
  if (result.ok) {
    return Response.json(result.file, { headers: { ...who.headers, "Cache-Control": "no-store" } });
  }
  if (result.reason === "compromised") return compromised();
  if (result.reason === "busy") {
    return jsonError(
      503,
      "aggregates_busy",
      "Other counters are being encrypted; try again shortly.",
      {
        "Retry-After": "30",
      },
    );
  }
  if (result.reason === "empty") {
    return jsonError(
      409,
      "empty_trail",
      "The trail holds no records yet: no checkpoint to count at.",
    );
  }
  return jsonError(
    503,
    "no_aggregate_key",
    "The audit company's Paillier public key is not installed on this trail (paillier-public.json in KEYS_DIR).",
  );
}
