import type { LoaderFunctionArgs } from "@remix-run/node";
import { jsonError } from "~/utils/http.server";
import { verifiedHead } from "~/trail/checkpoint-note.server";
import { proveConsistency } from "~/trail/proof.server";

const TREE_SIZE = /^(0|[1-9][0-9]{0,14})$/;

/** A query value that is a tree size; undefined when absent, null when malformed or repeated. */
function treeSize(query: URLSearchParams, name: string): number | null | undefined {
  const values = query.getAll(name);
  if (values.length === 0) return undefined;
  return values.length === 1 && TREE_SIZE.test(values[0]!) ? Number(values[0]) : null;
}

const invalid = (message: string) => jsonError(400, "invalid_query", message);

/**
 * GET /api/proofs/consistency?from=N[&to=M]: the RFC 9162 consistency proof between two tree
 * sizes, M defaulting to the newest verified one. Public: hashes and sizes only.
 */
export async function loader({ request, context }: LoaderFunctionArgs) {
  const ctx = context.app;
  const query = new URL(request.url).searchParams;
  const from = treeSize(query, "from");
  const to = treeSize(query, "to");
  if (from === undefined || from === null) return invalid("from must be one tree size (0, 1, 2…).");
  if (to === null) return invalid("to must be one tree size (0, 1, 2…).");
  const verified = await verifiedHead(ctx);
  if (!verified.ok) {
    return jsonError(503, "integrity_compromised", "The trail failed verification; no proof.");
  }
  const newest = verified.head.treeSize;
  const size = to ?? newest;
  if (size > newest) return invalid(`to may be at most the newest verified size, ${newest}.`);
  if (from > size) return invalid(`from may be at most to (${size}).`);
  const proof = proveConsistency(ctx.conn.sqlite, from, size);
  return Response.json({ from, to: size, proof: proof.map((h) => h.toString("base64")) });
}
