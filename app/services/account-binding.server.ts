import type { AppContext } from "../context.server";
import { findOwnRecords } from "../models/own-records.server";
import type { User } from "../models/user.server";
import { processWide } from "../process-wide";
import type { Finding } from "../trail/findings";
import { ensureTrailIntact } from "../trail/guard.server";
import { reportFinding } from "../trail/incident.server";
import { SELF_SOURCE } from "../trail/self-source";
import type { CheckpointInfo } from "../trail/verify.server";
import { openRecords } from "./open-records.server";
import { LOGIN_NOTES } from "./trail-view.server";
import { readVerified } from "./verified-read.server";

// Which patient an account is bound to, as the trail recorded it (docs/decisions/009). An
// account's row is signed, but whoever holds the keys can re-seal and re-sign it bound to another
// patient, and its owner would be shown that patient's records as verified. Every session starts
// with a login recorded on the trail, naming the account and the patient it was bound to then
// ("" for staff); the first one is history the witnesses anchor, which no key rewrites. An
// account whose row names another patient than its first login did opens nothing.

/** The first successful login of each account, as read from the verified trail. */
type Binding = { patientId: string; seq: number; logId: string };

/** Kept in memory: once read and verified, an account's first login never changes. */
const bindings = processWide(
  "account-bindings",
  () => new WeakMap<AppContext, Map<string, Binding>>(),
);

const PAGE = 32;

/**
 * The first successful login recorded for `userId`, or null when none is. It is checked as the
 * views check a row: signed, and its exact bytes the leaf the verified tree holds at its seq.
 * The stolen key can re-sign a record, but not change a leaf under a root the server verified,
 * so no edit of the file can make it name another patient.
 */
function firstLogin(
  ctx: AppContext,
  userId: string,
  checkpoint: CheckpointInfo | null,
): Binding | null {
  if (!checkpoint) return null;
  let after = 0;
  for (;;) {
    const rows = findOwnRecords(ctx, SELF_SOURCE, {
      actions: ["login"],
      actorId: userId,
      sealedUpTo: checkpoint.treeSize,
      page: { after, count: PAGE },
    });
    if (rows.length === 0) return null;
    for (const r of openRecords(ctx, rows, checkpoint, null)) {
      after = r.seq;
      const own = r.sourceId === SELF_SOURCE && r.actorId === userId && r.action === "login";
      if (!own || r.notes !== LOGIN_NOTES) continue;
      return { patientId: r.patientId, seq: r.seq, logId: r.logId };
    }
  }
}

/** The first login of `user`, read from the verified trail; null when the trail is compromised. */
async function readBinding(ctx: AppContext, user: User): Promise<Binding | "none" | null> {
  const read = await readVerified(ctx, user.id, (cp) => firstLogin(ctx, user.id, cp));
  if (!read.ok) return null;
  return read.value ?? "none";
}

/**
 * Whether `user`'s row names the patient its first login did; the finding if not. `atLogin`:
 * the login about to be recorded binds an account that has none yet. Any other request comes
 * with a session, and every session began with a recorded login, so an account whose first
 * login cannot be found is a finding too, once a full pass has found the trail intact (the
 * record may be hidden from the query, or was never written). Null when the trail is
 * compromised: every view refuses then anyway.
 */
export async function accountBindingFinding(
  ctx: AppContext,
  user: User,
  atLogin = false,
): Promise<Finding | null> {
  let known = bindings.get(ctx);
  if (!known) bindings.set(ctx, (known = new Map()));
  let binding: Binding | "none" | null = known.get(user.id) ?? (await readBinding(ctx, user));
  if (binding === "none" && !atLogin) {
    if (!(await ensureTrailIntact(ctx, { viewerId: user.id, force: true })).ok) return null;
    binding = await readBinding(ctx, user);
  }
  if (binding === null || (binding === "none" && atLogin)) return null;
  const base = { target: "user" as const, ref: user.id };
  if (binding === "none") {
    return {
      ...base,
      kind: "missing",
      detail: "the account has a session but no login of it is on the trail",
    };
  }
  known.set(user.id, binding);
  if (binding.patientId === (user.patientId ?? "")) return null;
  return {
    ...base,
    kind: "modified",
    seq: binding.seq,
    logId: binding.logId,
    detail: "the account's row is bound to another patient than its first login on the trail",
  };
}

/** Raises the incident for an account bound elsewhere than its first login; whether it is. */
export async function accountRebound(
  ctx: AppContext,
  user: User,
  atLogin = false,
): Promise<boolean> {
  const finding = await accountBindingFinding(ctx, user, atLogin);
  if (finding) await reportFinding(ctx, finding, user.id);
  return finding !== null;
}
