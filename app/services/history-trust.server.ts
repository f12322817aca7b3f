import type { AppContext } from "../context.server";
import { noteVerifierKey } from "../trail/checkpoint-note.server";
import type { HistoryTrust } from "../trail/history-check";

/**
 * What the browser's own history check pins on first use (decision record 015): the trail's
 * origin, the log's note verifier key, the witnesses' verifier keys (never their URLs) and the
 * quorum. Public keys only: no PHI, no secrets. Computed from memory, so the loader never waits.
 */
export function historyTrust(ctx: AppContext): HistoryTrust {
  return {
    origin: ctx.config.TRAIL_ORIGIN,
    logKey: noteVerifierKey(ctx.keys),
    witnessKeys: ctx.config.WITNESSES.map((w) => w.vkey),
    quorum: ctx.config.WITNESS_QUORUM,
  };
}
