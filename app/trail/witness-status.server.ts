import type { AppContext } from "../context.server";
import { formatCheckpoint, type VerifierKey } from "../crypto/note";
import { newestCosignatures, type CosignatureRow } from "../models/cosignature.server";
import { mailAdmins } from "./alerts.server";
import { checkpointNote, headOf } from "./checkpoint-note.server";
import type { CheckpointInfo } from "./verify.server";
import { alertLogPath, markAlerted, readAlerted } from "./witness.server";
import { parseWitnesses, verifyCosignatureLines } from "./witness-client.server";
import { processWide } from "../process-wide";

// Which checkpoint the witnesses vouch for, read back from the stored cosignatures, each checked
// against its witness's configured key; and the alert when records wait too long for them.

/** How many of the newest cosigned sizes are searched for one that has a quorum. */
const SIZES_SEARCHED = 16;

export type WitnessedCheckpoint = {
  number: number;
  treeSize: number;
  rootHash: Buffer;
  /** Verified cosignature lines, one per witness. */
  lines: string[];
  /** When the quorum was reached (POSIX seconds, by the witnesses' clocks); null without one. */
  quorumAt: number | null;
};

const keysByCtx = new WeakMap<AppContext, Promise<VerifierKey[]>>();
const witnessKeys = (ctx: AppContext) => {
  if (!keysByCtx.has(ctx)) {
    keysByCtx.set(
      ctx,
      parseWitnesses(ctx.config.WITNESSES).then((ws) => ws.map((w) => w.key)),
    );
  }
  return keysByCtx.get(ctx)!;
};

// A row's verdict depends on its bytes only, so it is remembered by them.
const verifiedRows = new Set<string>();
async function verifies(ctx: AppContext, row: CosignatureRow, key: VerifierKey): Promise<boolean> {
  const text = formatCheckpoint({
    origin: ctx.config.TRAIL_ORIGIN,
    size: row.treeSize,
    rootHash: row.rootHash,
    extensions: [],
  });
  const id = `${key.name}+${key.keyId}\n${text}${row.signatureLine}`;
  if (verifiedRows.has(id)) return true;
  const ok = (await verifyCosignatureLines(text, row.signatureLine, key)) !== null;
  // Only the newest few sizes are ever read: a small cache, emptied rather than grown.
  if (verifiedRows.size >= 1024) verifiedRows.clear();
  if (ok) verifiedRows.add(id);
  return ok;
}

/**
 * The newest checkpoint of this trail cosigned by a quorum of the configured witnesses, or else
 * the newest with any valid cosignature (quorumAt null); null when none has one. A cosignature
 * counts only if it verifies and its root is the one the (verified) checkpoints table holds.
 */
export async function newestWitnessed(ctx: AppContext): Promise<WitnessedCheckpoint | null> {
  const keys = await witnessKeys(ctx);
  // Only rows whose number, size and root are those of a stored checkpoint are read.
  const rows = newestCosignatures(ctx, keys, SIZES_SEARCHED);
  let partial: WitnessedCheckpoint | null = null;
  for (const size of [...new Set(rows.map((r) => r.treeSize))]) {
    const valid: CosignatureRow[] = [];
    for (const key of keys) {
      const row = rows.find(
        (r) => r.treeSize === size && r.keyName === key.name && r.keyId === key.keyId,
      );
      if (row && (await verifies(ctx, row, key))) valid.push(row);
    }
    if (valid.length === 0) continue;
    const times = valid.map((r) => r.timestamp).sort((a, b) => a - b);
    const quorum = ctx.config.WITNESS_QUORUM;
    const found = {
      number: valid[0]!.checkpointNumber,
      treeSize: size,
      rootHash: valid[0]!.rootHash,
      lines: valid.map((r) => r.signatureLine),
      quorumAt: valid.length >= quorum ? times[quorum - 1]! : null,
    };
    if (found.quorumAt !== null) return found;
    partial ??= found;
  }
  return partial;
}

export type PublishedCheckpoint = {
  /** Null for a trail with no checkpoint yet (the empty tree). */
  number: number | null;
  treeSize: number;
  rootHash: Buffer;
  /** The C2SP signed note: the log's signature, then the witnesses' cosignature lines. */
  note: string;
  /** Witnesses whose verified cosignature the note carries, of `witnesses` configured. */
  cosigners: number;
  witnesses: number;
  quorum: number;
  /** A quorum cosigned it (always false without witnesses). */
  quorate: boolean;
};

/**
 * What GET /checkpoint serves for the newest verified checkpoint `verified`: the newest
 * checkpoint a quorum cosigned, with their lines; until one exists, `verified` with whatever
 * cosignatures it already has. The caller has verified the trail.
 */
export async function publishedCheckpoint(
  ctx: AppContext,
  verified: CheckpointInfo | null,
): Promise<PublishedCheckpoint> {
  const { WITNESSES, WITNESS_QUORUM } = ctx.config;
  const head = headOf(verified);
  const witnessed = WITNESSES.length > 0 ? await newestWitnessed(ctx) : null;
  const chosen =
    witnessed && (witnessed.quorumAt !== null || witnessed.treeSize === head.treeSize)
      ? witnessed
      : null;
  const lines = chosen?.lines ?? [];
  const served = chosen ?? { ...head, number: verified?.number ?? null };
  return {
    number: served.number,
    treeSize: served.treeSize,
    rootHash: served.rootHash,
    note: (await checkpointNote(ctx, served)) + lines.join(""),
    cosigners: lines.length,
    witnesses: WITNESSES.length,
    quorum: WITNESS_QUORUM,
    quorate: WITNESSES.length > 0 && chosen?.quorumAt != null,
  };
}

export type WitnessStatus = {
  witnesses: number;
  /** Witnesses whose cosignature is on `checkpointNumber`. */
  cosigners: number;
  checkpointNumber: number | null;
  /** Seconds since the quorum cosigned it; null without a quorum. */
  secondsAgo: number | null;
  /** Records have waited longer than WITNESS_MAX_LAG for a quorum. */
  lagging: boolean;
};

/**
 * The witnesses' status for a view. When records have waited for a quorum longer than
 * WITNESS_MAX_LAG (counted from the first checkpoint after the newest quorum-cosigned one, so a
 * quiet trail does not count as late), the admins are mailed once for that wait.
 */
export async function checkWitnessLag(ctx: AppContext): Promise<WitnessStatus | null> {
  const { WITNESSES, WITNESS_MAX_LAG } = ctx.config;
  if (WITNESSES.length === 0) return null;
  const witnessed = await newestWitnessed(ctx);
  const quorate = witnessed?.quorumAt != null ? witnessed : null;
  // Checkpoint numbers and sizes grow together: a range of the primary key, not a scan.
  const waiting = ctx.conn.sqlite
    .prepare(
      "SELECT number, created_at AS createdAt FROM checkpoints WHERE number > ? AND tree_size > ? ORDER BY number LIMIT 1",
    )
    .get(quorate?.number ?? 0, quorate?.treeSize ?? 0) as
    { number: number; createdAt: number } | undefined;
  const now = ctx.now();
  const lagging = !!waiting && now - waiting.createdAt > WITNESS_MAX_LAG * 1000;
  if (lagging) await mailLagOnce(ctx, waiting.number, quorate?.number ?? null);
  return {
    witnesses: WITNESSES.length,
    cosigners: witnessed?.lines.length ?? 0,
    checkpointNumber: witnessed?.number ?? null,
    secondsAgo: quorate ? Math.max(0, Math.round(now / 1000 - quorate.quorumAt!)) : null,
    lagging,
  };
}

const mailedLag = processWide("mailed-lag", () => new WeakMap<AppContext, Set<string>>());

/** Mails the admins that checkpoint #`waitingFrom` on wait for the witnesses; once per wait. */
async function mailLagOnce(ctx: AppContext, waitingFrom: number, witnessed: number | null) {
  const key = `witness-lag:${ctx.config.TRAIL_ORIGIN}:${waitingFrom}`;
  const log = alertLogPath(ctx.config.TRAIL_HEAD_PATH);
  const mailed = mailedLag.get(ctx) ?? new Set<string>();
  mailedLag.set(ctx, mailed);
  if (mailed.has(key) || readAlerted(log).has(key)) return;
  mailed.add(key);
  const { WITNESSES, WITNESS_QUORUM, WITNESS_MAX_LAG } = ctx.config;
  const at = new Date(ctx.now());
  try {
    await mailAdmins(ctx, {
      label: "Witness lag alert",
      subject: `Audit trail not yet witnessed: records waiting over ${WITNESS_MAX_LAG} s`,
      text: [
        `Checkpoint #${waitingFrom} and later have waited more than ${WITNESS_MAX_LAG} seconds for`,
        `cosignatures by ${WITNESS_QUORUM} of the ${WITNESSES.length} configured witnesses.`,
        `Newest checkpoint with a quorum: ${witnessed === null ? "none" : `#${witnessed}`}.`,
        `Detected at: ${at.toISOString()}`,
        "",
        "Appends go on. Check that the witnesses are running and reachable.",
      ].join("\n"),
      at,
      tag: `witness-lag-${waitingFrom}`,
    });
    markAlerted(log, key);
  } catch (error) {
    mailed.delete(key);
    console.error(`Could not send the witness lag alert: ${(error as Error).message}`);
  }
}
