import type { LoaderFunctionArgs } from "@remix-run/node";
import { checkpointNote, verifiedHead } from "~/trail/checkpoint-note.server";
import { newestWitnessed } from "~/trail/witness-status.server";

const TEXT = { "Content-Type": "text/plain; charset=utf-8" };

/**
 * GET /checkpoint: a C2SP signed note, with the witnesses' cosignature lines after the log's own
 * signature. It is the newest checkpoint a quorum of witnesses cosigned; until one has, the
 * newest verified checkpoint with the cosignatures it has (clients requiring a quorum reject it,
 * as they should, and others still see the current head). Public: no PHI.
 */
export async function loader({ context }: LoaderFunctionArgs) {
  const ctx = context.app;
  const verified = await verifiedHead(ctx);
  if (!verified.ok) {
    return new Response("The trail failed verification; no checkpoint is served.\n", {
      status: 503,
      headers: TEXT,
    });
  }
  const witnessed = ctx.config.WITNESSES.length > 0 ? await newestWitnessed(ctx) : null;
  const head =
    witnessed && (witnessed.quorumAt !== null || witnessed.treeSize === verified.head.treeSize)
      ? witnessed
      : verified.head;
  const lines = head === witnessed ? witnessed.lines : [];
  return new Response((await checkpointNote(ctx, head)) + lines.join(""), { headers: TEXT });
}
