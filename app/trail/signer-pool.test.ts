import fs from "node:fs";
import os from "node:os";
import { describe, expect, it } from "vitest";
import { checkSignature } from "../crypto/signing.server";
import { makeTestContext } from "../../tests/context";
import { createSignerPool, SIGNER_NICE } from "./signer-pool.server";

// The signing pool: every signature checks against the trail's public key, a checkpoint never
// waits behind another group's records, and the bulk threads yield the CPU to request threads.

/** The nice value of each thread of this process, on Linux. */
function threadNiceValues(): number[] {
  return fs.readdirSync("/proc/self/task").map((tid) => os.getPriority(Number(tid)));
}

describe("signer pool", () => {
  it("signs on its threads what the trail's public key verifies, in the order given", async () => {
    const ctx = makeTestContext();
    const pool = createSignerPool(ctx.keys.signing.privateKey, 2);
    try {
      const inputs = Array.from({ length: 7 }, (_, i) => Buffer.from(`record ${i}`));
      const signatures = await pool.sign(inputs);
      expect(signatures).toHaveLength(7);
      for (const [i, signature] of signatures.entries()) {
        expect(checkSignature(ctx.keys.signing.publicKey, inputs[i]!, signature)).toBe("valid");
        expect(checkSignature(ctx.keys.signing.publicKey, inputs[(i + 1) % 7]!, signature)).toBe(
          "mismatch",
        );
      }
    } finally {
      await pool.close();
    }
  });

  it("signs an urgent input at once while the bulk threads are busy", async () => {
    const ctx = makeTestContext();
    const pool = createSignerPool(ctx.keys.signing.privateKey, 1);
    try {
      const order: string[] = [];
      const bulk = pool
        .sign(Array.from({ length: 120 }, (_, i) => Buffer.from(`bulk ${i}`)))
        .then(() => order.push("bulk"));
      const urgent = pool
        .sign([Buffer.from("checkpoint")], { urgent: true })
        .then(() => order.push("urgent"));
      await Promise.all([bulk, urgent]);
      expect(order).toEqual(["urgent", "bulk"]);
    } finally {
      await pool.close();
    }
  });

  it.runIf(process.platform === "linux")(
    "runs its bulk signing threads below the process's priority, and no other thread",
    async () => {
      const ctx = makeTestContext();
      const before = threadNiceValues().filter((n) => n === SIGNER_NICE).length;
      const pool = createSignerPool(ctx.keys.signing.privateKey, 2);
      try {
        // A signature from each thread: each has started and set its own priority.
        await pool.sign([Buffer.from("a"), Buffer.from("b")]);
        await pool.sign([Buffer.from("c")], { urgent: true });
        const niceValues = threadNiceValues();
        expect(niceValues.filter((n) => n === SIGNER_NICE).length - before).toBe(2);
        expect(os.getPriority()).toBe(0);
      } finally {
        await pool.close();
      }
    },
  );
});
