import type { AppContext } from "../context.server";
import { findOwnRecords } from "../models/own-records.server";
import type { User } from "../models/user.server";
import { processWide } from "../process-wide";
import type { Finding } from "../trail/findings";
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

/** The first successful login recorded for `userId`, or null when none is (yet). */
function firstLogin(
  ctx: AppContext,
  userId: string,
  checkpoint: CheckpointInfo | null,
): Binding | null {
  const sealedUpTo = checkpoint?.treeSize ?? 0;
  let after = 0;
  for (;;) {
    const rows = findOwnRecords(ctx, SELF_SOURCE, {
      actions: ["login"],
      actorId: userId,
      sealedUpTo,
      page: { after, count: PAGE },
    });
    if (rows.length === 0) return null;
    for (const r of openRecords(ctx, rows, checkpoint, null)) {
      const own = r.sourceId === SELF_SOURCE && r.actorId === userId && r.action === "login";
      if (own && r.notes === LOGIN_NOTES) {
        return { patientId: r.patientId, seq: r.seq, logId: r.logId };
      }
      after = r.seq;
    }
  }
}

/**
 * Whether `user`'s row names the patient its first login did; the finding if not. Null too when
 * the trail cannot be read as verified (every view refuses then anyway) or no login is recorded
 * yet (the login about to be recorded binds it).
 */
export async function accountBindingFinding(ctx: AppContext, user: User): Promise<Finding | null> {
  let known = bindings.get(ctx);
  if (!known) bindings.set(ctx, (known = new Map()));
  let binding = known.get(user.id) ?? null;
  if (!binding) {
    const read = await readVerified(ctx, user.id, (cp) => firstLogin(ctx, user.id, cp));
    if (!read.ok || !read.value) return null;
    binding = read.value;
    known.set(user.id, binding);
  }
  if (binding.patientId === (user.patientId ?? "")) return null;
  return {
    kind: "modified",
    target: "user",
    ref: user.id,
    seq: binding.seq,
    logId: binding.logId,
    detail: "the account's row is bound to another patient than its first login on the trail",
  };
}

/** Raises the incident for an account bound elsewhere than its first login; whether it is. */
export async function accountRebound(ctx: AppContext, user: User): Promise<boolean> {
  const finding = await accountBindingFinding(ctx, user);
  if (finding) await reportFinding(ctx, finding, user.id);
  return finding !== null;
}
