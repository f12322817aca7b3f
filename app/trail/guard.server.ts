import { fileIdOf } from "../../db/connection";
import type { AppContext } from "../context.server";
import type { Delivery } from "./alerts.server";
import { notifyCheckpointCommitted } from "./checkpoint-events.server";
import type { CheckpointBody } from "./encoding.server";
import { passInBackground, passInProgress as passes } from "./full-pass.server";
import { headStamp, needsFullVerification, states, witnessFindings } from "./guard-state.server";
import { raiseIncident } from "./incident.server";
import type { CheckpointInfo, Finding } from "./verify.server";
import { writeHead } from "./witness.server";

export { verifyNow } from "./full-pass.server";

// Decides, before every view and append, whether the trail must be verified again in full
// (docs/decisions/005 and 008): at start, and whenever guard-state.server.ts says memory is not
// enough; otherwise the view checks only its own rows. A view waits for the full pass, so an
// edit anywhere in the table is caught at the next view, but the pass gives the event loop back
// between chunks of rows, so other users are served meanwhile.

export type TrailStatus =
  | { ok: true; records: number; checkpoint: CheckpointInfo | null }
  | { ok: false; findings: Finding[]; alert: Promise<Delivery | null> };

export class TrailCompromisedError extends Error {
  constructor(public readonly findings: Finding[]) {
    super("the audit trail failed verification; appends are refused until it is resolved");
    this.name = "TrailCompromisedError";
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
      leaves: null,
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
    // A pass that began before the caller's reason to force one does not count.
    if (options.force) await passes(ctx);
    await passInBackground(ctx);
    // Joined a pass already running, and another process wrote after it began: once more.
    if (needsFullVerification(ctx, states.get(ctx))) await passInBackground(ctx);
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
  leaves: readonly Buffer[],
): void {
  const state = states.get(ctx);
  if (!state || state.findings.length > 0) return;
  if (state.leaves?.size === checkpoint.treeSize - leaves.length) {
    for (const leaf of leaves) state.leaves.append(leaf);
  } else {
    state.leaves = null;
  }
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
