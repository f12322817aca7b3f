import type { KeyObject } from "node:crypto";
import os from "node:os";
import type Database from "better-sqlite3";
import { Frontier } from "../crypto/merkle.server";
import { LeafHashes } from "./leaf-hashes";
import {
  leafChunksInThread,
  startLeafWorkers,
  type LeafChunk,
  type LeafWorkers,
} from "./leaf-chunks.server";

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
  /** Every leaf hash in order, when asked for (the server keeps them: leaf-hashes.ts). */
  leaves: LeafHashes | null;
};

/** Below this many records the rows are read in the verifying thread alone. */
const WORKERS_FROM = 20_000;

function* treeOf(
  chunks: Iterable<LeafChunk | Promise<LeafChunk>>,
  keys: Map<string, KeyObject>,
  anchorSizes: ReadonlySet<number>,
  onChunk: (done: number) => void,
  keepLeaves: boolean,
): Steps<RebuiltTree> {
  const tree: RebuiltTree = {
    frontier: Frontier.empty(),
    wellFormed: true,
    keysKnown: true,
    rootsAt: new Map(),
    lastLogId: null,
    leaves: keepLeaves ? new LeafHashes() : null,
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
    tree.leaves?.append(chunk.hashes.subarray(0, chunk.seqs.length * 32));
    if (chunk.seqs.length > 0) tree.lastLogId = chunk.lastLogId;
    onChunk(tree.frontier.treeSize);
    yield;
  }
  return tree;
}

/**
 * Worker threads for a pass about to start on `sqlite`: one per core (or `threads`) from
 * WORKERS_FROM records on; none for a database in memory, or one already inside a transaction
 * (its snapshot would be older than the workers could be shown to match). Start them before
 * the pass's snapshot, and close them after it.
 */
export function leafWorkersFor(sqlite: Database.Database, threads?: number): LeafWorkers | null {
  if (sqlite.memory || sqlite.inTransaction) return null;
  const size = () =>
    (sqlite.prepare("SELECT max(seq) FROM audit_records").pluck().get() as number | null) ?? 0;
  const count = threads ?? (size() >= WORKERS_FROM ? os.availableParallelism() : 0);
  if (count < 1) return null;
  try {
    return startLeafWorkers(sqlite.name, count);
  } catch {
    return null; // the file cannot be opened again: the pass reads in its own thread
  }
}

/**
 * Rebuilds the tree of `sqlite`'s records (`total` of them, in its snapshot). With `workers`,
 * they read and hash beside this thread, each in a snapshot of its own; that result is used
 * only if no commit came between this snapshot and theirs, and is kept only when `reproduces`
 * says it matches what this snapshot signed. Anything else (a changed file, a worker that
 * failed) is read again here, in this snapshot, which is then the one every finding comes from.
 */
export function* rebuildTree(
  sqlite: Database.Database,
  total: number,
  options: {
    keys: Map<string, KeyObject>;
    anchorSizes: ReadonlySet<number>;
    reproduces: (tree: RebuiltTree) => boolean;
    workers: LeafWorkers | null;
    onProgress?: (done: number, total: number) => void;
    keepLeaves?: boolean;
  },
): Steps<RebuiltTree> {
  const keep = options.keepLeaves ?? false;
  const progress = (done: number) => options.onProgress?.(done, total);
  const { workers } = options;
  if (workers && seqsRunOneToTotal(sqlite, total)) {
    try {
      const reading = workers.read(total);
      yield reading.snapshots;
      if (workers.unchanged()) {
        const tree = yield* treeOf(
          reading.chunks,
          options.keys,
          options.anchorSizes,
          progress,
          keep,
        );
        if (options.reproduces(tree)) return tree;
      }
    } catch {
      // A worker could not read or hash: this thread reads instead.
    }
  }
  return yield* treeOf(
    leafChunksInThread(sqlite),
    options.keys,
    options.anchorSizes,
    progress,
    keep,
  );
}
/** Whether the seqs are exactly 1 … total, as appends leave them: the workers' chunks are ranges. */
function seqsRunOneToTotal(sqlite: Database.Database, total: number): boolean {
  const { lo, hi } = sqlite
    .prepare("SELECT min(seq) AS lo, max(seq) AS hi FROM audit_records")
    .get() as { lo: unknown; hi: unknown };
  return lo === 1 && hi === total;
}
