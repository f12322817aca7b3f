import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { Connection } from "./connection";
import { lowerThreadPrioritySource } from "./thread-priority";

// The server's connection never checkpoints the write-ahead log itself: SQLite would do it inside
// whichever commit crosses the threshold, blocking the thread that serves requests for tens of
// milliseconds. A thread of its own, on a connection of its own, copies the log back into the
// database file instead, in PASSIVE mode: it never waits for a reader or a writer, and it changes
// no row, so the server's PRAGMA data_version (how the guard sees other processes' writes) stays
// as it was. The next commit starts the log again from its beginning. docs/decisions/008.

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
${lowerThreadPrioritySource(10)}
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma("busy_timeout = 5000");
const run = () => {
  try {
    const [result] = db.pragma("wal_checkpoint(PASSIVE)");
    parentPort.postMessage({ ok: true, log: result.log, checkpointed: result.checkpointed });
  } catch (error) {
    parentPort.postMessage({ ok: false, message: error.message });
  }
};
parentPort.on("message", (message) => (message === "checkpoint" ? run() : db.close()));
`;

const DRIVER = createRequire(import.meta.url).resolve("better-sqlite3");

export type WalCheckpointer = {
  /** Checkpoints once now; resolves with the frames in the log and those copied back. */
  checkpoint: () => Promise<{ log: number; checkpointed: number }>;
  stop: () => Promise<void>;
};

/**
 * Takes the write-ahead log's checkpoints off `conn`'s thread: every `intervalMs`, a worker
 * thread checkpoints in PASSIVE mode. Should the worker fail, `conn` checkpoints for itself again.
 */
export function startWalCheckpointer(conn: Connection, intervalMs = 1000): WalCheckpointer {
  if (conn.file === ":memory:") {
    return { checkpoint: async () => ({ log: 0, checkpointed: 0 }), stop: async () => undefined };
  }
  conn.sqlite.pragma("wal_autocheckpoint = 0");
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { driver: DRIVER, file: conn.file },
  });
  worker.unref();
  const waiting: ((r: { log: number; checkpointed: number }) => void)[] = [];
  const checkpoint = () =>
    new Promise<{ log: number; checkpointed: number }>((resolve) => {
      waiting.push(resolve);
      worker.postMessage("checkpoint");
    });
  const timer = setInterval(() => void checkpoint(), intervalMs);
  timer.unref();
  let fellBack = false;
  // Once, not every second: the connection checkpoints for itself from then on.
  const failed = (message: string) => {
    if (fellBack) return;
    fellBack = true;
    clearInterval(timer);
    console.warn(`The log's checkpoints are back on the server's thread: ${message}`);
    if (conn.sqlite.open) conn.sqlite.pragma("wal_autocheckpoint = 1000");
  };
  worker.on("message", (m: { ok: boolean; log: number; checkpointed: number; message: string }) => {
    if (!m.ok) failed(m.message);
    waiting.shift()?.({ log: m.log ?? 0, checkpointed: m.checkpointed ?? 0 });
  });
  worker.on("error", (error) => failed(error.message));
  return {
    checkpoint,
    stop: async () => {
      clearInterval(timer);
      worker.postMessage("close");
      await worker.terminate();
      if (conn.sqlite.open) conn.sqlite.pragma("wal_autocheckpoint = 1000");
    },
  };
}
