// Append → quorum cosignature, with two local witness processes.
import path from "node:path";
import type { AppContext } from "../app/context.server";
import { parseVerifierKey } from "../app/crypto/note";
import { lastCosignedSize } from "../app/models/cosignature.server";
import { appendRecords } from "../app/trail/append.server";
import { verifyNow } from "../app/trail/guard.server";
import type { SignerPool } from "../app/trail/signer-pool.server";
import { noteVerifierKey } from "../app/trail/checkpoint-note.server";
import { startWitnessing, witnessingSettled } from "../app/trail/witnessing.server";
import { serveLocalWitness, trustLog, type LocalWitness } from "../server/local-witness";
import { build, context, event, median, WORK } from "./trail";

/**
 * Milliseconds from an append (the API's path: one record) until a quorum of two local witness
 * processes' cosignatures for it is stored, median over `runs` appends to a trail of `history`
 * records; and, as the baseline, the same appends without witnesses.
 */
export async function appendToQuorum(
  runs: number,
  history: number,
  pool: SignerPool,
  keysFrom: AppContext,
) {
  const witnesses: LocalWitness[] = [];
  try {
    const origin = keysFrom.config.TRAIL_ORIGIN;
    const logVkey = noteVerifierKey(keysFrom.keys);
    for (const i of [1, 2]) {
      const dir = path.join(WORK, `witness-${i}`);
      trustLog(dir, origin, logVkey);
      witnesses.push(await serveLocalWitness(dir, { name: `bench-witness-${i}` }));
    }
    const keys = await Promise.all(witnesses.map((w) => parseVerifierKey(w.vkey)));
    const ctx = context("witnessed", {
      WITNESSES: witnesses.map((w) => w.entry).join(","),
      WITNESS_QUORUM: "2",
    });
    await build(ctx, history, pool, "witnessed trail");
    let next = history;
    const append = async () => {
      const result = await appendRecords(ctx, [event(next++, history + 2 * runs)]);
      return result.checkpoint.treeSize;
    };
    const alone: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      await append();
      alone.push(performance.now() - started);
    }
    const witnessing = await startWitnessing(ctx);
    try {
      // The witnesses first catch up with the history: not measured.
      const head = verifyNow(ctx).checkpoint;
      if (head) witnessing.offer(head);
      await witnessingSettled(ctx);
      const toQuorum: number[] = [];
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        const size = await append();
        while (keys.filter((k) => lastCosignedSize(ctx, k) >= size).length < 2) {
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        toQuorum.push(performance.now() - started);
      }
      return { toQuorum: median(toQuorum), alone: median(alone) };
    } finally {
      await witnessing.stop();
      ctx.conn.sqlite.close();
    }
  } finally {
    await Promise.all(witnesses.map((w) => w.stop()));
  }
}
