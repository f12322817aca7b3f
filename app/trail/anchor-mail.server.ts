import { repeatRounds } from "../utils/repeat.server";
import type { AppContext } from "../context.server";
import { toBase64 } from "../crypto/note";
import { mailAdmins, type Delivery } from "./alerts.server";
import { ensureTrailIntact } from "./guard.server";
import { alertLogPath, markAlerted, readAlerted } from "./witness.server";
import type { PublishedCheckpoint } from "./witness-status.server";
import { publishedCheckpoint } from "./witness-status.server";

// The daily anchor: the admins get the newest cosigned checkpoint note (what GET /checkpoint
// serves) by e-mail, so a copy of the history's head exists outside every machine that holds the
// trail. Tree sizes and hashes only, no PHI.

/** The UTC day of `time`, as YYYY-MM-DD. */
const dayOf = (time: number) => new Date(time).toISOString().slice(0, 10);

function cosignedBy(p: PublishedCheckpoint): string {
  if (p.witnesses === 0) return "no witnesses (WITNESSES is unset)";
  const of = `${p.cosigners} of ${p.witnesses} witnesses`;
  return p.quorate
    ? `${of} (quorum ${p.quorum} reached)`
    : `${of} (quorum ${p.quorum} NOT reached: a client that requires it rejects this note)`;
}

/** Mails the admins `published` (a checkpoint of the verified trail) as the trail's anchor. */
export async function mailAnchor(
  ctx: AppContext,
  published: PublishedCheckpoint,
): Promise<Delivery> {
  const origin = ctx.config.TRAIL_ORIGIN;
  const at = new Date(ctx.now());
  const root = toBase64(published.rootHash);
  const number = published.number === null ? "none yet" : `#${published.number}`;
  return mailAdmins(ctx, {
    label: "Checkpoint anchor",
    subject: `Audit trail anchor ${dayOf(at.getTime())}: ${published.treeSize} records, checkpoint ${number}, cosigned by ${published.cosigners} of ${published.witnesses}`,
    text: [
      `The head of the audit trail "${origin}" as of ${at.toISOString()}.`,
      "",
      `Origin:      ${origin}`,
      `Checkpoint:  ${number}`,
      `Tree size:   ${published.treeSize} records`,
      `Root hash:   ${root}`,
      `Cosigned by: ${cosignedBy(published)}`,
      "",
      "Keep this message: it is a copy of the trail's head outside every machine that holds the",
      "trail. To check the trail against it later, run `npm run cli -- checkpoint` on the server",
      "(or fetch GET /checkpoint): as long as no record was added it prints this tree size and root",
      "hash; once the trail has grown, the size must be larger and",
      `GET /api/proofs/consistency?from=${published.treeSize} must prove that the new root extends`,
      "this one. A smaller size, or another root for this size, means the trail was rolled back or",
      "rewritten: treat it as an incident. The note below opens under the log's key",
      "(`npm run cli -- vkey`) and each witness's key.",
      "",
      "----- BEGIN CHECKPOINT NOTE -----",
      published.note.trimEnd(),
      "----- END CHECKPOINT NOTE -----",
    ].join("\n"),
    at,
    tag: `anchor-${published.treeSize}-records`,
  });
}

const mailedDays = new WeakMap<AppContext, Set<string>>();
const running = new WeakMap<AppContext, Promise<Delivery | null>>();

/**
 * Mails the anchor unless it was already mailed this UTC day (by ctx.now()), remembered in the
 * alert log beside the head file so that a restart does not mail it again. Nothing is mailed (and
 * the day stays open) while the trail fails verification, which raises its own incident, or has no
 * checkpoint yet. A failed send throws and leaves the day open for the next attempt.
 */
export function mailDailyAnchor(ctx: AppContext): Promise<Delivery | null> {
  const pending = running.get(ctx);
  if (pending) return pending;
  const attempt = (async () => {
    const key = `anchor:${ctx.config.TRAIL_ORIGIN}:${dayOf(ctx.now())}`;
    const log = alertLogPath(ctx.config.TRAIL_HEAD_PATH);
    const mailed = mailedDays.get(ctx) ?? new Set<string>();
    mailedDays.set(ctx, mailed);
    if (mailed.has(key) || readAlerted(log).has(key)) return null;
    const status = await ensureTrailIntact(ctx, { viewerId: null });
    if (!status.ok) {
      await status.alert;
      return null;
    }
    if (!status.checkpoint) return null;
    const delivery = await mailAnchor(ctx, await publishedCheckpoint(ctx, status.checkpoint));
    mailed.add(key);
    markAlerted(log, key);
    return delivery;
  })();
  running.set(ctx, attempt);
  return attempt.finally(() => running.delete(ctx));
}

export type DailyAnchorTiming = {
  /**
   * Delay before the first attempt: the witnesses have long cosigned what the start offered
   * them, and a short-lived server (a test run) mails nothing.
   */
  firstMs: number;
  /** How often the day is checked, and a failed send retried. */
  everyMs: number;
};

const DEFAULT_TIMING: DailyAnchorTiming = { firstMs: 10 * 60_000, everyMs: 15 * 60_000 };

/**
 * Mails the anchor once a day while the server runs (the timer keeps no process alive). Returns
 * the function that stops it, which resolves once an attempt under way has finished.
 */
export function startDailyAnchor(
  ctx: AppContext,
  timing: DailyAnchorTiming = DEFAULT_TIMING,
): () => Promise<void> {
  return repeatRounds(
    () => mailDailyAnchor(ctx),
    timing,
    (error) =>
      console.error(`Could not send the daily checkpoint anchor, retried later: ${error.message}`),
  );
}
