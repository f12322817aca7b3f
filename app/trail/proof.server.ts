import type Database from "better-sqlite3";
import {
  consistencyProofFrom,
  hashChildren,
  hashPrefixed,
  rootOf,
  verifyInclusion,
} from "../crypto/merkle.server";
import { SQL_LEAF_WITH_PREFIX } from "./encoding.server";

/** Subtrees of 2^6 = 64 leaves and more are stored in tree_nodes as they complete. */
export const STORED_NODE_LEVEL = 6;

export class ProofUnavailable extends Error {}

function isAlignedPowerOfTwo(start: number, n: number): number | null {
  let level = 0;
  for (let size = 1; size <= n; size *= 2, level++) {
    if (size === n) return start % n === 0 ? level : null;
  }
  return null;
}

/** The largest power of two strictly less than n (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Reads Merkle tree hashes from the database: stored subtrees, or leaves hashed on the spot. */
export class TreeReader {
  private readonly leaves: Database.Statement;
  private readonly node: Database.Statement;

  constructor(sqlite: Database.Database) {
    this.leaves = sqlite
      .prepare(
        `SELECT seq, ${SQL_LEAF_WITH_PREFIX} FROM audit_records WHERE seq > ? AND seq <= ? ORDER BY seq`,
      )
      .raw(true);
    this.node = sqlite.prepare("SELECT hash FROM tree_nodes WHERE level = ? AND idx = ?").pluck();
  }

  /** Leaf hashes of leaves [start, end) (0-based: seq start+1 … end). */
  leafHashes(start: number, end: number): Buffer[] {
    const rows = this.leaves.all(start, end) as [number, Buffer][];
    if (rows.length !== end - start || rows.some(([seq], i) => seq !== start + i + 1)) {
      throw new ProofUnavailable(`records ${start + 1}…${end} are not all present`);
    }
    return rows.map(([, leaf]) => hashPrefixed(leaf));
  }

  /** MTH(D[start:end]). */
  subtreeHash(start: number, end: number): Buffer {
    const n = end - start;
    const level = isAlignedPowerOfTwo(start, n);
    if (level !== null && level >= STORED_NODE_LEVEL) {
      const stored = this.node.get(level, start / n) as Buffer | undefined;
      if (stored) return stored;
    }
    if (level !== null && n <= 2 ** STORED_NODE_LEVEL) return rootOf(this.leafHashes(start, end));
    const k = split(n);
    return hashChildren(this.subtreeHash(start, start + k), this.subtreeHash(start + k, end));
  }

  /** PATH(m, D[0:size]): the inclusion proof of leaf m in the tree of `size` leaves. */
  inclusionProof(m: number, size: number): Buffer[] {
    const path = (start: number, end: number): Buffer[] => {
      if (end - start === 1) return [];
      const k = split(end - start);
      return m < start + k
        ? [...path(start, start + k), this.subtreeHash(start + k, end)]
        : [...path(start + k, end), this.subtreeHash(start, start + k)];
    };
    if (m < 0 || m >= size) throw new ProofUnavailable("the record is not in this tree");
    return path(0, size);
  }
}

export type InclusionCheck = { proof: Buffer[]; verified: boolean };

/** Builds the inclusion proof of a leaf and checks it against a (signed) root. */
export function proveInclusion(
  sqlite: Database.Database,
  leafHash: Buffer,
  index: number,
  size: number,
  root: Buffer,
): InclusionCheck {
  try {
    const proof = new TreeReader(sqlite).inclusionProof(index, size);
    return { proof, verified: verifyInclusion(leafHash, index, size, proof, root) };
  } catch (error) {
    if (error instanceof ProofUnavailable) return { proof: [], verified: false };
    throw error;
  }
}

/**
 * PROOF(from, D[to]) (RFC 9162 §2.1.4.1) from stored subtrees, in O(log n) reads. From size 0
 * the proof is empty, as tlog-witness sends for a log's first checkpoint (RFC 9162 defines none).
 */
export function proveConsistency(sqlite: Database.Database, from: number, to: number): Buffer[] {
  if (from === 0) return [];
  const reader = new TreeReader(sqlite);
  return consistencyProofFrom((start, end) => reader.subtreeHash(start, end), from, to);
}

export type RecordInclusion = InclusionCheck & { seq: number; leafHash: Buffer };

/** The inclusion proof of the record `logId` in the tree of `size` leaves; null when not in it. */
export function proveRecordInclusion(
  sqlite: Database.Database,
  logId: string,
  size: number,
  root: Buffer,
): RecordInclusion | null {
  const seq = sqlite.prepare("SELECT seq FROM audit_records WHERE log_id = ?").pluck().get(logId);
  if (typeof seq !== "number" || seq > size) return null;
  const [leafHash] = new TreeReader(sqlite).leafHashes(seq - 1, seq);
  return { seq, leafHash: leafHash!, ...proveInclusion(sqlite, leafHash!, seq - 1, size, root) };
}
