import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { sources } from "../../db/schema";
import type { AppContext } from "../context.server";
import { keyedDigest, randomSecret } from "../crypto/hashing.server";
import { reportTamperedRow } from "../trail/guard.server";
import { SELF_SOURCE } from "../trail/self-source";
import { checkRow, signRow } from "../trail/signed-rows.server";

export type Source = { id: string; name: string; createdAt: Date; revokedAt: Date | null };

export const SOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TOKEN_PREFIX = "ehrat_";

type SourceRow = typeof sources.$inferSelect;

export class SourceError extends Error {}

// A token is kept only as an HMAC under the blind-index key (in KEYS_DIR, never in the
// database), and every row is signed: a row written by hand, or one whose revocation was
// cleared, authenticates nothing (docs/decisions/009-authenticated-rows.md).
function tokenHash(ctx: AppContext, token: string): Buffer {
  return keyedDigest(ctx.keys.blindIndexKey, ["ehr-audit-source-token", token]);
}

const signedValues = (row: Omit<SourceRow, "keyId" | "signature">) => [
  row.id,
  row.name,
  row.tokenHash,
  row.createdAt,
  row.revokedAt,
];

function rowIsGenuine(ctx: AppContext, row: SourceRow): boolean {
  const values = [...signedValues(row), row.keyId];
  return checkRow(ctx.keys.trustedPublicKeys, "sources", values, row.signature) === "valid";
}

const toSource = (row: SourceRow): Source => ({
  id: row.id,
  name: row.name,
  createdAt: new Date(row.createdAt),
  revokedAt: row.revokedAt === null ? null : new Date(row.revokedAt),
});

/** Registers a source system and returns its bearer token; only the token's HMAC is stored. */
export function addSource(ctx: AppContext, name: string): { source: Source; token: string } {
  if (!SOURCE_NAME.test(name)) {
    throw new SourceError("a source name is 1 to 64 letters, digits, dots, dashes or underscores");
  }
  if (name === SELF_SOURCE) {
    throw new SourceError(`"${SELF_SOURCE}" is reserved for the trail's own records`);
  }
  if (ctx.conn.db.select().from(sources).where(eq(sources.name, name)).get()) {
    throw new SourceError(`a source named "${name}" already exists`);
  }
  const token = `${TOKEN_PREFIX}${randomSecret(32)}`;
  const row = {
    id: randomUUID(),
    name,
    tokenHash: tokenHash(ctx, token),
    createdAt: ctx.now(),
    revokedAt: null,
  };
  ctx.conn.db
    .insert(sources)
    .values({ ...row, ...signRow(ctx.keys, "sources", signedValues(row)) })
    .run();
  return { source: toSource({ ...row, keyId: "", signature: Buffer.alloc(0) }), token };
}

/** Revokes a source's token, signing the row again; false when there is no such active source. */
export function revokeSource(ctx: AppContext, name: string): boolean {
  const row = ctx.conn.db.select().from(sources).where(eq(sources.name, name)).get();
  if (!row || row.revokedAt !== null) return false;
  const revoked = { ...row, revokedAt: ctx.now() };
  const result = ctx.conn.db
    .update(sources)
    .set({ revokedAt: revoked.revokedAt, ...signRow(ctx.keys, "sources", signedValues(revoked)) })
    .where(eq(sources.id, row.id))
    .run();
  return result.changes === 1;
}

export function listSources(ctx: AppContext): Source[] {
  return ctx.conn.db.select().from(sources).orderBy(sources.name).all().map(toSource);
}

/** The active source a bearer token belongs to, or null. A row that fails its check grants nothing. */
export function authenticateSource(ctx: AppContext, token: string): Source | null {
  if (!token.startsWith(TOKEN_PREFIX)) return null;
  const row = ctx.conn.db
    .select()
    .from(sources)
    .where(eq(sources.tokenHash, tokenHash(ctx, token)))
    .get();
  if (!row) return null;
  if (!rowIsGenuine(ctx, row)) {
    void reportTamperedRow(ctx, "a request with a source token");
    return null;
  }
  return row.revokedAt === null ? toSource(row) : null;
}

/** The source a request's `Authorization: Bearer` token belongs to, or null. */
export function sourceFromRequest(ctx: AppContext, request: Request): Source | null {
  const token = /^Bearer\s+(\S+)$/i.exec(request.headers.get("Authorization") ?? "")?.[1];
  return token ? authenticateSource(ctx, token) : null;
}

/** Removes the source rows that fail their check (the operator's `trust reset`); returns their ids. */
export function removeTamperedSources(ctx: AppContext): string[] {
  const bad = ctx.conn.db
    .select()
    .from(sources)
    .all()
    .filter((row) => !rowIsGenuine(ctx, row));
  for (const row of bad) ctx.conn.db.delete(sources).where(eq(sources.id, row.id)).run();
  return bad.map((row) => row.id);
}
