import type { LoaderFunctionArgs } from "@remix-run/node";
import { checkpointNote, verifiedHead } from "~/trail/checkpoint-note.server";

const TEXT = { "Content-Type": "text/plain; charset=utf-8" };

/** GET /checkpoint: the newest verified checkpoint as a C2SP signed note. Public: no PHI. */
export async function loader({ context }: LoaderFunctionArgs) {
  const ctx = context.app;
  const verified = await verifiedHead(ctx);
  if (!verified.ok) {
    return new Response("The trail failed verification; no checkpoint is served.\n", {
      status: 503,
      headers: TEXT,
    });
  }
  return new Response(await checkpointNote(ctx, verified.head), { headers: TEXT });
}
