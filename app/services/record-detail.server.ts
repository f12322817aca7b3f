import type { AppContext } from "../context.server";
import { findRecord, scopeOf, type AuditRecordView } from "../models/record.server";
import { openRecords } from "./open-records.server";
import type { User } from "../models/user.server";
import { recordLeafHash, COL } from "../trail/encoding.server";
import { proveInclusion } from "../trail/proof.server";
import { auditView } from "./trail-view.server";
import { readVerified } from "./verified-read.server";

export type RecordDetail =
  | { kind: "not_found" }
  | { kind: "compromised" }
  | {
      kind: "ok";
      record: AuditRecordView;
      signature: string;
      leafHash: string;
      proof: string[];
      inclusionVerified: boolean;
      checkpoint: {
        number: number;
        treeSize: number;
        rootHash: string;
        signedAt: string;
        keyId: string;
      };
    };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A record with its signature and an inclusion proof against the verified checkpoint. A patient
 * gets `not_found` for a record about anyone else, the same as for an unknown id.
 */
export async function recordDetail(
  ctx: AppContext,
  viewer: User,
  logId: string,
): Promise<RecordDetail> {
  if (!UUID.test(logId)) return { kind: "not_found" };
  const read = await readVerified(ctx, viewer.id, (checkpoint) => {
    const row = findRecord(ctx, viewer, logId);
    return row && { row, record: openRecords(ctx, [row], checkpoint, scopeOf(viewer))[0]! };
  });
  if (!read.ok) return { kind: "compromised" };
  if (!read.value) return { kind: "not_found" };
  const { row, record } = read.value;
  // A record was opened against it, so there is a checkpoint.
  const checkpoint = read.checkpoint!;
  const leafHash = recordLeafHash(row);
  const inclusion = proveInclusion(
    ctx.conn.sqlite,
    leafHash,
    record.seq - 1,
    checkpoint.treeSize,
    checkpoint.rootHash,
  );
  await auditView(ctx, viewer, [record.patientId], `viewed record ${record.logId}`);
  return {
    kind: "ok",
    record,
    signature: row[COL.signature].toString("base64"),
    leafHash: leafHash.toString("hex"),
    proof: inclusion.proof.map((p) => p.toString("hex")),
    inclusionVerified: inclusion.verified,
    checkpoint: {
      number: checkpoint.number,
      treeSize: checkpoint.treeSize,
      rootHash: checkpoint.rootHash.toString("hex"),
      signedAt: new Date(checkpoint.createdAt).toISOString(),
      keyId: checkpoint.keyId,
    },
  };
}
