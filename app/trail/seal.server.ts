import { randomUUID } from "node:crypto";
import type { AppContext } from "../context.server";
import { encryptField } from "../crypto/fields.server";
import { blindIndex } from "../crypto/hashing.server";
import type { RecordInput, Signer } from "./append.server";
import { COL, recordSigningInput, type RawRecord } from "./encoding.server";

// Sealing a group of records: encrypted, indexed, numbered after a given head, and handed to the
// signer a chunk at a time. It writes nothing, so a group can be sealed while the one before it
// is still committing (docs/decisions/008); the commit keeps it only if it extends the head then.

/** Records are sealed and handed to the signer this many at a time. */
export const SIGN_CHUNK = 32;

/** Where the chain stands: the newest checkpoint's number, the tree size and the last log id. */
export type ChainState = { number: number; size: number; lastLogId: string | null };

export type SealedGroup = {
  /** The head these records extend. */
  base: ChainState;
  /** The head once they are committed. */
  next: ChainState;
  recordedAt: number;
  /** In seq order, each with an empty signature until its chunk's signing resolves. */
  rows: RawRecord[];
  /** The signatures of each chunk of SIGN_CHUNK rows. */
  signing: Promise<Buffer[]>[];
};

function sealRecord(
  ctx: AppContext,
  input: RecordInput,
  seq: number,
  prevLogId: string | null,
  recordedAt: number,
): RawRecord {
  const logId = randomUUID();
  const { fieldKey, blindIndexKey } = ctx.keys;
  const seal = (column: string, value: string) =>
    encryptField(fieldKey, value, { table: "audit_records", column, rowId: logId });
  return [
    seq,
    logId,
    prevLogId,
    blindIndex(blindIndexKey, "patient_id", input.patientId),
    blindIndex(blindIndexKey, "actor", input.actorId),
    blindIndex(blindIndexKey, "action", input.action),
    blindIndex(blindIndexKey, "table_affected", input.tableAffected),
    seal("patient_id", input.patientId),
    seal("actor_id", input.actorId),
    seal("actor_name", input.actorName),
    seal("action", input.action),
    seal("table_affected", input.tableAffected),
    seal("notes", input.notes),
    input.occurredAt,
    recordedAt,
    input.sourceId,
    ctx.keys.signing.keyId,
    Buffer.alloc(0),
    input.extra == null ? null : seal("extra", input.extra),
    // Only with a purpose (encoding version 3): a record without one keeps the older encoding.
    input.purpose ? blindIndex(blindIndexKey, "purpose", input.purpose) : null,
    input.purpose ? seal("purpose", input.purpose) : null,
  ];
}

/**
 * Seals `inputs` as the records after `base` and starts signing them. With a pool, this thread
 * seals the next chunk while the workers sign the last, and a large group gives the event loop
 * back between chunks, so other requests are served meanwhile.
 */
export async function sealGroup(
  ctx: AppContext,
  inputs: readonly RecordInput[],
  signer: Signer,
  base: ChainState,
): Promise<SealedGroup> {
  const recordedAt = ctx.now();
  const rows: RawRecord[] = [];
  const signing: Promise<Buffer[]>[] = [];
  let prev = base.lastLogId;
  for (let start = 0; start < inputs.length; start += SIGN_CHUNK) {
    if (start > 0) await new Promise((resolve) => setImmediate(resolve));
    const chunk: RawRecord[] = [];
    for (const [i, input] of inputs.slice(start, start + SIGN_CHUNK).entries()) {
      const row = sealRecord(ctx, input, base.size + start + i + 1, prev, recordedAt);
      chunk.push(row);
      prev = row[COL.logId];
    }
    rows.push(...chunk);
    const signed = signer(chunk.map((row) => recordSigningInput(row)));
    // Awaited in order by the commit; a group that is never committed must not go unheard.
    signed.catch(() => undefined);
    signing.push(signed);
  }
  const next = { number: base.number + 1, size: base.size + rows.length, lastLogId: prev };
  const { number, size, lastLogId } = base;
  return { base: { number, size, lastLogId }, next, recordedAt, rows, signing };
}

/** Whether a sealed group still extends `head`: nobody appended since it was sealed. */
export function extendsHead(group: SealedGroup, head: ChainState): boolean {
  const { base } = group;
  return (
    base.number === head.number && base.size === head.size && base.lastLogId === head.lastLogId
  );
}
