import { createHash } from "node:crypto";
import type { AppContext } from "../context.server";
import { decryptField } from "../crypto/fields.server";
import { checkSignature } from "../crypto/signing.server";
import {
  listRecords,
  RecordCheckFailed,
  scopeOf,
  type AuditRecordView,
  type RecordFilters,
} from "../models/record.server";
import type { User } from "../models/user.server";
import { recordSigningInput, type RawRecord, COL } from "../trail/encoding.server";
import { includedInVerified } from "../trail/included.server";
import type { CheckpointInfo } from "../trail/verify.server";

// What a view shows of the rows it read: each checked (signed over its exact stored bytes, those
// bytes the verified tree's leaf at its seq, about the right patient) and then decrypted.

/**
 * Checks each row before it is shown: signed by a trusted key over exactly its stored bytes,
 * those bytes the leaf the verified checkpoint holds at its seq (a row re-signed with a stolen
 * key is not), and (for a patient's view, `scopeOf` the viewer) about that patient. Then
 * decrypts. A row once checked is remembered by its bytes.
 */
export function openRecords(
  ctx: AppContext,
  rows: readonly RawRecord[],
  checkpoint: CheckpointInfo | null,
  patientId: string | null = null,
): AuditRecordView[] {
  return rows.map((row) => {
    const [seq, logId] = row;
    const key = ctx.keys.trustedPublicKeys.get(row[COL.keyId]);
    if (!checkpoint || seq > checkpoint.treeSize || !key) throw new RecordCheckFailed(seq);
    const signed = recordSigningInput(row);
    const id = cacheId(signed, row[COL.signature]);
    const cached = opened(ctx).get(id);
    if (cached) return confined(cached, patientId);
    if (checkSignature(key, signed, row[COL.signature]) !== "valid")
      throw new RecordCheckFailed(seq);
    if (!includedInVerified(ctx, row, checkpoint)) throw new RecordCheckFailed(seq);
    const open = (column: string, value: Buffer) => {
      try {
        return decryptField(ctx.keys.fieldKey, value, {
          table: "audit_records",
          column,
          rowId: logId,
        });
      } catch {
        throw new RecordCheckFailed(seq);
      }
    };
    const extraEnc = row[COL.extraEnc];
    const purposeEnc = row[COL.purposeEnc];
    const view: AuditRecordView = {
      seq,
      logId,
      patientId: open("patient_id", row[COL.patientIdEnc]),
      actorId: open("actor_id", row[COL.actorIdEnc]),
      actorName: open("actor_name", row[COL.actorNameEnc]),
      action: open("action", row[COL.actionEnc]),
      tableAffected: open("table_affected", row[COL.tableAffectedEnc]),
      notes: open("notes", row[COL.notesEnc]),
      occurredAt: new Date(row[COL.occurredAt]).toISOString(),
      recordedAt: new Date(row[COL.recordedAt]).toISOString(),
      sourceId: row[COL.sourceId],
      keyId: row[COL.keyId],
      extra: extraEnc === null ? null : open("extra", extraEnc),
      purpose: purposeEnc === null ? null : open("purpose", purposeEnc),
    };
    remember(ctx, id, view);
    return confined(view, patientId);
  });
}

function confined(view: AuditRecordView, patientId: string | null): AuditRecordView {
  if (patientId !== null && view.patientId !== patientId) throw new RecordCheckFailed(view.seq);
  return view;
}

// Records already checked and opened, by the exact bytes that were checked: the signing input
// (every column but the signature) and the signature. Any change to a stored row, by whatever
// process, misses the cache and is checked afresh; nothing is trusted by seq or log id alone.
const MAX_OPENED = 20_000;
const openedByCtx = new WeakMap<AppContext, Map<string, AuditRecordView>>();

function opened(ctx: AppContext): Map<string, AuditRecordView> {
  let map = openedByCtx.get(ctx);
  if (!map) openedByCtx.set(ctx, (map = new Map()));
  return map;
}

function cacheId(signed: Buffer, signature: Buffer): string {
  return createHash("sha256").update(signed).update(signature).digest("base64");
}

function remember(ctx: AppContext, id: string, view: AuditRecordView): void {
  const map = opened(ctx);
  // Oldest first out: a Map iterates in insertion order.
  if (map.size >= MAX_OPENED) map.delete(map.keys().next().value!);
  map.set(id, view);
}

/** A page of `listRecords` up to `checkpoint`, each row checked and opened, with its signature. */
export function openRecordPage(
  ctx: AppContext,
  viewer: User,
  filters: RecordFilters,
  options: { limit: number; before?: number; checkpoint: CheckpointInfo | null },
): { records: AuditRecordView[]; signatures: string[]; nextBefore: number | null } {
  const { checkpoint, ...paging } = options;
  const page = listRecords(ctx, viewer, filters, {
    ...paging,
    sealedUpTo: checkpoint?.treeSize ?? 0,
  });
  return {
    records: openRecords(ctx, page.records, checkpoint, scopeOf(viewer)),
    signatures: page.records.map((row) => row[COL.signature].toString("base64")),
    nextBefore: page.nextBefore,
  };
}
