import type { KeyObject } from "node:crypto";
import os from "node:os";
import { Worker } from "node:worker_threads";
import type { Signer } from "./append.server";

// RSA signing is the cost of an append; bulk imports spread it over every core. The worker is
// plain CommonJS evaluated from this string, so it runs the same from source and from a bundle.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { constants, createPrivateKey, sign } = require("node:crypto");
const key = createPrivateKey(workerData.pem);
parentPort.on("message", ({ id, inputs }) => {
  const signatures = inputs.map((input) =>
    sign("sha512", input, { key, padding: constants.RSA_PKCS1_PADDING }),
  );
  parentPort.postMessage({ id, signatures });
});
`;

export type SignerPool = { sign: Signer; threads: number; close: () => Promise<void> };

/** A pool of signing threads, one per core by default. */
export function createSignerPool(
  privateKey: KeyObject,
  threads = os.availableParallelism(),
): SignerPool {
  const pem = privateKey.export({ type: "pkcs8", format: "pem" });
  const workers = Array.from(
    { length: threads },
    () => new Worker(WORKER_SOURCE, { eval: true, workerData: { pem } }),
  );
  let nextId = 0;
  type Pending = { resolve: (s: Uint8Array[]) => void; reject: (e: Error) => void; worker: Worker };
  const pending = new Map<number, Pending>();
  for (const worker of workers) {
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

  const sign: Signer = async (inputs) => {
    const share = Math.ceil(inputs.length / threads);
    const parts = await Promise.all(
      workers.map((worker, i) => {
        const slice = inputs.slice(i * share, (i + 1) * share);
        return slice.length ? run(worker, slice) : Promise.resolve([]);
      }),
    );
    return parts.flat().map((s) => Buffer.from(s.buffer, s.byteOffset, s.byteLength));
  };
  return {
    sign,
    threads,
    close: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
