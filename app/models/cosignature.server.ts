import { and, desc, eq, inArray, sql } from "drizzle-orm";
import { witnessCosignatures } from "../../db/schema";
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

/** The cosignatures by these keys of the `sizes` largest tree sizes any of them cosigned, newest first. */
export function newestCosignatures(
  ctx: AppContext,
  keys: readonly WitnessKeyRef[],
  sizes: number,
): CosignatureRow[] {
  if (keys.length === 0) return [];
  const { db } = ctx.conn;
  const ofKeys = sql.join(
    keys.map((k) => sql`(${byKey(k)})`),
    sql` OR `,
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
