import { timingSafeEqual } from "node:crypto";
import { and, eq, lt, sql } from "drizzle-orm";
import { preparedQuery } from "../../db/prepared";
import { sessions } from "../../db/schema";
import type { AppContext } from "../context.server";
import { keyedDigest, sha256 } from "../crypto/hashing.server";
import type { Finding } from "../trail/findings";

// Server-side sessions. The cookie carries a random id; the row, keyed by its SHA-256, says whose
// session it is. Every row carries an HMAC under a key derived from the session secret in
// KEYS_DIR, so a row edited in the database file (another user id, a later expiry) opens
// nothing and is reported (docs/decisions/009-authenticated-rows.md).

type SessionRow = typeof sessions.$inferSelect;
type MacInput = Omit<SessionRow, "mac">;

export type SessionRead =
  | { state: "none" }
  | { state: "valid"; userId: string; data: string }
  | { state: "tampered"; finding: Finding };

function macOf(ctx: AppContext, row: MacInput): Buffer {
  return keyedDigest(ctx.keys.sessionMacKey, [
    "ehr-audit-session",
    1,
    row.idHash,
    row.userId,
    row.data,
    row.createdAt,
    row.expiresAt,
  ]);
}

function macValid(ctx: AppContext, row: SessionRow): boolean {
  let expected: Buffer;
  try {
    expected = macOf(ctx, row);
  } catch {
    // A value of the wrong type or range was not written by the server.
    return false;
  }
  return Buffer.isBuffer(row.mac) && row.mac.length === 32 && timingSafeEqual(row.mac, expected);
}

function tamperedFinding(row: SessionRow): Finding {
  return {
    kind: "modified",
    target: "session",
    ref: Buffer.isBuffer(row.idHash) ? row.idHash.toString("hex").slice(0, 16) : "unknown",
    detail: `the session row (for user ${String(row.userId)}) was changed or written outside the server`,
  };
}

/** Stores a new session for `userId` under the cookie's `id`; expired sessions are removed. */
export function createSessionRow(
  ctx: AppContext,
  id: string,
  userId: string,
  data: string,
  ttlMs: number,
): void {
  const now = ctx.now();
  const row = { idHash: sha256(id), userId, data, createdAt: now, expiresAt: now + ttlMs };
  const db = ctx.conn.db;
  db.delete(sessions).where(lt(sessions.expiresAt, now)).run();
  db.insert(sessions)
    .values({ ...row, mac: macOf(ctx, row) })
    .run();
}

const sessionById = preparedQuery((db) =>
  db
    .select()
    .from(sessions)
    .where(eq(sessions.idHash, sql.placeholder("idHash")))
    .prepare(),
);

/** The live session behind a cookie's id: none, valid, or a row that fails its MAC. */
export function readSessionRow(ctx: AppContext, id: string): SessionRead {
  const row = sessionById(ctx.conn.db).get({ idHash: sha256(id) });
  if (!row) return { state: "none" };
  if (!macValid(ctx, row)) return { state: "tampered", finding: tamperedFinding(row) };
  if (row.expiresAt <= ctx.now()) return { state: "none" };
  return { state: "valid", userId: row.userId, data: row.data };
}

/** Moves a valid session's idle expiry forward (and stores its data), sealing the row again. */
/** A session's idle expiry moves on at most once a minute; idle timeouts are that much coarse. */
const REFRESH_AFTER_MS = 60_000;

export function refreshSessionRow(
  ctx: AppContext,
  id: string,
  userId: string,
  data: string,
  ttlMs: number,
): void {
  const idHash = sha256(id);
  const row = sessionById(ctx.conn.db).get({ idHash });
  if (!row || row.userId !== userId || !macValid(ctx, row)) return;
  // Extended within the last minute and unchanged: no write on every view.
  if (row.data === data && row.expiresAt - ctx.now() > ttlMs - REFRESH_AFTER_MS) return;
  const next = { ...row, data, expiresAt: ctx.now() + ttlMs };
  ctx.conn.db
    .update(sessions)
    .set({ data, expiresAt: next.expiresAt, mac: macOf(ctx, next) })
    .where(and(eq(sessions.idHash, idHash), eq(sessions.userId, userId)))
    .run();
}

export function deleteSessionRow(ctx: AppContext, id: string): void {
  ctx.conn.db
    .delete(sessions)
    .where(eq(sessions.idHash, sha256(id)))
    .run();
}

function tamperedRows(ctx: AppContext): SessionRow[] {
  return ctx.conn.db
    .select()
    .from(sessions)
    .all()
    .filter((row) => !macValid(ctx, row));
}

/** Every session row that fails its MAC: checked with each full verification. */
export function checkSessionRows(ctx: AppContext): Finding[] {
  return tamperedRows(ctx).map(tamperedFinding);
}

/** Removes the session rows that fail their MAC (the operator's `trust reset`); returns them. */
export function removeTamperedSessions(ctx: AppContext): Finding[] {
  const bad = tamperedRows(ctx);
  for (const row of bad) ctx.conn.db.delete(sessions).where(eq(sessions.idHash, row.idHash)).run();
  return bad.map(tamperedFinding);
}
