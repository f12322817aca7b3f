import type { AppContext } from "../context.server";
import { RecordCheckFailed } from "../models/record.server";
import { ensureTrailIntact, reportFailedRecord } from "../trail/guard.server";
import type { CheckpointInfo } from "../trail/verify.server";

// Every read of records goes through here: the guard's verdict first, then the rows, each checked
// against the verified checkpoint as it is opened. The guard skips the full pass when nothing but
// this process wrote, so that check of the rows read is what catches a change the guard cannot
// see (or one that lands after it looked); then a forced full pass names it and alerts.

/** The verified state a read was made against. */
export type Verified = { checkpoint: CheckpointInfo | null; records: number };

export type VerifiedRead<T> = { ok: false } | ({ ok: true; value: T } & Verified);

/**
 * Verifies the trail, then runs `read` against the verified checkpoint. The answer is
 * `{ ok: false }` when the trail is compromised or a record read fails its check.
 */
export async function readVerified<T>(
  ctx: AppContext,
  viewerId: string,
  read: (checkpoint: CheckpointInfo | null) => T,
): Promise<VerifiedRead<T>> {
  const status = await ensureTrailIntact(ctx, { viewerId });
  if (!status.ok) return { ok: false };
  return readAgainst(ctx, viewerId, status, read);
}

/** Like `readVerified`, against a state verified earlier: for the later pages of one export. */
export async function readAgainst<T>(
  ctx: AppContext,
  viewerId: string,
  verified: Verified,
  read: (checkpoint: CheckpointInfo | null) => T,
): Promise<VerifiedRead<T>> {
  const { checkpoint, records } = verified;
  try {
    return { ok: true, value: read(checkpoint), checkpoint, records };
  } catch (error) {
    if (!(error instanceof RecordCheckFailed)) throw error;
    await reportFailedRecord(ctx, viewerId, error.seq);
    return { ok: false };
  }
}
