import type { AppContext } from "../context.server";
import { COL, recordLeafHash, type RawRecord } from "./encoding.server";
import { states } from "./guard-state.server";
import { proveInclusion } from "./proof.server";
import type { CheckpointInfo } from "./verify.server";

/**
 * Whether `row`'s exact bytes are the record at its seq in the verified `checkpoint`. A valid
 * signature does not say so: whoever holds the keys signs what they like. The leaf hash the
 * server verified or appended at that seq, kept in its memory, does; when it has none (a pass
 * not yet run in this process), an inclusion proof against the checkpoint's root does.
 */
export function includedInVerified(
  ctx: AppContext,
  row: RawRecord,
  checkpoint: CheckpointInfo,
): boolean {
  const seq = row[COL.seq];
  if (!Number.isInteger(seq) || seq < 1 || seq > checkpoint.treeSize) return false;
  const leaf = recordLeafHash(row);
  const known = states.get(ctx)?.leaves?.at(seq - 1);
  if (known) return known.equals(leaf);
  const { treeSize, rootHash } = checkpoint;
  return proveInclusion(ctx.conn.sqlite, leaf, seq - 1, treeSize, rootHash).verified;
}
