import { randomUUID } from "node:crypto";
import type { AppContext } from "../context.server";

// Writers in different processes (the server, `import`, `demo`) take turns through the
// append_lease table: row 1 is the lease, held by one writer from reading the head to committing
// the records; row 2 names the writer next in line, so that one that appends back to back (an
// import) lets a waiting writer go first instead of starving it. docs/decisions/012.

/** How long a lease lasts: a holder that died is waited for this long at most. */
export const LEASE_MS = 30_000;
/** How long a place in line lasts unless its waiter, polling, renews it. */
export const NEXT_MS = 1_000;
const POLL_MS = 10;

/** The trail cannot take an append now (another writer held it too long, or SQLite is locked). */
export class TrailBusyError extends Error {
  readonly retryAfterSeconds = 5;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TrailBusyError";
  }
}

/** SQLite gave up waiting for its lock (busy_timeout), or the database is locked. */
export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && /^SQLITE_(BUSY|LOCKED)/.test(code);
}

type Row = { id: number; holder: string; expires_at: number };

// A row counts only while it expires within one term from now. A holder writes now + term, so
// a later time can only come from someone editing the table: such a row is void, and whoever
// can write the file gains nothing by setting it far ahead. The worst such a row can do is the
// most an honest one does, delay appends by one term. (A clock set back can void honest rows
// too; the head check in the write transaction still turns the race into a retry.)
function live(row: Row | undefined, term: number, now: number): row is Row {
  return row !== undefined && row.expires_at > now && row.expires_at <= now + term;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits, without blocking the event loop, until this process holds the append lease; returns
 * the holder id to present when writing. Throws TrailBusyError once `deadline`
 * (performance.now()) has passed.
 */
export async function takeLease(ctx: AppContext, deadline: number): Promise<string> {
  const { sqlite } = ctx.conn;
  const holder = `${process.pid}:${randomUUID()}`;
  const read = sqlite.prepare("SELECT id, holder, expires_at FROM append_lease WHERE id IN (1, 2)");
  const upsert = sqlite.prepare(
    "INSERT INTO append_lease (id, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
  );
  const look = () => {
    const now = ctx.now();
    const rows = read.all() as Row[];
    const lease = rows.find((r) => r.id === 1);
    const next = rows.find((r) => r.id === 2);
    const othersTurn = live(next, NEXT_MS, now) && next.holder !== holder;
    return {
      now,
      canTake: !live(lease, LEASE_MS, now) && !othersTurn,
      // In line already, with more than half the place's term left: nothing to write.
      queued: othersTurn || (next?.holder === holder && next.expires_at - now > NEXT_MS / 2),
      next,
    };
  };
  const attempt = sqlite.transaction((): boolean => {
    const { now, canTake, queued, next } = look();
    if (canTake) {
      upsert.run(1, holder, now + LEASE_MS);
      if (next) sqlite.prepare("DELETE FROM append_lease WHERE id = 2").run();
      return true;
    }
    if (!queued) upsert.run(2, holder, now + NEXT_MS);
    return false;
  });
  for (;;) {
    // Looking takes no lock (WAL); the write lock is taken only to change a row.
    const seen = look();
    if (seen.canTake || !seen.queued) {
      try {
        if (attempt.immediate()) return holder;
      } catch (error) {
        if (isBusy(error)) throw new TrailBusyError("the database stayed locked", { cause: error });
        throw error;
      }
    }
    if (performance.now() > deadline) {
      throw new TrailBusyError("another writer held the trail for too long");
    }
    await sleep(POLL_MS * (0.5 + Math.random()));
  }
}

/** Whether `holder` still holds the lease; call inside the write transaction. */
export function holdsLease(ctx: AppContext, holder: string): boolean {
  const row = ctx.conn.sqlite.prepare("SELECT holder FROM append_lease WHERE id = 1").get() as
    { holder: string } | undefined;
  return row?.holder === holder;
}

/** Gives the lease up, if `holder` still holds it. */
export function releaseLease(ctx: AppContext, holder: string): void {
  ctx.conn.sqlite.prepare("DELETE FROM append_lease WHERE id = 1 AND holder = ?").run(holder);
}
