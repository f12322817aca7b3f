import { hash } from "node:crypto";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
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

// Each worker opens its connection at once and waits. Told to read, it takes its snapshot,
// says so, then reads the chunks j ≡ its number (mod threads), chunk j holding seq in
// (j·CHUNK_ROWS, (j+1)·CHUNK_ROWS], in that one read transaction, and keeps at most WINDOW
// chunks ahead of the pass, so memory stays flat however large the table.
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
let plan = null;
let wake = null;
parentPort.on("message", (message) => {
  if (message === "ack") acked += 1;
  else plan = message;
  if (wake) wake();
});
const next = () => new Promise((resolve) => (wake = resolve));
(async () => {
  while (!plan) await next();
  db.exec("BEGIN");
  select.all(0, 0); // the snapshot is taken by the transaction's first read
  parentPort.postMessage({ ready: true });
  let sent = 0;
  for (let j = workerData.first; j < plan.chunks; j += workerData.step) {
    while (sent - acked >= workerData.window) await next();
    const chunk = leafChunkOf(select.all(j * workerData.rows, (j + 1) * workerData.rows), sha256);
    parentPort.postMessage({ j, chunk }, [chunk.hashes.buffer]);
    sent += 1;
  }
  db.exec("COMMIT");
  db.close();
})().catch((error) => parentPort.postMessage({ error: error.message }));
`;

const DRIVER = createRequire(import.meta.url).resolve("better-sqlite3");

export type LeafWorkers = {
  /**
   * Reads records seq 1 … `total`: each worker takes its snapshot (`snapshots` resolves when
   * all have), then reads its chunks. The chunks are promises, in order: iterate once.
   */
  read: (total: number) => { snapshots: Promise<void>; chunks: Iterable<Promise<LeafChunk>> };
  /** Whether no commit has reached the file since the workers were started. */
  unchanged: () => boolean;
  close: () => Promise<void>;
};

/**
 * Worker threads to read and hash the records of the database `file`, each on a read-only
 * connection of its own. Their snapshots are their own: a pass may use what they read only if
 * `unchanged()`, asked once they all hold one, says no commit came between the pass's snapshot
 * (taken after this call) and theirs. So start them before the pass's snapshot.
 */
export function startLeafWorkers(file: string, threads: number): LeafWorkers {
  // PRAGMA data_version on a connection of its own changes with every other connection's commit.
  const monitor = new Database(file, { readonly: true, fileMustExist: true });
  const dataVersion = () => monitor.pragma("data_version", { simple: true }) as number;
  const before = dataVersion();
  const arrived = new Map<number, LeafChunk>();
  const waiting = new Map<
    number,
    { resolve: (c: LeafChunk) => void; reject: (e: Error) => void }
  >();
  // Who waits for the workers' snapshots, and for their failure.
  const readied: (() => void)[] = [];
  const failed: ((error: Error) => void)[] = [];
  let failure: Error | null = null;
  const fail = (error: Error) => {
    failure ??= error;
    for (const w of waiting.values()) w.reject(failure);
    waiting.clear();
    for (const reject of failed) reject(failure);
  };
  const sql = `SELECT ${SELECT_COLUMNS} FROM audit_records WHERE seq > ? AND seq <= ? ORDER BY seq`;
  const spawn = (first: number) => {
    const workerData = {
      driver: DRIVER,
      file,
      sql,
      rows: CHUNK_ROWS,
      first,
      step: threads,
      window: WINDOW,
    };
    // A worker holds one chunk's rows at a time: a small heap makes it collect them early,
    // which keeps the pass's peak memory (247 MB at a million records without) near 210 MB.
    const resourceLimits = { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 };
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData, resourceLimits });
    type Message = { j: number; chunk: LeafChunk } | { error: string } | { ready: true };
    worker.on("message", (m: Message) => {
      if ("error" in m) return fail(new Error(m.error));
      if ("ready" in m) return readied.shift()?.();
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
  };
  const workers: Worker[] = [];
  try {
    for (let first = 0; first < threads; first++) workers.push(spawn(first));
  } catch (error) {
    void Promise.all(workers.map((w) => w.terminate()));
    monitor.close();
    throw error;
  }
  const take = (j: number) =>
    new Promise<LeafChunk>((resolve, reject) => {
      if (failure) return reject(failure);
      const chunk = arrived.get(j);
      if (chunk) {
        arrived.delete(j);
        resolve(chunk);
      } else waiting.set(j, { resolve, reject });
    }).then((chunk) => {
      workers[j % threads]!.postMessage("ack");
      return chunk;
    });
  return {
    read: (total) => {
      const count = Math.ceil(total / CHUNK_ROWS);
      const snapshots = new Promise<void>((resolve, reject) => {
        if (failure) return reject(failure);
        let left = threads;
        for (let i = 0; i < threads; i++) readied.push(() => --left === 0 && resolve());
        failed.push(reject);
      });
      snapshots.catch(() => undefined);
      for (const worker of workers) worker.postMessage({ chunks: count });
      return {
        snapshots,
        chunks: (function* () {
          for (let j = 0; j < count; j++) yield take(j);
        })(),
      };
    },
    unchanged: () => {
      try {
        return dataVersion() === before;
      } catch {
        return false;
      }
    },
    close: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
      monitor.close();
    },
  };
}
