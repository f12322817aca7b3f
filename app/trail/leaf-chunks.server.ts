import { hash } from "node:crypto";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";
import { lowerThreadPrioritySource } from "../../db/thread-priority";
import { SQL_LEAF_WITH_PREFIX, SQL_TYPES_OK } from "./encoding.server";

// The full pass's reading and leaf hashing, a chunk of rows at a time: in the verifying thread,
// or spread over worker threads, each on a read-only connection of its own (docs/decisions/008).
// Both build their chunks with the one function below; the pass checks every chunk alike.

/** Rows per chunk: the pass gives the event loop back, and reports progress, after each. */
export const CHUNK_ROWS = 500;

/** What the full pass needs of a chunk of records, in seq order. */
export type LeafChunk = {
  seqs: number[];
  /** Whether every column of every row is stored as its declared type (SQL_TYPES_OK). */
  typesOk: boolean;
  /** The distinct key ids the rows name; "" for one that is not text. */
  keyIds: string[];
  /** The last row's log id; null when it is not text, or the chunk is empty. */
  lastLogId: string | null;
  /** The rows' RFC 9162 leaf hashes, 32 bytes each, in order. */
  hashes: Buffer;
};

/** A raw row as the select returns it: seq, log id, key id, 0x00 ‖ leaf input, types ok. */
type LeafRow = [seq: number, logId: unknown, keyId: unknown, prefixedLeaf: Buffer, typesOk: number];

const SELECT_COLUMNS = `seq, log_id, key_id, ${SQL_LEAF_WITH_PREFIX}, ${SQL_TYPES_OK}`;

/**
 * Builds a chunk from its raw rows. Self-contained (no import, no closure): its source text is
 * also what the worker threads run, so both ways of reading give the same chunk.
 */
export function leafChunkOf(rows: unknown[][], sha256: (data: Buffer) => Uint8Array): LeafChunk {
  const hashes = Buffer.alloc(rows.length * 32);
  const seqs: number[] = [];
  const keyIds = new Set<string>();
  let typesOk = true;
  for (const [i, row] of rows.entries()) {
    seqs.push(row[0] as number);
    keyIds.add(typeof row[2] === "string" ? row[2] : "");
    hashes.set(sha256(row[3] as Buffer), i * 32);
    if (row[4] !== 1) typesOk = false;
  }
  const last = rows.at(-1)?.[1];
  return {
    seqs,
    typesOk,
    keyIds: [...keyIds],
    lastLogId: typeof last === "string" ? last : null,
    hashes,
  };
}

const sha256 = (data: Buffer) => hash("sha256", data, "buffer") as unknown as Uint8Array;

/** Every record in seq order, read and hashed on `sqlite`'s own thread, a chunk at a time. */
export function* leafChunksInThread(sqlite: Database.Database): Generator<LeafChunk> {
  const select = sqlite
    .prepare(
      `SELECT ${SELECT_COLUMNS} FROM audit_records WHERE seq > ? ORDER BY seq LIMIT ${CHUNK_ROWS}`,
    )
    .raw(true);
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const rows = select.all(after) as LeafRow[];
    if (rows.length === 0) return;
    after = rows[rows.length - 1]![0];
    yield leafChunkOf(rows, sha256);
  }
}

// Each worker reads the chunks j ≡ its number (mod threads), chunk j holding seq in
// (j·CHUNK_ROWS, (j+1)·CHUNK_ROWS], in one read transaction, and keeps at most WINDOW chunks
// ahead of the pass, so memory stays flat however large the table.
const WINDOW = 8;
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { hash } = require("node:crypto");
${lowerThreadPrioritySource(10)}
const leafChunkOf = ${leafChunkOf.toString()};
const sha256 = (data) => hash("sha256", data, "buffer");
const Database = require(workerData.driver);
const db = new Database(workerData.file, { readonly: true, fileMustExist: true });
db.pragma("busy_timeout = 5000");
const select = db.prepare(workerData.sql).raw(true);
let acked = 0;
let wake = null;
parentPort.on("message", () => { acked += 1; if (wake) wake(); });
(async () => {
  db.exec("BEGIN");
  let sent = 0;
  for (let j = workerData.first; j < workerData.chunks; j += workerData.step) {
    while (sent - acked >= workerData.window) await new Promise((resolve) => (wake = resolve));
    const chunk = leafChunkOf(select.all(j * workerData.rows, (j + 1) * workerData.rows), sha256);
    parentPort.postMessage({ j, chunk }, [chunk.hashes.buffer]);
    sent += 1;
  }
  db.exec("COMMIT");
  db.close();
})().catch((error) => parentPort.postMessage({ error: error.message }));
`;

const DRIVER = createRequire(import.meta.url).resolve("better-sqlite3");

export type ParallelChunks = {
  /** The chunks in order, each a promise: iterate once. */
  chunks: Iterable<Promise<LeafChunk>>;
  close: () => Promise<void>;
};

/**
 * Records seq 1 … `total` of the database `file`, read and hashed by `threads` worker threads.
 * Meant for a trail whose seqs run 1 … total (the caller checks); each worker reads in a
 * snapshot of its own, so the caller must treat the result as a fast path only, and decide
 * from its own snapshot whenever the chunks do not reproduce the signed root.
 */
export function leafChunksInWorkers(file: string, total: number, threads: number): ParallelChunks {
  const count = Math.ceil(total / CHUNK_ROWS);
  const step = Math.max(1, Math.min(threads, count));
  const arrived = new Map<number, LeafChunk>();
  const waiting = new Map<
    number,
    { resolve: (c: LeafChunk) => void; reject: (e: Error) => void }
  >();
  let failure: Error | null = null;
  const fail = (error: Error) => {
    failure ??= error;
    for (const w of waiting.values()) w.reject(failure);
    waiting.clear();
  };
  const workers = Array.from({ length: step }, (_, first) => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: DRIVER,
        file,
        sql: `SELECT ${SELECT_COLUMNS} FROM audit_records WHERE seq > ? AND seq <= ? ORDER BY seq`,
        rows: CHUNK_ROWS,
        chunks: count,
        first,
        step,
        window: WINDOW,
      },
    });
    worker.on("message", (m: { j: number; chunk: LeafChunk } | { error: string }) => {
      if ("error" in m) return fail(new Error(m.error));
      // Structured cloning hands the hashes over as a Uint8Array.
      const { hashes } = m.chunk;
      const chunk = {
        ...m.chunk,
        hashes: Buffer.from(hashes.buffer, hashes.byteOffset, hashes.length),
      };
      const w = waiting.get(m.j);
      if (w) {
        waiting.delete(m.j);
        w.resolve(chunk);
      } else arrived.set(m.j, chunk);
    });
    worker.on("error", fail);
    return worker;
  });
  const take = (j: number) =>
    new Promise<LeafChunk>((resolve, reject) => {
      if (failure) return reject(failure);
      const chunk = arrived.get(j);
      if (chunk) {
        arrived.delete(j);
        resolve(chunk);
      } else waiting.set(j, { resolve, reject });
    }).then((chunk) => {
      workers[j % step]!.postMessage("ack");
      return chunk;
    });
  return {
    chunks: (function* () {
      for (let j = 0; j < count; j++) yield take(j);
    })(),
    close: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
