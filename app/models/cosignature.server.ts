import { and, desc, eq, exists, inArray, or, sql } from "drizzle-orm";
import { checkpoints, witnessCosignatures } from "../../db/schema";
import type { Db } from "../../db/connection";
import type { AppContext } from "../context.server";

// Witnesses' cosignatures as stored. Nothing here trusts a row: app/trail/witness-status.server.ts
// checks each one against the configured witness key before it counts (db/schema.ts says why).

export type CosignatureRow = typeof witnessCosignatures.$inferSelect;
export type NewCosignature = Omit<CosignatureRow, "id">;
export type WitnessKeyRef = { name: string; keyId: number };

/** Stores a verified cosignature; a row already there for the same key and size is replaced. */
export function storeCosignature(ctx: AppContext, row: NewCosignature): void {
  ctx.conn.db
    .insert(witnessCosignatures)
    .values(row)
    .onConflictDoUpdate({
      target: [
        witnessCosignatures.keyName,
        witnessCosignatures.keyId,
        witnessCosignatures.treeSize,
      ],
      set: { rootHash: row.rootHash, timestamp: row.timestamp, signatureLine: row.signatureLine },
    })
    .run();
}

const byKey = ({ name, keyId }: WitnessKeyRef) =>
  and(eq(witnessCosignatures.keyName, name), eq(witnessCosignatures.keyId, keyId));

/** The largest tree size stored for a witness: where its next request starts (a 409 corrects it). */
export function lastCosignedSize(ctx: AppContext, key: WitnessKeyRef): number {
  const row = ctx.conn.db
    .select({ size: sql<number | null>`max(${witnessCosignatures.treeSize})` })
    .from(witnessCosignatures)
    .where(byKey(key))
    .get();
  return row?.size ?? 0;
}

/**
 * The cosignatures by these keys of the `sizes` largest tree sizes any of them cosigned, newest
 * first. Only rows whose checkpoint number, size and root are those of a row in `checkpoints`
 * are read: a row planted under a size the trail never had cannot push the genuine ones out.
 */
export function newestCosignatures(
  ctx: AppContext,
  keys: readonly WitnessKeyRef[],
  sizes: number,
): CosignatureRow[] {
  if (keys.length === 0) return [];
  const { db } = ctx.conn;
  const ofKeys = and(
    or(...keys.map(byKey)),
    exists(
      db
        .select({ number: checkpoints.number })
        .from(checkpoints)
        .where(
          and(
            eq(checkpoints.number, witnessCosignatures.checkpointNumber),
            eq(checkpoints.treeSize, witnessCosignatures.treeSize),
            eq(checkpoints.rootHash, witnessCosignatures.rootHash),
          ),
        ),
    ),
  );
  const newest = db
    .selectDistinct({ size: witnessCosignatures.treeSize })
    .from(witnessCosignatures)
    .where(ofKeys)
    .orderBy(desc(witnessCosignatures.treeSize))
    .limit(sizes)
    .all()
    .map((r) => r.size);
  if (newest.length === 0) return [];
  return db
    .select()
    .from(witnessCosignatures)
    .where(and(ofKeys, inArray(witnessCosignatures.treeSize, newest)))
    .orderBy(desc(witnessCosignatures.treeSize), witnessCosignatures.id)
    .all();
}

/**
 * A witness's stored cosignatures, newest first, read from any copy of the trail's database
 * (`verify` works on one without an AppContext).
 */
export function cosignaturesBy(db: Db, key: WitnessKeyRef, limit: number): CosignatureRow[] {
  return db
    .select()
    .from(witnessCosignatures)
    .where(byKey(key))
    .orderBy(desc(witnessCosignatures.treeSize))
    .limit(limit)
    .all();
}
