import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { verifyConsistency } from "./merkle-verify";
import * as server from "./merkle.server";

// The browser's WebCrypto verifier against the RFC 6962 vectors the server tree uses, and
// against the server's own verifyConsistency on random trees and corrupted proofs.

const vectorsPath = fileURLToPath(
  new URL("../../../shared/test-vectors/rfc6962-merkle.json", import.meta.url),
);
type Vectors = {
  roots_by_size_hex: string[];
  consistency_proofs: { size1: number; size2: number; proof: string[] }[];
};
const V = JSON.parse(readFileSync(vectorsPath, "utf8")) as Vectors;
const hex = (s: string) => Buffer.from(s, "hex");
const roots = V.roots_by_size_hex.map(hex);

const flipBit = (b: Buffer, bit: number) => {
  const c = Buffer.from(b);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
};

/** Deterministic pseudo-random numbers and leaves, so failures are reproducible. */
function rng(seed: number) {
  let s = seed >>> 0;
  return (below: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % below;
  };
}
const leavesOf = (n: number, seed: string) =>
  Array.from({ length: n }, (_, i) => createHash("sha256").update(`${seed}/${i}`).digest());

describe("verifyConsistency (WebCrypto)", () => {
  it("accepts every RFC 6962 consistency vector", async () => {
    expect(V.consistency_proofs.length).toBeGreaterThan(0);
    for (const { size1, size2, proof } of V.consistency_proofs) {
      const ok = await verifyConsistency(
        size1,
        size2,
        proof.map(hex),
        roots[size1]!,
        roots[size2]!,
      );
      expect(ok, `${size1} → ${size2}`).toBe(true);
    }
  });

  it("rejects every vector with a flipped root, a flipped or missing node, or wrong sizes", async () => {
    let rejected = 0;
    for (const { size1: m, size2: n, proof: hexProof } of V.consistency_proofs) {
      const proof = hexProof.map(hex);
      const [r1, r2] = [roots[m]!, roots[n]!];
      const variants: [number, number, Buffer[], Buffer, Buffer][] = [
        [m, n, proof, flipBit(r1, 9), r2],
        [m, n, proof, r1, flipBit(r2, 9)],
        [m, n, proof.slice(0, -1), r1, r2],
        [m, n, [...proof, r2], r1, r2],
        [n, m, proof, r2, r1],
        [0, n, proof, r1, r2],
        ...proof.map((p, i): [number, number, Buffer[], Buffer, Buffer] => [
          m,
          n,
          proof.map((q, j) => (j === i ? flipBit(p, 100) : q)),
          r1,
          r2,
        ]),
      ];
      for (const [s1, s2, p, a, b] of variants) {
        // Some variants can be true (m = n with an empty proof); the server's verifier decides.
        const expected = server.verifyConsistency(s1, s2, p, a, b);
        expect(await verifyConsistency(s1, s2, p, a, b)).toBe(expected);
        if (!expected) rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(V.consistency_proofs.length * 5);
  });

  it("agrees with merkle.server.ts on random trees, true and corrupted proofs", async () => {
    const next = rng(2026);
    for (let round = 0; round < 60; round++) {
      const n = 1 + next(300);
      const leaves = leavesOf(n, `tree-${round}`);
      const m = 1 + next(n);
      const proof = server.consistencyProof(leaves, m);
      const r1 = server.rootOf(leaves.slice(0, m));
      const r2 = server.rootOf(leaves);
      expect(await verifyConsistency(m, n, proof, r1, r2), `${m} → ${n}`).toBe(true);
      expect(server.verifyConsistency(m, n, proof, r1, r2)).toBe(true);

      // A fork: the same sizes over a tree whose one leaf differs.
      const forked = leaves.map((l, i) => (i === next(n) ? flipBit(l, 1) : l));
      const forkRoot = server.rootOf(forked);
      const forkProof = server.consistencyProof(forked, m);
      for (const [p, a, b] of [
        [proof, r1, forkRoot],
        [forkProof, r1, r2],
        [forkProof, server.rootOf(forked.slice(0, m)), r2],
        [proof.length > 0 ? proof.slice(1) : proof, r1, r2],
      ] as const) {
        expect(await verifyConsistency(m, n, p, a, b)).toBe(
          server.verifyConsistency(m, n, p, a, b),
        );
      }
      if (n > 1) {
        // Claiming a smaller second tree, or a rolled-back one, never verifies.
        expect(await verifyConsistency(n, m - 1 || 1, proof, r2, r1)).toBe(
          server.verifyConsistency(n, m - 1 || 1, proof, r2, r1),
        );
      }
    }
  });

  it("refuses sizes that are not whole, positive and ordered, and hashes that are not 32 bytes", async () => {
    const r = roots[1]!;
    expect(await verifyConsistency(1.5, 2, [], r, r)).toBe(false);
    expect(await verifyConsistency(-1, 2, [], r, r)).toBe(false);
    expect(await verifyConsistency(2 ** 53, 2 ** 53, [], r, r)).toBe(false);
    expect(await verifyConsistency(1, 1, [], r, r.subarray(1))).toBe(false);
    expect(await verifyConsistency(1, 1, [], r, r)).toBe(true);
    expect(await verifyConsistency(1, 1, [r], r, r)).toBe(false);
  });
});
