import type { KeyObject } from "node:crypto";
import os from "node:os";
import { Worker } from "node:worker_threads";
import { lowerThreadPrioritySource } from "../../db/thread-priority";
import type { Signer } from "./append.server";

// RSA signing is the cost of an append; bulk imports spread it over every core. The worker is
// plain CommonJS evaluated from this string, so it runs the same from source and from a bundle.
// The bulk signing threads run below the process's priority (db/thread-priority.ts).
const workerSource = (nice: number) => `
const { parentPort, workerData } = require("node:worker_threads");
const { constants, createPrivateKey, sign } = require("node:crypto");
${lowerThreadPrioritySource(nice)}
const key = createPrivateKey(workerData.pem);
parentPort.on("message", ({ id, inputs }) => {
  const signatures = inputs.map((input) =>
    sign("sha512", input, { key, padding: constants.RSA_PKCS1_PADDING }),
  );
  parentPort.postMessage({ id, signatures });
});
`;

/** How much lower than the process the bulk signing threads run (a nice value, 0 to 19). */
export const SIGNER_NICE = 10;

export type SignerPool = { sign: Signer; threads: number; close: () => Promise<void> };

type Pending = { resolve: (s: Uint8Array[]) => void; reject: (e: Error) => void; worker: Worker };

/**
 * A pool of signing threads: one per core by default for records, below the process's priority,
 * and one more at the process's priority for urgent inputs (a checkpoint, which a whole commit
 * waits for): it never queues behind another group's records.
 */
export function createSignerPool(
  privateKey: KeyObject,
  threads = os.availableParallelism(),
): SignerPool {
  const pem = privateKey.export({ type: "pkcs8", format: "pem" });
  const spawn = (nice: number) =>
    new Worker(workerSource(nice), { eval: true, workerData: { pem } });
  const workers = Array.from({ length: threads }, () => spawn(SIGNER_NICE));
  const urgent = spawn(0);
  let nextId = 0;
  const pending = new Map<number, Pending>();
  for (const worker of [...workers, urgent]) {
    worker.on("message", ({ id, signatures }: { id: number; signatures: Uint8Array[] }) => {
      pending.get(id)?.resolve(signatures);
      pending.delete(id);
    });
    worker.on("error", (error) => {
      for (const [id, p] of pending) {
        if (p.worker !== worker) continue;
        p.reject(error);
        pending.delete(id);
      }
    });
  }
  const run = (worker: Worker, inputs: Buffer[]) =>
    new Promise<Uint8Array[]>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject, worker });
      // Each input gets a buffer of its own, handed over rather than copied: a small Buffer
      // shares Node's 8 KiB pool, which structured cloning would copy whole.
      const own = inputs.map((input) => new Uint8Array(input));
      worker.postMessage(
        { id, inputs: own },
        own.map((input) => input.buffer),
      );
    });
  const toBuffers = (parts: Uint8Array[]) =>
    parts.map((s) => Buffer.from(s.buffer, s.byteOffset, s.byteLength));

  const sign: Signer = async (inputs, options) => {
    if (options?.urgent) return toBuffers(await run(urgent, inputs));
    const share = Math.ceil(inputs.length / threads);
    const parts = await Promise.all(
      workers.map((worker, i) => {
        const slice = inputs.slice(i * share, (i + 1) * share);
        return slice.length ? run(worker, slice) : Promise.resolve([]);
      }),
    );
    return toBuffers(parts.flat());
  };
  return {
    sign,
    threads,
    close: async () => {
      await Promise.all([...workers, urgent].map((w) => w.terminate()));
    },
  };
}
