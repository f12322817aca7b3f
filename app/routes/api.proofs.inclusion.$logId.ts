import type { LoaderFunctionArgs } from "@remix-run/node";
import { jsonError } from "~/utils/http.server";
import { verifiedHead } from "~/trail/checkpoint-note.server";
import { reportTamperedRow } from "~/trail/guard.server";
import { proveRecordInclusion } from "~/trail/proof.server";

/**
 * GET /api/proofs/inclusion/<log id>: the record's RFC 9162 inclusion proof in the newest
 * verified checkpoint. Public: the record's seq and hashes only, never its fields.
 */
export async function loader({ params, context }: LoaderFunctionArgs) {
  const ctx = context.app;
  const verified = await verifiedHead(ctx);
  if (!verified.ok) {
    return jsonError(503, "integrity_compromised", "The trail failed verification; no proof.");
  }
  const { treeSize, rootHash } = verified.head;
  const inclusion = proveRecordInclusion(ctx.conn.sqlite, params.logId ?? "", treeSize, rootHash);
  if (!inclusion) {
    return jsonError(404, "not_found", "No record with this log id is in the newest checkpoint.");
  }
  if (!inclusion.verified) {
    // The rows changed since the guard's pass: a full pass names what and alerts the admins.
    await reportTamperedRow(ctx, `the public inclusion proof of record ${inclusion.seq}`);
    return jsonError(503, "integrity_compromised", "The trail failed verification; no proof.");
  }
  return Response.json({
    seq: inclusion.seq,
    tree_size: treeSize,
    leaf_hash: inclusion.leafHash.toString("base64"),
    proof: inclusion.proof.map((h) => h.toString("base64")),
  });
}
