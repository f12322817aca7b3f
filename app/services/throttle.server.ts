import { and, eq, gt, lt } from "drizzle-orm";
import { loginFailures } from "../../db/schema";
import type { AppContext } from "../context.server";
import { blindIndex } from "../crypto/hashing.server";

export type LoginSubject = { username: string; address: string };
export type ThrottleDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

function subjects(ctx: AppContext, { username, address }: LoginSubject) {
  const key = ctx.keys.blindIndexKey;
  return [
    {
      kind: "username" as const,
      index: blindIndex(key, "username", username),
      limit: ctx.config.LOGIN_MAX_FAILURES_PER_USER,
    },
    {
      kind: "address" as const,
      index: blindIndex(key, "login_address", address),
      limit: ctx.config.LOGIN_MAX_FAILURES_PER_ADDRESS,
    },
  ];
}

/**
 * Refuses a login while the username or the client address has had too many failures within
 * the window; the refusal lasts until the oldest failure in the window ages out.
 */
export function checkLoginThrottle(ctx: AppContext, subject: LoginSubject): ThrottleDecision {
  const windowMs = ctx.config.LOGIN_WINDOW_MINUTES * 60_000;
  const now = ctx.now();
  const since = now - windowMs;
  let retryAt = 0;
  for (const { index, limit } of subjects(ctx, subject)) {
    const rows = ctx.conn.db
      .select({ at: loginFailures.at })
      .from(loginFailures)
      .where(and(eq(loginFailures.subjectIndex, index), gt(loginFailures.at, since)))
      .orderBy(loginFailures.at)
      .all();
    if (rows.length >= limit) {
      // The attempt becomes possible again when enough failures have left the window.
      const freeing = rows[rows.length - limit]!;
      retryAt = Math.max(retryAt, freeing.at + windowMs);
    }
  }
  return retryAt > now
    ? { allowed: false, retryAfterSeconds: Math.ceil((retryAt - now) / 1000) }
    : { allowed: true };
}

/** Records a failed login against the username and the client address. */
export function recordLoginFailure(ctx: AppContext, subject: LoginSubject): void {
  const at = ctx.now();
  ctx.conn.db
    .insert(loginFailures)
    .values(
      subjects(ctx, subject).map(({ kind, index }) => ({
        subjectIndex: index,
        kind,
        at,
      })),
    )
    .run();
  // Failures older than the window no longer count; keep the table small.
  ctx.conn.db
    .delete(loginFailures)
    .where(lt(loginFailures.at, at - ctx.config.LOGIN_WINDOW_MINUTES * 60_000))
    .run();
}

/** A successful login clears the username's failures (not the address's). */
export function clearUsernameFailures(ctx: AppContext, username: string): void {
  const [usernameSubject] = subjects(ctx, { username, address: "" });
  ctx.conn.db
    .delete(loginFailures)
    .where(eq(loginFailures.subjectIndex, usernameSubject!.index))
    .run();
}
