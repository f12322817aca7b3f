import { incidents } from "../../db/schema";
import type { AppContext } from "../context.server";
import { fingerprintFindings, sendAlert, type Delivery } from "./alerts.server";
import type { Finding } from "./findings";
import type { GuardState } from "./guard-state.server";

/**
 * Mails the admins once per distinct set of findings while this process runs. Which incidents
 * were mailed is kept in memory only: every file is within an intruder's reach, so a list on
 * disk could be pre-filled to silence the alert. A restart therefore mails an incident that is
 * still open once more. The incidents table is only a record. A failed delivery is tried again
 * on the next check. Never throws.
 */
export async function raiseIncident(
  ctx: AppContext,
  state: Pick<GuardState, "findings" | "mailed">,
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

const reported = new WeakMap<AppContext, Set<string>>();

/**
 * Raises an incident for one finding that no full pass looks for (a row checked against the
 * trail at use): mailed once per distinct finding while this process runs. Never throws.
 */
export async function reportFinding(
  ctx: AppContext,
  finding: Finding,
  viewerId: string | null,
): Promise<void> {
  let mailed = reported.get(ctx);
  if (!mailed) reported.set(ctx, (mailed = new Set()));
  await raiseIncident(ctx, { findings: [finding], mailed }, viewerId);
}
