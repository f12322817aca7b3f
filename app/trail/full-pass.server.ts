import Database from "better-sqlite3";
import type { AppContext } from "../context.server";
import { checkSessionRows } from "../models/session.server";
import { processWide } from "../process-wide";
import {
  dataVersionOf,
  headStamp,
  states,
  witnessFindings,
  type GuardState,
} from "./guard-state.server";
import type { Finding } from "./findings";
import type { LeafHashes } from "./leaf-hashes";
import { verifyTrail, verifyTrailAsync, type VerifyReport } from "./verify.server";
import { refreshWitnessedHeads, witnessedHeads } from "./witness-anchor.server";
import { readHead, writeHead, type HeadRead } from "./witness.server";

// The full pass as the server runs it: every record, checkpoint and signed row (as offline), the
// head file, the witnesses' heads, and the session rows' MACs; its verdict is remembered.

/** What a pass checks the database against, beside the head file. */
function passOptions(ctx: AppContext, previous: GuardState | undefined) {
  return {
    origin: ctx.config.TRAIL_ORIGIN,
    // What this process verified or wrote last: no edit of the head file reaches its memory.
    remembered: previous?.trusted ?? null,
    // What the witnesses cosigned, as this process last heard it (refreshed before a full pass).
    witnessed: witnessedHeads(ctx),
    // Each record's leaf hash, against which every row a view reads is checked (leaf-hashes.ts).
    keepLeaves: true,
  };
}

/**
 * Remembers a pass's verdict, with the session rows' MACs (which only the server can check) and
 * the witnesses' refusals. Appends this process made while the pass ran are newer than its
 * snapshot: their head is kept.
 */
function settle(ctx: AppContext, dataVersion: number, trail: VerifyReport): VerifyReport {
  const previous = states.get(ctx);
  const findings = [
    ...trail.findings,
    ...changedRecords(previous?.leaves, trail),
    ...checkSessionRows(ctx),
    ...(witnessFindings.get(ctx) ?? []),
  ];
  const report = { ...trail, ok: findings.length === 0, findings };
  const ownNewer =
    report.ok &&
    previous?.findings.length === 0 &&
    previous.head &&
    previous.head.number > (report.checkpoint?.number ?? 0)
      ? previous.head
      : null;
  const head = ownNewer ?? report.checkpoint;
  if (report.ok && head) writeHead(ctx.config.TRAIL_HEAD_PATH, head);
  states.set(ctx, {
    dataVersion,
    headStamp: headStamp(ctx),
    head,
    trusted: report.ok ? head : (previous?.trusted ?? null),
    records: ownNewer ? ownNewer.treeSize : report.records,
    findings: report.findings,
    mailed: previous?.mailed ?? new Set(),
    leaves: report.ok ? leavesUpTo(head?.treeSize ?? 0, report.leaves, previous?.leaves) : null,
  });
  return report;
}

/**
 * The records whose bytes are no longer the leaf this process verified or appended at their seq,
 * when the pass failed without naming them: a record re-signed with a stolen key passes its own
 * check, and only memory tells which one changed.
 */
function changedRecords(before: LeafHashes | null | undefined, trail: VerifyReport): Finding[] {
  if (trail.ok || !before || !trail.leaves) return [];
  const named = new Set(trail.findings.map((f) => f.seq));
  const found: Finding[] = [];
  for (let i = 0; i < Math.min(before.size, trail.leaves.size); i++) {
    if (named.has(i + 1) || before.at(i)!.equals(trail.leaves.at(i)!)) continue;
    found.push({
      kind: "modified",
      target: "record",
      seq: i + 1,
      detail: "the record's bytes are not those this server verified at its seq (signed again)",
    });
  }
  return found;
}

/**
 * The leaf hashes of a clean pass, up to `size`: the pass's own, and those of appends this
 * process made while it ran (its snapshot may predate them), as remembered when they were made.
 * Null when they do not reach `size`: rows are then proven included one by one.
 */
function leavesUpTo(
  size: number,
  passed: LeafHashes | null | undefined,
  remembered: LeafHashes | null | undefined,
): LeafHashes | null {
  if (!passed || passed.size > size) return null;
  if (passed.size === size) return passed;
  if (!remembered || remembered.size < size) return null;
  const leaves = passed.prefix(passed.size);
  for (let i = passed.size; i < size; i++) leaves.append(remembered.at(i)!);
  return leaves;
}

/**
 * Runs the full verification of the open database and remembers the verdict: the records,
 * checkpoints and signed rows (as offline), the head file, and the session rows' MACs, which
 * only the server can check. Synchronous, for the command line.
 */
export function verifyNow(
  ctx: AppContext,
  options: { onProgress?: (done: number, total: number) => void; head?: HeadRead } = {},
): VerifyReport {
  // Read before the pass: a write that lands during it changes the version again.
  const dataVersion = dataVersionOf(ctx);
  const trail = verifyTrail(ctx.conn.sqlite, ctx.keys.trustedPublicKeys, {
    ...passOptions(ctx, states.get(ctx)),
    head: options.head ?? readHead(ctx.config.TRAIL_HEAD_PATH),
    onProgress: options.onProgress,
  });
  return settle(ctx, dataVersion, trail);
}

const passes = processWide("guard-passes", () => new WeakMap<AppContext, Promise<void>>());

/** A read-only connection for the pass; null when none can be opened (the server's own serves). */
function openReader(file: string): Database.Database | null {
  try {
    const reader = new Database(file, { readonly: true, fileMustExist: true });
    reader.pragma("busy_timeout = 5000");
    return reader;
  } catch (error) {
    console.warn(`Verifying on the server's connection: ${(error as Error).message}`);
    return null;
  }
}

/** Resolves when the pass running now, if any, has ended (whatever it found). */
export async function passInProgress(ctx: AppContext): Promise<void> {
  await passes.get(ctx)?.catch(() => undefined);
}

/**
 * The server's full pass: the witnesses asked first, then the same checks as verifyNow on a
 * connection of its own, giving the event loop back between chunks of rows. One at a time:
 * a caller that finds one running shares it.
 */
export function passInBackground(ctx: AppContext): Promise<void> {
  let pass = passes.get(ctx);
  if (!pass) {
    pass = (async () => {
      await refreshWitnessedHeads(ctx);
      const dataVersion = dataVersionOf(ctx);
      const options = {
        ...passOptions(ctx, states.get(ctx)),
        head: readHead(ctx.config.TRAIL_HEAD_PATH),
      };
      const reader = openReader(ctx.conn.file);
      try {
        const trail = reader
          ? await verifyTrailAsync(reader, ctx.keys.trustedPublicKeys, options)
          : verifyTrail(ctx.conn.sqlite, ctx.keys.trustedPublicKeys, options);
        settle(ctx, dataVersion, trail);
      } finally {
        reader?.close();
      }
    })().finally(() => passes.delete(ctx));
    passes.set(ctx, pass);
  }
  return pass;
}
