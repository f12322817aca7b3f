import type { AppContext } from "../context.server";
import { processWide } from "../process-wide";
import type { Witness } from "./verify.server";

// Who hears of each checkpoint this process commits (the witnesses' sender), without the append
// path knowing of them: a listener runs after the commit and must not slow or fail it.

type Listener = (ctx: AppContext, checkpoint: Witness) => void;
// One set per process: the HTTP server starts the witnesses' sender, while appends run in the
// Remix build, which bundles its own copy of this module (app/process-wide.ts).
const listeners = processWide("checkpoint-listeners", () => new Set<Listener>());

/** Subscribes to the checkpoints this process commits; returns the unsubscribe function. */
export function onCheckpointCommitted(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function notifyCheckpointCommitted(ctx: AppContext, checkpoint: Witness): void {
  for (const listener of listeners) {
    try {
      listener(ctx, checkpoint);
    } catch (error) {
      console.warn(`A checkpoint listener failed: ${(error as Error).message}`);
    }
  }
}
