import { createHash, hash } from "node:crypto";
import { consistencySteps } from "./merkle-steps";

// RFC 9162 (Certificate Transparency v2) Merkle tree with SHA-256:
// leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ left ‖ right), MTH({}) = SHA-256("").

const LEAF = Buffer.from([0x00]);

/** RFC 9162 leaf hash of one leaf's bytes. */
export function hashLeaf(data: Buffer): Buffer {
  return createHash("sha256").update(LEAF).update(data).digest();
}

/** SHA-256 of bytes whose first byte is already the RFC 9162 domain byte (one-shot: no copies). */
export function hashPrefixed(data: Buffer): Buffer {
  return hash("sha256", data, "buffer") as unknown as Buffer;
}

const scratch = Buffer.alloc(65);

/** RFC 9162 interior node hash. */
export function hashChildren(left: Buffer, right: Buffer): Buffer {
  scratch[0] = 0x01;
  left.copy(scratch, 1);
  right.copy(scratch, 33);
  return hashPrefixed(scratch);
}

export const EMPTY_ROOT = createHash("sha256").digest();

const isOdd = (n: number) => n % 2 === 1;

const half = (n: number) => Math.floor(n / 2);

/** The largest power of two strictly less than n (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) over leaf hashes, by the RFC's recursive definition. */
export function rootOf(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return EMPTY_ROOT;
  if (leaves.length === 1) return leaves[0]!;
  const k = split(leaves.length);
  return hashChildren(rootOf(leaves.slice(0, k)), rootOf(leaves.slice(k)));
}

/** PATH(m, D[n]): the inclusion proof of leaf m (RFC 6962 §2.1.1). */
export function inclusionProof(leaves: readonly Buffer[], m: number): Buffer[] {
  if (m < 0 || m >= leaves.length) throw new RangeError("leaf index out of range");
  if (leaves.length === 1) return [];
  const k = split(leaves.length);
  return m < k
    ? [...inclusionProof(leaves.slice(0, k), m), rootOf(leaves.slice(k))]
    : [...inclusionProof(leaves.slice(k), m - k), rootOf(leaves.slice(0, k))];
}

/** MTH(D[start:end]) of some tree: from its leaves, or from stored subtree hashes. */
export type SubtreeHash = (start: number, end: number) => Buffer;

/**
 * PROOF(m, D[n]): the consistency proof from size m to size n (RFC 9162 §2.1.4.1), asking the
 * accessor for O(log n) subtree hashes, so a stored tree needs no leaves in memory.
 */
export function consistencyProofFrom(subtreeHash: SubtreeHash, m: number, n: number): Buffer[] {
  if (!Number.isSafeInteger(m) || !Number.isSafeInteger(n) || m < 1 || m > n) {
    throw new RangeError("size out of range");
  }
  // SUBPROOF unrolled: each step adds the sibling at its level; the deepest node comes first.
  const nodes: Buffer[] = [];
  let [start, end, rest, complete] = [0, n, m, true];
  while (rest !== end - start) {
    const k = split(end - start);
    if (rest <= k) {
      nodes.push(subtreeHash(start + k, end));
      end = start + k;
    } else {
      nodes.push(subtreeHash(start, start + k));
      [start, rest, complete] = [start + k, rest - k, false];
    }
  }
  if (!complete) nodes.push(subtreeHash(start, end));
  return nodes.reverse();
}

/** PROOF(m, D[n]): the consistency proof from size m to the whole list (RFC 6962 §2.1.2). */
export function consistencyProof(leaves: readonly Buffer[], m: number): Buffer[] {
  return consistencyProofFrom((s, e) => rootOf(leaves.slice(s, e)), m, leaves.length);
}

/** Verifies an inclusion proof (RFC 9162 §2.1.3.2). */
export function verifyInclusion(
  leafHash: Buffer,
  index: number,
  size: number,
  proof: readonly Buffer[],
  root: Buffer,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
    return false;
  }
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = hashChildren(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && r.equals(root);
}

/** Verifies a consistency proof between two tree heads (RFC 9162 §2.1.4.2). */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Buffer[],
  root1: Buffer,
  root2: Buffer,
): boolean {
  const steps = consistencySteps(size1, size2, proof, root1, root2);
  const asBuffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  let step = steps.next();
  while (!step.done)
    step = steps.next(hashChildren(asBuffer(step.value[0]), asBuffer(step.value[1])));
  return step.value;
}

/** A completed subtree: `level` 0 is a leaf, and it covers leaves [index·2^level, (index+1)·2^level). */
export type TreeNode = { level: number; index: number; hash: Buffer };

/**
 * The right edge of a growing tree: the roots of its complete subtrees, largest first, one per
 * set bit of its size. Appending costs O(log n), and the root is a fold of the edge.
 */
export class Frontier {
  private constructor(
    private size: number,
    private readonly nodes: Buffer[],
  ) {}

  static empty(): Frontier {
    return new Frontier(0, []);
  }

  /** Restores a frontier from its size and its serialized hashes. */
  static restore(size: number, serialized: Buffer): Frontier {
    if (!Number.isSafeInteger(size) || size < 0) throw new Error("a tree size is a whole number");
    const count = [...size.toString(2)].filter((b) => b === "1").length;
    if (serialized.length !== count * 32) throw new Error("frontier does not match its size");
    const nodes = Array.from({ length: count }, (_, i) =>
      Buffer.from(serialized.subarray(i * 32, i * 32 + 32)),
    );
    return new Frontier(size, nodes);
  }

  get treeSize(): number {
    return this.size;
  }

  serialize(): Buffer {
    return Buffer.concat(this.nodes);
  }

  /** Appends a leaf hash; returns the subtrees it completed, the leaf itself first. */
  append(leafHash: Buffer): TreeNode[] {
    const completed: TreeNode[] = [{ level: 0, index: this.size, hash: leafHash }];
    this.nodes.push(leafHash);
    let level = 0;
    let index = this.size;
    // Each trailing 1 bit of the old size is a complete subtree that now has a right sibling.
    for (let s = this.size; isOdd(s); s = half(s)) {
      const right = this.nodes.pop()!;
      const left = this.nodes.pop()!;
      const merged = hashChildren(left, right);
      this.nodes.push(merged);
      level += 1;
      index = half(index);
      completed.push({ level, index, hash: merged });
    }
    this.size += 1;
    return completed;
  }

  root(): Buffer {
    if (this.nodes.length === 0) return EMPTY_ROOT;
    let r = this.nodes[this.nodes.length - 1]!;
    for (let i = this.nodes.length - 2; i >= 0; i--) r = hashChildren(this.nodes[i]!, r);
    return r;
  }

  clone(): Frontier {
    return new Frontier(this.size, [...this.nodes]);
  }
}
