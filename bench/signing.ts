// The signing limit: one worker thread per core signing with RSA-3072 in a tight loop for a
// fixed time, summed. No pool, no message per signature: the most the machine can sign.
import type { KeyObject } from "node:crypto";
import os from "node:os";
import { Worker } from "node:worker_threads";

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { constants, createPrivateKey, randomBytes, sign } = require("node:crypto");
const key = createPrivateKey(workerData.pem);
const input = randomBytes(700);
const run = (ms) => {
  let signs = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    sign("sha512", input, { key, padding: constants.RSA_PKCS1_PADDING });
    signs += 1;
  }
  return signs;
};
run(workerData.warmMs);
const started = performance.now();
const signs = run(workerData.ms);
parentPort.postMessage({ signs, ms: performance.now() - started });
`;

/** RSA signatures per second over all cores, each core signing alone for `ms`. */
export async function rawSignsPerSecond(privateKey: KeyObject, ms = 3000): Promise<number> {
  const pem = privateKey.export({ type: "pkcs8", format: "pem" });
  const rates = await Promise.all(
    Array.from({ length: os.availableParallelism() }, () => {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { pem, ms, warmMs: 300 },
      });
      return new Promise<number>((resolve, reject) => {
        worker.once("message", ({ signs, ms: took }: { signs: number; ms: number }) =>
          resolve(signs / (took / 1000)),
        );
        worker.once("error", reject);
      }).finally(() => worker.terminate());
    }),
  );
  return rates.reduce((a, b) => a + b, 0);
}
