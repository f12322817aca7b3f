import fs from "node:fs";
import { fileIdOf } from "../../db/connection";
import { incidents } from "../../db/schema";
import type { AppContext } from "../context.server";
import { fingerprintFindings, sendAlert, type Delivery } from "./alerts.server";
import { notifyCheckpointCommitted } from "./checkpoint-events.server";
import type { CheckpointBody } from "./encoding.server";
import {
  verifyTrail,
  type CheckpointInfo,
  type Finding,
  type VerifyReport,
  type Witness,
} from "./verify.server";
import { checkSessionRows } from "../models/session.server";
import { refreshWitnessedHeads, witnessedHeads } from "./witness-anchor.server";
import { readHead, writeHead, type HeadRead } from "./witness.server";
import { processWide } from "../process-wide";

// Decides, before every view and append, whether the trail must be verified again in full.
// docs/decisions/005-verification.md: a full pass runs at start, and whenever another connection
// has written the file (PRAGMA data_version), the file was replaced, or the newest checkpoint is
// not the one this process last verified or wrote; otherwise the view checks only its own rows.

type GuardState = {
  dataVersion: number;
  /** The head file as last read or written: replaced, edited or deleted, it is read again. */
  headStamp: string;
  head: CheckpointInfo | null;
  /** The newest head this process verified clean or wrote: kept across failed passes. */
  trusted: Witness | null;
  records: number;
  findings: Finding[];
  mailed: Set<string>;
};

export type TrailStatus =
  | { ok: true; records: number; checkpoint: CheckpointInfo | null }
  | { ok: false; findings: Finding[]; alert: Promise<Delivery | null> };

export class TrailCompromisedError extends Error {
  constructor(public readonly findings: Finding[]) {
    super("the audit trail failed verification; appends are refused until it is resolved");
    this.name = "TrailCompromisedError";
  }
}

const states = processWide("guard-states", () => new WeakMap<AppContext, GuardState>());
/** Witnesses' refusals: no pass over the database can clear them, only a restart. */
const witnessFindings = processWide("witness-findings", () => new WeakMap<AppContext, Finding[]>());

function headStamp(ctx: AppContext): string {
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

/**
 * Runs the full verification of the open database and remembers the verdict: the records,
 * checkpoints and signed rows (as offline), the head file, and the session rows' MACs, which
 * only the server can check.
 */
export function verifyNow(
  ctx: AppContext,
  options: { onProgress?: (done: number, total: number) => void; head?: HeadRead } = {},
): VerifyReport {
  const previous = states.get(ctx);
  // Read before the pass: a write that lands during it changes the version again.
  const dataVersion = ctx.conn.sqlite.pragma("data_version", { simple: true }) as number;
  const trail = verifyTrail(ctx.conn.sqlite, ctx.keys.trustedPublicKeys, {
    origin: ctx.config.TRAIL_ORIGIN,
    head: options.head ?? readHead(ctx.config.TRAIL_HEAD_PATH),
    // What this process verified or wrote last: no edit of the head file reaches its memory.
    remembered: previous?.trusted ?? null,
    // What the witnesses cosigned, as this process last heard it (refreshed before a full pass).
    witnessed: witnessedHeads(ctx),
    onProgress: options.onProgress,
  });
  const findings = [
    ...trail.findings,
    ...checkSessionRows(ctx),
    ...(witnessFindings.get(ctx) ?? []),
  ];
  const report = { ...trail, ok: findings.length === 0, findings };
  if (report.ok && report.checkpoint) writeHead(ctx.config.TRAIL_HEAD_PATH, report.checkpoint);
  states.set(ctx, {
    dataVersion,
    headStamp: headStamp(ctx),
    head: report.checkpoint,
    trusted: report.ok ? report.checkpoint : (previous?.trusted ?? null),
    records: report.records,
    findings: report.findings,
    mailed: previous?.mailed ?? new Set(),
  });
  return report;
}

function needsFullVerification(ctx: AppContext, state: GuardState | undefined): boolean {
  if (!state) return true;
  const dataVersion = ctx.conn.sqlite.pragma("data_version", { simple: true }) as number;
  return (
    dataVersion !== state.dataVersion ||
    headStamp(ctx) !== state.headStamp ||
    newestCheckpointId(ctx) !== headId(state.head)
  );
}

/**
 * Mails the admins once per distinct set of findings while this process runs. Which incidents
 * were mailed is kept in memory only: every file is within an intruder's reach, so a list on
 * disk could be pre-filled to silence the alert. A restart therefore mails an incident that is
 * still open once more. The incidents table is only a record. A failed delivery is tried again
 * on the next check. Never throws.
 */
async function raiseIncident(
  ctx: AppContext,
  state: GuardState,
  viewerId: string | null,
): Promise<Delivery | null> {
  const fingerprint = fingerprintFindings(ctx, state.findings);
  const key = fingerprint.toString("hex");
  if (state.mailed.has(key)) return null;
  state.mailed.add(key);
  const detectedAt = new Date(ctx.now());
  try {
    const delivery = await sendAlert(ctx, state.findings, detectedAt, viewerId, fingerprint);
    try {
      ctx.conn.db
        .insert(incidents)
        .values({
          fingerprint,
          detectedAt: detectedAt.getTime(),
          triggeredBy: viewerId,
          findings: JSON.stringify(state.findings),
          notifiedAt: ctx.now(),
          delivery: delivery.via === "smtp" ? `smtp ${delivery.messageId}` : delivery.file,
        })
        .onConflictDoNothing()
        .run();
    } catch {
      // A deleted, read-only or sabotaged database does not stop the alert, only this note of it.
    }
    return delivery;
  } catch (error) {
    state.mailed.delete(key);
    console.error(`Could not send the integrity alert: ${(error as Error).message}`);
    return null;
  }
}

/**
 * The trail's state for a view or append: verified in full when anything but this process may
 * have changed it, otherwise the remembered verdict. On findings, an incident is raised.
 */
export async function ensureTrailIntact(
  ctx: AppContext,
  options: { viewerId: string | null; force?: boolean } = { viewerId: null },
): Promise<TrailStatus> {
  let state = states.get(ctx);
  const fileId = fileIdOf(ctx.conn.file);
  if (fileId !== ctx.conn.fileId) {
    state ??= {
      dataVersion: -1,
      headStamp: "",
      head: null,
      trusted: null,
      records: 0,
      findings: [],
      mailed: new Set(),
    };
    states.set(ctx, state);
    state.findings = [
      {
        kind: fileId === "missing" ? "missing" : "rollback",
        target: "database",
        detail: `the database file ${fileId === "missing" ? "was deleted" : "was replaced by another file"} while the server was running`,
      },
    ];
  } else if (options.force || needsFullVerification(ctx, state)) {
    await refreshWitnessedHeads(ctx);
    verifyNow(ctx);
    state = states.get(ctx)!;
  }
  state = state!;
  if (state.findings.length > 0) {
    return {
      ok: false,
      findings: state.findings,
      alert: raiseIncident(ctx, state, options.viewerId),
    };
  }
  return { ok: true, records: state.records, checkpoint: state.head };
}

/** Throws TrailCompromisedError unless the trail verifies. */
export async function assertTrailWritable(
  ctx: AppContext,
  triggeredBy: string | null,
  force = false,
): Promise<void> {
  const status = await ensureTrailIntact(ctx, { viewerId: triggeredBy, force });
  if (!status.ok) throw new TrailCompromisedError(status.findings);
}

/** After this process appended: its new head is known good without another full pass. */
export function noteOwnWrite(
  ctx: AppContext,
  checkpoint: CheckpointBody & { signature: Buffer },
): void {
  const state = states.get(ctx);
  if (!state || state.findings.length > 0) return;
  state.head = { ...checkpoint };
  state.trusted = state.head;
  state.records = checkpoint.treeSize;
  writeHead(ctx.config.TRAIL_HEAD_PATH, checkpoint);
  state.headStamp = headStamp(ctx);
  notifyCheckpointCommitted(ctx, checkpoint);
}

/**
 * A witness refused a checkpoint for inconsistency with what it saw before: the trail is
 * compromised (or forked) until an operator looks, so views and appends stop and the admins are
 * mailed once. Never throws.
 */
export async function reportWitnessRefusal(ctx: AppContext, finding: Finding): Promise<void> {
  const known = witnessFindings.get(ctx) ?? [];
  if (known.some((f) => f.detail === finding.detail)) return;
  witnessFindings.set(ctx, [...known, finding]);
  await reportTamperedRow(ctx, "witness");
}

/**
 * A record failed its check where it was shown. The full pass names what happened; should it
 * find nothing (a change only the display's own check can see), the failure itself is the
 * finding, so the view is still withheld and the admins still hear of it.
 */
export async function reportFailedRecord(
  ctx: AppContext,
  viewerId: string | null,
  seq: number,
): Promise<void> {
  const status = await ensureTrailIntact(ctx, { viewerId, force: true });
  const state = states.get(ctx);
  if (!status.ok || !state) return;
  state.findings = [
    {
      kind: "modified",
      target: "record",
      seq,
      detail: "the record failed its check where it was shown, though the full pass did not",
    },
  ];
  void raiseIncident(ctx, state, viewerId);
}

/**
 * A row that grants a right failed its check where it was used (a source token, an
 * invitation): verify in full now, which names the row and mails the admins. Never throws.
 */
export async function reportTamperedRow(ctx: AppContext, triggeredBy: string): Promise<void> {
  try {
    const status = await ensureTrailIntact(ctx, { viewerId: triggeredBy, force: true });
    if (!status.ok) await status.alert;
  } catch (error) {
    console.error(
      `Could not verify the trail after a failed row check: ${(error as Error).message}`,
    );
  }
}
