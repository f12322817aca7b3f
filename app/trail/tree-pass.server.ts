import type { KeyObject } from "node:crypto";
import os from "node:os";
import type Database from "better-sqlite3";
import { Frontier } from "../crypto/merkle.server";
import { leafChunksInThread, leafChunksInWorkers, type LeafChunk } from "./leaf-chunks.server";

// The full pass's first part: the records' Merkle tree rebuilt from their rows, with the checks
// that need every row (types, seqs 1, 2, 3 …, trusted key ids). docs/decisions/005 and 008.

/** A step of the pass: nothing (give the event loop back), or something to wait for first. */
export type Step = Promise<unknown> | undefined;
export type Steps<T> = Generator<Step, T, unknown>;

export type RebuiltTree = {
  frontier: Frontier;
  /** Every row stored with its declared types, and seqs running 1, 2, 3 … */
  wellFormed: boolean;
  /** Every row names a trusted key. */
  keysKnown: boolean;
  /** The root at each size asked for (the anchors'), when the records reach it. */
  rootsAt: Map<number, Buffer>;
  lastLogId: string | null;
};

/** Below this many records the rows are read in the verifying thread alone. */
const WORKERS_FROM = 20_000;

function* treeOf(
  chunks: Iterable<LeafChunk | Promise<LeafChunk>>,
  keys: Map<string, KeyObject>,
  anchorSizes: ReadonlySet<number>,
  onChunk: (done: number) => void,
): Steps<RebuiltTree> {
  const tree: RebuiltTree = {
    frontier: Frontier.empty(),
    wellFormed: true,
    keysKnown: true,
    rootsAt: new Map(),
    lastLogId: null,
  };
  let expected = 1;
  for (const item of chunks) {
    const chunk = (item instanceof Promise ? yield item : item) as LeafChunk;
    if (!chunk.typesOk) tree.wellFormed = false;
    if (chunk.keyIds.some((id) => !keys.has(id))) tree.keysKnown = false;
    for (const [i, seq] of chunk.seqs.entries()) {
      if (seq !== expected) tree.wellFormed = false;
      expected = seq + 1;
      tree.frontier.append(chunk.hashes.subarray(i * 32, i * 32 + 32));
      const size = tree.frontier.treeSize;
      if (anchorSizes.has(size)) tree.rootsAt.set(size, tree.frontier.root());
    }
    if (chunk.seqs.length > 0) tree.lastLogId = chunk.lastLogId;
    onChunk(tree.frontier.treeSize);
    yield;
  }
  return tree;
}

/**
 * Rebuilds the tree of `sqlite`'s records (`total` of them, in its snapshot). With worker
 * threads, they read and hash beside this thread, each in a snapshot of its own; that result
 * is kept only when `reproduces` says it matches what this snapshot signed. Anything else (a
 * changed table, a worker that failed) is read again here, in this snapshot, which is then the
 * one every finding comes from.
 */
export function* rebuildTree(
  sqlite: Database.Database,
  total: number,
  options: {
    keys: Map<string, KeyObject>;
    anchorSizes: ReadonlySet<number>;
    reproduces: (tree: RebuiltTree) => boolean;
    threads?: number;
    onProgress?: (done: number, total: number) => void;
  },
): Steps<RebuiltTree> {
  const progress = (done: number) => options.onProgress?.(done, total);
  const threads = options.threads ?? (total >= WORKERS_FROM ? os.availableParallelism() : 0);
  if (threads > 0 && !sqlite.memory && seqsRunOneToTotal(sqlite, total)) {
    const parallel = leafChunksInWorkers(sqlite.name, total, threads);
    try {
      const tree = yield* treeOf(parallel.chunks, options.keys, options.anchorSizes, progress);
      if (options.reproduces(tree)) return tree;
    } catch {
      // A worker could not read or hash: this thread reads instead.
    } finally {
      yield parallel.close();
    }
  }
  return yield* treeOf(leafChunksInThread(sqlite), options.keys, options.anchorSizes, progress);
}

/** Whether the seqs are exactly 1 … total, as appends leave them: the workers' chunks are ranges. */
function seqsRunOneToTotal(sqlite: Database.Database, total: number): boolean {
  const { lo, hi } = sqlite
    .prepare("SELECT min(seq) AS lo, max(seq) AS hi FROM audit_records")
    .get() as { lo: unknown; hi: unknown };
  return lo === 1 && hi === total;
}
