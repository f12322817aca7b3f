import { repeatRounds } from "../utils/repeat.server";
import { fileIdOf } from "../../db/connection";
import type { AppContext } from "../context.server";
import { ensureTrailIntact } from "./guard.server";
import { dataVersionOf, headStamp, needsFullVerification, states } from "./guard-state.server";

// The server does not wait for a view to notice another process's write: it verifies in full
// soon after the file changed, whether or not anyone is looking. An intruder's edit then raises
// the alert within seconds, and the first view after an import finds the pass already done
// instead of waiting for it. docs/decisions/008.
//
// Bytes written into the files beside SQLite (not through a connection) move none of what is
// watched, so a full pass also runs at a fixed interval: such an edit is caught within it, with
// nobody viewing (decision 009). Views never wait for that pass.

/** Who the alert names as having triggered the check. */
export const WATCH_TRIGGER = "the server's own check after another process wrote the database";
/** Who the alert names for the pass at a fixed interval. */
export const PERIODIC_TRIGGER = "the server's own full check, run at a fixed interval";

export type WatchTiming = {
  /** How often the file is looked at (PRAGMA data_version and the files' identities). */
  everyMs: number;
  /** How long the writer must have been quiet, so that an import's batches share one pass. */
  quietMs: number;
  /** The longest a change waits for its pass, however busy the writer. */
  maxDelayMs: number;
  /** The longest between two full passes, whatever was seen. */
  fullEveryMs: number;
};

const DEFAULT_TIMING: WatchTiming = {
  everyMs: 1000,
  quietMs: 2000,
  maxDelayMs: 30_000,
  fullEveryMs: 15 * 60_000,
};

/** Starts watching; the returned function stops it, after any pass it started has ended. */
export function startOutsideWriteWatch(
  ctx: AppContext,
  timing: WatchTiming = DEFAULT_TIMING,
): () => Promise<void> {
  let seen = "";
  let lastChange = 0;
  let firstChange: number | null = null;
  let lastPass = performance.now();

  const look = async () => {
    const now = performance.now();
    if (now - lastPass >= timing.fullEveryMs) {
      lastPass = now;
      const status = await ensureTrailIntact(ctx, { viewerId: PERIODIC_TRIGGER, force: true });
      if (!status.ok) await status.alert;
      return;
    }
    const replaced = fileIdOf(ctx.conn.file) !== ctx.conn.fileId;
    const stamp = replaced ? "replaced" : `${dataVersionOf(ctx)}:${headStamp(ctx)}`;
    if (stamp !== seen) {
      seen = stamp;
      lastChange = now;
    }
    if (!replaced && !needsFullVerification(ctx, states.get(ctx))) {
      firstChange = null;
      return;
    }
    firstChange ??= now;
    if (now - lastChange < timing.quietMs && now - firstChange < timing.maxDelayMs) return;
    firstChange = null;
    lastPass = now;
    // The same pass a view would wait for; on findings it mails the admins (once an incident).
    const status = await ensureTrailIntact(ctx, { viewerId: WATCH_TRIGGER });
    if (!status.ok) await status.alert;
  };
  return repeatRounds(look, timing, (error) =>
    console.error(`The check after another process's write failed: ${error.message}`),
  );
}
