import type { LoaderFunctionArgs } from "@remix-run/node";
import { ensureTrailIntact } from "~/trail/guard.server";
import { INTEGRITY_HEADER } from "~/trail/history-check";
import { publishedCheckpoint } from "~/trail/witness-status.server";

const TEXT = { "Content-Type": "text/plain; charset=utf-8" };

/**
 * GET /checkpoint: a C2SP signed note, with the witnesses' cosignature lines after the log's own
 * signature. It is the newest checkpoint a quorum of witnesses cosigned; until one has, the
 * newest verified checkpoint with the cosignatures it has (clients requiring a quorum reject it,
 * as they should, and others still see the current head). Public: no PHI.
 */
export async function loader({ context }: LoaderFunctionArgs) {
  const ctx = context.app;
  const status = await ensureTrailIntact(ctx, { viewerId: null });
  if (!status.ok) {
    // Said in a header, so a patient's browser can tell this from a server that is only busy.
    return new Response("The trail failed verification; no checkpoint is served.\n", {
      status: 503,
      headers: { ...TEXT, [INTEGRITY_HEADER]: "compromised" },
    });
  }
  const published = await publishedCheckpoint(ctx, status.checkpoint);
  return new Response(published.note, { headers: TEXT });
}
