import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  EMPTY_ROOT,
  Frontier,
  consistencyProof,
  consistencyProofFrom,
  hashChildren,
  hashLeaf,
  inclusionProof,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.server";

// CI clones the repository beside ../shared, so the vectors live outside the repo.
const vectorsPath = fileURLToPath(
  new URL("../../../shared/test-vectors/rfc6962-merkle.json", import.meta.url),
);
type Vectors = {
  leaf_inputs_hex: string[];
  leaf_hashes_hex: string[];
  roots_by_size_hex: string[];
  inclusion_proofs: { leaf_index: number; tree_size: number; proof: string[] }[];
  consistency_proofs: { size1: number; size2: number; proof: string[] }[];
};
const V = JSON.parse(readFileSync(vectorsPath, "utf8")) as Vectors;

const hex = (s: string) => Buffer.from(s, "hex");
const leaves = V.leaf_hashes_hex.map(hex);
const roots = V.roots_by_size_hex.map(hex);
const N = leaves.length;

/** Deterministic pseudo-random 32-byte leaf hashes, so failures are reproducible. */
const randomLeaves = (n: number, seed = "merkle") =>
  Array.from({ length: n }, (_, i) => createHash("sha256").update(`${seed}/${i}`).digest());

const flipBit = (b: Buffer, bit: number) => {
  const c = Buffer.from(b);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
};
const sameList = (a: readonly Buffer[], b: readonly Buffer[]) =>
  a.length === b.length && a.every((x, i) => x.equals(b[i]!));

type InclStatement = [leaf: Buffer, index: number, size: number, proof: Buffer[], root: Buffer];
type ConsStatement = [size1: number, size2: number, proof: Buffer[], r1: Buffer, r2: Buffer];
type Incl = [string, ...InclStatement];
type Cons = [string, ...ConsStatement];

// Truth oracles over the vector leaves: a statement is true only if it describes the real tree
// and carries the one RFC 6962 proof for it.
function trueInclusion(...[leaf, index, size, proof, root]: InclStatement) {
  if (!(index >= 0 && index < size && size <= N)) return false;
  const tree = leaves.slice(0, size);
  return (
    tree[index]!.equals(leaf) &&
    rootOf(tree).equals(root) &&
    sameList(proof, inclusionProof(tree, index))
  );
}
function trueConsistency(...[size1, size2, proof, r1, r2]: ConsStatement) {
  if (!(size1 >= 1 && size1 <= size2 && size2 <= N)) return false;
  return (
    roots[size1]!.equals(r1) &&
    roots[size2]!.equals(r2) &&
    sameList(proof, consistencyProof(leaves.slice(0, size2), size1))
  );
}

/** Every corruption of a proof list named in the vectors' "about" field. */
function proofVariants(proof: Buffer[]): [string, Buffer[]][] {
  const out: [string, Buffer[]][] = [
    ["extra element at end", [...proof, leaves[0]!]],
    ["extra element at start", [leaves[0]!, ...proof]],
    ["empty proof", []],
  ];
  if (proof.length > 0) {
    out.push(["missing last element", proof.slice(0, -1)]);
    out.push(["missing first element", proof.slice(1)]);
  }
  proof.forEach((p, i) => {
    for (const bit of [0, 7, 128, 255]) {
      out.push([
        `bit ${bit} of element ${i}`,
        proof.map((q, j) => (j === i ? flipBit(p, bit) : q)),
      ]);
    }
  });
  return out;
}

describe("RFC 6962 test vectors", () => {
  it("hashLeaf reproduces every leaf hash", () => {
    V.leaf_inputs_hex.forEach((input, i) => {
      expect(hashLeaf(hex(input)).toString("hex"), `leaf ${i}`).toBe(V.leaf_hashes_hex[i]);
    });
  });

  it("rootOf reproduces the root of every prefix, MTH({}) included", () => {
    expect(roots[0]!.equals(EMPTY_ROOT)).toBe(true);
    for (let n = 0; n <= N; n++) {
      expect(rootOf(leaves.slice(0, n)).toString("hex"), `size ${n}`).toBe(V.roots_by_size_hex[n]);
    }
  });

  it("inclusionProof reproduces every inclusion vector and verifyInclusion accepts it", () => {
    for (const { leaf_index: i, tree_size: n, proof } of V.inclusion_proofs) {
      const expected = proof.map(hex);
      expect(sameList(inclusionProof(leaves.slice(0, n), i), expected), `${i}/${n}`).toBe(true);
      expect(verifyInclusion(leaves[i]!, i, n, expected, roots[n]!), `${i}/${n}`).toBe(true);
    }
  });

  it("consistencyProof reproduces every consistency vector and verifyConsistency accepts it", () => {
    for (const { size1: m, size2: n, proof } of V.consistency_proofs) {
      const expected = proof.map(hex);
      expect(sameList(consistencyProof(leaves.slice(0, n), m), expected), `${m}->${n}`).toBe(true);
      expect(verifyConsistency(m, n, expected, roots[m]!, roots[n]!), `${m}->${n}`).toBe(true);
    }
  });

  it("verifyInclusion rejects every corrupted variant that is a false statement", () => {
    let rejected = 0;
    for (const { leaf_index: i, tree_size: n, proof: hexProof } of V.inclusion_proofs) {
      const proof = hexProof.map(hex);
      const leaf = leaves[i]!;
      const root = roots[n]!;
      const variants: Incl[] = [
        ["index + 1", leaf, i + 1, n, proof, root],
        ["index - 1", leaf, i - 1, n, proof, root],
        ["index xor 2", leaf, i ^ 2, n, proof, root],
        ["size x 2", leaf, i, n * 2, proof, root],
        ["size / 2", leaf, i, Math.floor(n / 2), proof, root],
        ["other leaf", leaves[(i + 1) % N]!, i, n, proof, root],
        ["flipped leaf", flipBit(leaf, 3), i, n, proof, root],
        ["other root", leaf, i, n, proof, roots[n === N ? 1 : n + 1]!],
        ["flipped root", leaf, i, n, proof, flipBit(root, 200)],
        ...proofVariants(proof).map(([what, p]): Incl => [what, leaf, i, n, p, root]),
      ];
      for (const [what, l, idx, size, p, r] of variants) {
        const truth = trueInclusion(l, idx, size, p, r);
        expect(verifyInclusion(l, idx, size, p, r), `${i}/${n}: ${what}`).toBe(truth);
        if (!truth) rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(V.inclusion_proofs.length * 10);
  });

  // No "size2 + 1": the size is bound only by the proof's shape, and e.g. the 1->3 proof [l1, l2]
  // is also a well-formed 1->4 proof if l2 were a node hash. RFC 9162 accepts it, and a real 4-leaf
  // tree with that root would need l2 = H(0x01 ‖ a ‖ b), a preimage, so it is not a forgery.
  it("verifyConsistency rejects every corrupted variant that is a false statement", () => {
    let rejected = 0;
    for (const { size1: m, size2: n, proof: hexProof } of V.consistency_proofs) {
      const proof = hexProof.map(hex);
      const [r1, r2] = [roots[m]!, roots[n]!];
      const variants: Cons[] = [
        ["size1 x 2", m * 2, n, proof, r1, r2],
        ["size1 / 2", Math.floor(m / 2), n, proof, r1, r2],
        ["size2 x 2", m, n * 2, proof, r1, r2],
        ["size2 / 2", m, Math.floor(n / 2), proof, r1, r2],
        ["size1 + 1", m + 1, n, proof, r1, r2],
        ["swapped roots", m, n, proof, r2, r1],
        ["flipped root1", m, n, proof, flipBit(r1, 9), r2],
        ["flipped root2", m, n, proof, r1, flipBit(r2, 9)],
        ["other root1", m, n, proof, roots[m - 1]!, r2],
        ...proofVariants(proof).map(([what, p]): Cons => [what, m, n, p, r1, r2]),
      ];
      for (const [what, s1, s2, p, a, b] of variants) {
        const truth = trueConsistency(s1, s2, p, a, b);
        expect(verifyConsistency(s1, s2, p, a, b), `${m}->${n}: ${what}`).toBe(truth);
        if (!truth) rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(V.consistency_proofs.length * 5);
  });
});

describe("consistencyProofFrom", () => {
  it("reproduces every RFC vector from subtree hashes, asking only for ranges inside the new tree", () => {
    for (const { size1: m, size2: n, proof } of V.consistency_proofs) {
      const asked: [number, number][] = [];
      const subtreeHash = (s: number, e: number) => {
        asked.push([s, e]);
        return rootOf(leaves.slice(s, e));
      };
      const got = consistencyProofFrom(subtreeHash, m, n);
      expect(sameList(got, proof.map(hex)), `${m}->${n}`).toBe(true);
      expect(asked.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(n)) + 1);
      for (const [s, e] of asked) expect(0 <= s && s < e && e <= n, `${s}..${e}`).toBe(true);
    }
  });

  it("refuses sizes that name no proof", () => {
    const subtreeHash = () => EMPTY_ROOT;
    expect(() => consistencyProofFrom(subtreeHash, 0, 4)).toThrow(RangeError);
    expect(() => consistencyProofFrom(subtreeHash, 5, 4)).toThrow(RangeError);
    expect(() => consistencyProofFrom(subtreeHash, 1.5, 4)).toThrow(RangeError);
  });
});

describe("Frontier", () => {
  it("tracks the vector roots leaf by leaf and survives serialize/restore at every size", () => {
    const f = Frontier.empty();
    expect(f.root().equals(EMPTY_ROOT)).toBe(true);
    for (let n = 0; n <= N; n++) {
      if (n > 0) f.append(leaves[n - 1]!);
      expect(f.treeSize).toBe(n);
      expect(f.root().toString("hex"), `size ${n}`).toBe(V.roots_by_size_hex[n]);
      // A restored copy must keep producing the right roots as it grows.
      const restored = Frontier.restore(n, f.serialize());
      expect(restored.serialize().equals(f.serialize())).toBe(true);
      for (let k = n; k < N; k++) restored.append(leaves[k]!);
      expect(restored.root().toString("hex"), `restored at ${n}`).toBe(V.roots_by_size_hex[N]);
    }
  });

  it("restore rejects a byte string that does not match the size", () => {
    const f = Frontier.empty();
    for (const l of leaves.slice(0, 7)) f.append(l); // 7 = 0b111: three nodes
    const bytes = f.serialize();
    expect(bytes.length).toBe(96);
    expect(() => Frontier.restore(7, bytes.subarray(0, 64))).toThrow();
    expect(() => Frontier.restore(7, bytes.subarray(0, 95))).toThrow();
    expect(() => Frontier.restore(7, Buffer.concat([bytes, bytes.subarray(0, 32)]))).toThrow();
    expect(() => Frontier.restore(8, bytes)).toThrow();
    expect(() => Frontier.restore(0, bytes.subarray(0, 32))).toThrow();
  });

  it("matches rootOf at every size and reports each completed subtree correctly", () => {
    const all = randomLeaves(300);
    const f = Frontier.empty();
    all.forEach((leaf, n) => {
      const completed = f.append(leaf);
      expect(completed[0]).toEqual({ level: 0, index: n, hash: leaf });
      // Exactly one new node per trailing 1 bit of the old size, plus the leaf.
      expect(completed.length).toBe(1 + (n.toString(2).match(/1*$/)?.[0].length ?? 0));
      for (const { level, index, hash } of completed) {
        const span = 2 ** level;
        expect(index * span + span).toBeLessThanOrEqual(n + 1);
        const covered = all.slice(index * span, (index + 1) * span);
        expect(hash.equals(rootOf(covered)), `node ${level}/${index} at size ${n + 1}`).toBe(true);
      }
      expect(f.root().equals(rootOf(all.slice(0, n + 1))), `size ${n + 1}`).toBe(true);
    });
  });
});

describe("generated proofs for random trees", () => {
  it("inclusion and consistency proofs verify for every index and every size1", () => {
    for (const size of [1, 2, 3, 5, 8, 13, 16, 17, 31, 32, 33, 47, 64, 65, 70]) {
      const tree = randomLeaves(size, `tree-${size}`);
      const root = rootOf(tree);
      for (let i = 0; i < size; i++) {
        const proof = inclusionProof(tree, i);
        expect(verifyInclusion(tree[i]!, i, size, proof, root), `${i}/${size}`).toBe(true);
      }
      for (let m = 1; m <= size; m++) {
        const proof = consistencyProof(tree, m);
        const root1 = rootOf(tree.slice(0, m));
        expect(verifyConsistency(m, size, proof, root1, root), `${m}->${size}`).toBe(true);
      }
    }
  });
});

// A verifier which skips a step fails. Compare GHSA-672p-m5jq-mrh8 (CVE-2022-36111): immudb's
// client SDKs checked only the endpoints of the linear part of a consistency proof, not every
// element in between, so a malicious server could get a falsified transaction accepted as
// consistent with state the client had already verified. Each naive verifier below drops one
// RFC 9162 check; each forged proof passes it and is rejected by the real verifier.
describe("trees beyond 32-bit sizes", () => {
  it("accepts the RFC proof from a first tree of 2^32 leaves and refuses the padded one", () => {
    const root1 = createHash("sha256").update("first tree").digest();
    const leaf = createHash("sha256").update("next leaf").digest();
    const root2 = hashChildren(root1, leaf);
    expect(verifyConsistency(2 ** 32, 2 ** 32 + 1, [leaf], root1, root2)).toBe(true);
    expect(verifyConsistency(2 ** 32, 2 ** 32 + 1, [root1, leaf], root1, root2)).toBe(false);
    expect(verifyConsistency(2 ** 40, 2 ** 40 + 1, [leaf], root1, root2)).toBe(true);
  });

  it("Frontier.restore refuses a size that is not a whole number", () => {
    expect(() => Frontier.restore(-1, Buffer.alloc(32))).toThrow();
    expect(() => Frontier.restore(1.5, Buffer.alloc(64))).toThrow();
  });
});

describe("a verifier which skips a step fails", () => {
  type Skip = "bound" | "sn in loop" | "sn at end";

  /** RFC 9162 §2.1.3.2 inclusion, minus one check: the index bound, or one of the `sn == 0` tests. */
  function naiveInclusion(skip: Skip, ...[leaf, index, size, proof, root]: InclStatement) {
    if (skip !== "bound" && index >= size) return false;
    let [fn, sn, r] = [index, size - 1, leaf];
    for (const p of proof) {
      if (skip !== "sn in loop" && sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = hashChildren(p, r);
        while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn >> 1, sn >> 1];
      } else {
        r = hashChildren(r, p);
      }
      [fn, sn] = [fn >> 1, sn >> 1];
    }
    return (skip === "sn at end" || sn === 0) && r.equals(root);
  }

  const [l0, l1, l23] = [leaves[0]!, leaves[1]!, rootOf(leaves.slice(2, 4))];
  const forgeries: [Skip, string, InclStatement][] = [
    // Index 2 of a 2-leaf tree folds exactly like index 0.
    ["bound", "leaf 0 is also at index 2 of 2", [l0, 2, 2, [l1], roots[2]!]],
    // A 1-leaf tree's root is its leaf; an extra element wraps it into a fake root.
    ["sn in loop", "a 1-leaf tree gets a fake root", [l0, 0, 1, [l1], hashChildren(l1, l0)]],
    // H(l0, l1) with the short proof [H(l2, l3)] reaches the size-4 root one level early.
    ["sn at end", "node H(l0, l1) passes as leaf 0 of 4", [roots[2]!, 0, 4, [l23], roots[4]!]],
  ];
  it.each(forgeries)("without the %s check, %s", (skip, _what, forged) => {
    expect(trueInclusion(...forged)).toBe(false);
    expect(naiveInclusion(skip, ...forged)).toBe(true);
    expect(verifyInclusion(...forged)).toBe(false);
  });

  /** RFC 9162 §2.1.4.2 consistency, minus the `fr == root1` comparison or the in-loop `sn == 0`. */
  function naiveConsistency(skip: "first root" | "sn in loop", ...st: ConsStatement) {
    const [s1, s2, proof, root1, root2] = st;
    const path = (s1 & (s1 - 1)) === 0 ? [root1, ...proof] : proof;
    let [fn, sn] = [s1 - 1, s2 - 1];
    while (fn % 2 === 1) [fn, sn] = [fn >> 1, sn >> 1];
    let [fr, sr] = [path[0]!, path[0]!];
    for (const c of path.slice(1)) {
      if (skip !== "sn in loop" && sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        [fr, sr] = [hashChildren(c, fr), hashChildren(c, sr)];
        while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn >> 1, sn >> 1];
      } else {
        sr = hashChildren(sr, c);
      }
      [fn, sn] = [fn >> 1, sn >> 1];
    }
    return (skip === "first root" || fr.equals(root1)) && sr.equals(root2) && sn === 0;
  }

  const fork3 = rootOf([l0, l1, hashLeaf(Buffer.from("forged entry"))]);
  const [p38, r3, r8] = [consistencyProof(leaves, 3), roots[3]!, roots[8]!];
  it.each<["first root" | "sn in loop", string, ConsStatement]>([
    // The size-3 proof elements never involve root1, so any fork of the first 3 entries passes.
    ["first root", "a forked size-3 tree 'extends' the real size 8", [3, 8, p38, fork3, r8]],
    // Past sn == 0, an extra element wraps both roots into fake ones.
    [
      "sn in loop",
      "two fake roots agree",
      [3, 8, [...p38, l0], hashChildren(l0, r3), hashChildren(l0, r8)],
    ],
  ])("without the %s check, %s", (skip, _what, forged) => {
    expect(trueConsistency(...forged)).toBe(false);
    expect(naiveConsistency(skip, ...forged)).toBe(true);
    expect(verifyConsistency(...forged)).toBe(false);
  });
});
