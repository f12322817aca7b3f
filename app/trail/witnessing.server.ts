import type { AppContext } from "../context.server";
import { lastCosignedSize, storeCosignature } from "../models/cosignature.server";
import { onCheckpointCommitted } from "./checkpoint-events.server";
import { checkpointNote } from "./checkpoint-note.server";
import { reportWitnessRefusal } from "./guard.server";
import { ProofUnavailable, proveConsistency } from "./proof.server";
import type { Witness } from "./verify.server";
import { rememberWitnessed } from "./witness-anchor.server";
import { checkWitnessLag } from "./witness-status.server";
import {
  parseWitnesses,
  submitCheckpoint,
  type ConfiguredWitness,
  type Submission,
} from "./witness-client.server";

// Sends each checkpoint this server commits to every witness in WITNESSES, in the background:
// one loop per witness, retried with exponential backoff, and coalescing (a witness that is
// behind gets only the newest checkpoint, with a proof from the size it holds).

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 30_000;

class WitnessSender {
  private wanted: Witness | null = null;
  private held: number | null = null;
  private loop: Promise<void> | null = null;
  private refused = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly ctx: AppContext,
    private readonly witness: ConfiguredWitness,
    private readonly stop: AbortSignal,
  ) {}

  /** Asks for `checkpoint` to be cosigned; a newer one already waiting wins. */
  offer(checkpoint: Witness): void {
    if (this.refused || this.stop.aborted) return;
    if (!this.wanted || checkpoint.treeSize > this.wanted.treeSize) this.wanted = checkpoint;
    this.loop ??= this.run()
      .catch((error: unknown) => {
        console.error(
          `Witness ${this.witness.key.name}: sending stopped: ${(error as Error).message}`,
        );
      })
      .finally(() => (this.loop = null));
  }

  /** Resolves when nothing is being sent. */
  settled(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  interrupt(): void {
    this.wake?.();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.wanted && !this.stop.aborted && !this.refused) {
      const target = this.wanted;
      this.held ??= lastCosignedSize(this.ctx, this.witness.key);
      if (this.held >= target.treeSize) {
        if (this.wanted === target) this.wanted = null;
        continue;
      }
      const outcome = await this.send(target);
      if (this.stop.aborted) return;
      if (outcome.kind === "cosigned") {
        storeCosignature(this.ctx, outcome.cosignature);
        const { treeSize, rootHash, timestamp } = outcome.cosignature;
        const witness = this.witness.key.name;
        rememberWitnessed(this.ctx, { witness, treeSize, rootHash, timestamp, logSigned: null });
        this.held = target.treeSize;
        failures = 0;
      } else if (outcome.kind === "refused") {
        this.refused = true;
        await reportWitnessRefusal(this.ctx, {
          kind: "rollback",
          target: "checkpoint",
          ref: String(target.number),
          detail: `witness ${this.witness.key.name} refused the checkpoint of ${target.treeSize} records: ${outcome.reason}`,
        });
      } else {
        failures++;
        await checkWitnessLag(this.ctx);
        await this.sleep(this.backoff(failures));
      }
    }
  }

  private backoff(failures: number): number {
    // A small WITNESS_MAX_LAG retries more often, so the trail catches up within it.
    const cap = Math.min(MAX_RETRY_MS, this.ctx.config.WITNESS_MAX_LAG * 500);
    return Math.min(cap, FIRST_RETRY_MS * 2 ** (failures - 1));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /** One request; a 409 is answered once with a proof from the size the witness names. */
  private async send(target: Witness): Promise<Submission> {
    const note = await checkpointNote(this.ctx, target);
    let oldSize = this.held ?? 0;
    for (let attempt = 0; attempt < 2; attempt++) {
      let proof: Buffer[];
      try {
        proof = proveConsistency(this.ctx.conn.sqlite, oldSize, target.treeSize);
      } catch (error) {
        if (!(error instanceof ProofUnavailable)) throw error;
        return { kind: "refused", reason: `no consistency proof from size ${oldSize}` };
      }
      const outcome = await submitCheckpoint(
        this.witness,
        { oldSize, proof, note, head: target },
        this.stop,
      );
      if (outcome.kind !== "conflict") return outcome;
      // It already refused this very size, or holds more records than the trail has.
      if (outcome.size === oldSize || outcome.size > target.treeSize) {
        return {
          kind: "refused",
          reason: `it holds a tree of ${outcome.size} records that this checkpoint does not extend`,
        };
      }
      oldSize = outcome.size;
      this.held = outcome.size;
    }
    return { kind: "unavailable", reason: "its size changed while proving" };
  }
}

export type Witnessing = { offer(checkpoint: Witness): void; stop(): Promise<void> };

const active = new Map<AppContext, WitnessSender[]>();
onCheckpointCommitted((ctx, checkpoint) => {
  for (const sender of active.get(ctx) ?? []) sender.offer(checkpoint);
});

/** Starts sending this server's checkpoints to its witnesses; a no-op without WITNESSES. */
export async function startWitnessing(ctx: AppContext): Promise<Witnessing> {
  const abort = new AbortController();
  const witnesses = await parseWitnesses(ctx.config.WITNESSES);
  const senders = witnesses.map((w) => new WitnessSender(ctx, w, abort.signal));
  if (senders.length > 0) active.set(ctx, senders);
  return {
    offer: (checkpoint) => senders.forEach((s) => s.offer(checkpoint)),
    async stop() {
      active.delete(ctx);
      abort.abort();
      senders.forEach((s) => s.interrupt());
      await Promise.all(senders.map((s) => s.settled()));
    },
  };
}

/** Resolves once every witness of `ctx` has nothing left to send (for tests and benchmarks). */
export async function witnessingSettled(ctx: AppContext): Promise<void> {
  await Promise.all((active.get(ctx) ?? []).map((s) => s.settled()));
}
