// Background threads (signing, checkpoints) run below the process's priority: they still take
// every idle cycle, but the thread that serves requests is never kept waiting behind them.

/**
 * CommonJS source, for a worker evaluated from a string, that lowers the calling thread's own
 * priority to `nice` (0 to 19). Linux only: a thread is found through /proc/thread-self, and
 * setpriority on its id changes that thread alone. Elsewhere the thread keeps its priority.
 */
export function lowerThreadPrioritySource(nice: number): string {
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new RangeError("nice is 0 to 19");
  return `
try {
  const tid = Number(require("node:fs").readlinkSync("/proc/thread-self").split("/").pop());
  if (Number.isSafeInteger(tid) && tid > 0) require("node:os").setPriority(tid, ${nice});
} catch {
  // No per-thread priority here: the thread runs at the process's priority.
}
`;
}
