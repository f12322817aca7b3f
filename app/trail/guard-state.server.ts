import fs from "node:fs";
import type { AppContext } from "../context.server";
import { processWide } from "../process-wide";
import type { LeafHashes } from "./leaf-hashes";
import type { CheckpointInfo, Finding, Witness } from "./verify.server";

// What the guard remembers of the trail per server, and when that memory is no longer enough
// (docs/decisions/005): another connection wrote the file (PRAGMA data_version), the head file
// changed, or the newest checkpoint is not the one this process last verified or wrote.

export type GuardState = {
  dataVersion: number;
  /** The head file as last read or written: replaced, edited or deleted, it is read again. */
  headStamp: string;
  head: CheckpointInfo | null;
  /** The newest head this process verified clean or wrote: kept across failed passes. */
  trusted: Witness | null;
  records: number;
  findings: Finding[];
  mailed: Set<string>;
  /** The leaf hash of every record up to `head`, verified or appended here; null if unknown. */
  leaves: LeafHashes | null;
};

export const states = processWide("guard-states", () => new WeakMap<AppContext, GuardState>());
/** Witnesses' refusals: no pass over the database can clear them, only a restart. */
export const witnessFindings = processWide(
  "witness-findings",
  () => new WeakMap<AppContext, Finding[]>(),
);

export function headStamp(ctx: AppContext): string {
  try {
    const s = fs.statSync(ctx.config.TRAIL_HEAD_PATH);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return "missing";
  }
}

function newestCheckpointId(ctx: AppContext): string {
  const row = ctx.conn.sqlite
    .prepare("SELECT number, root_hash, signature FROM checkpoints ORDER BY number DESC LIMIT 1")
    .get() as { number: number; root_hash: Buffer; signature: Buffer } | undefined;
  return row
    ? `${row.number}:${row.root_hash.toString("hex")}:${row.signature.toString("hex")}`
    : "none";
}

const headId = (head: CheckpointInfo | null) =>
  head
    ? `${head.number}:${head.rootHash.toString("hex")}:${head.signature.toString("hex")}`
    : "none";

export const dataVersionOf = (ctx: AppContext) =>
  ctx.conn.sqlite.pragma("data_version", { simple: true }) as number;

export function needsFullVerification(ctx: AppContext, state: GuardState | undefined): boolean {
  if (!state) return true;
  return (
    dataVersionOf(ctx) !== state.dataVersion ||
    headStamp(ctx) !== state.headStamp ||
    newestCheckpointId(ctx) !== headId(state.head)
  );
}
