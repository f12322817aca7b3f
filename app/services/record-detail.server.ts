import type { AppContext } from "../context.server";
import {
  findRecord,
  openRecords,
  RecordCheckFailed,
  type AuditRecordView,
} from "../models/record.server";
import type { User } from "../models/user.server";
import { recordLeafHash } from "../trail/encoding.server";
import { ensureTrailIntact } from "../trail/guard.server";
import { proveInclusion } from "../trail/proof.server";
import { auditView } from "./trail-view.server";

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
  const status = await ensureTrailIntact(ctx, { viewerId: viewer.id });
  if (!status.ok) return { kind: "compromised" };
  const row = findRecord(ctx, viewer, logId);
  if (!row) return { kind: "not_found" };
  const checkpoint = status.checkpoint!;
  let record: AuditRecordView;
  try {
    [record] = openRecords(
      ctx,
      [row],
      checkpoint,
      viewer.role === "patient" ? viewer.patientId! : undefined,
    ) as [AuditRecordView];
  } catch (error) {
    if (!(error instanceof RecordCheckFailed)) throw error;
    await ensureTrailIntact(ctx, { viewerId: viewer.id, force: true });
    return { kind: "compromised" };
  }
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
    signature: row[17].toString("base64"),
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
