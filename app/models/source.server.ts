import { randomUUID } from "node:crypto";
import { and, eq, isNull } from "drizzle-orm";
import { sources } from "../../db/schema";
import type { AppContext } from "../context.server";
import { randomSecret, sha256 } from "../crypto/hashing.server";

export type Source = { id: string; name: string; createdAt: Date; revokedAt: Date | null };

export const SOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TOKEN_PREFIX = "ehrat_";

export class SourceError extends Error {}

/** Registers a source system and returns its bearer token; only the token's hash is stored. */
export function addSource(ctx: AppContext, name: string): { source: Source; token: string } {
  if (!SOURCE_NAME.test(name)) {
    throw new SourceError("a source name is 1 to 64 letters, digits, dots, dashes or underscores");
  }
  if (ctx.conn.db.select().from(sources).where(eq(sources.name, name)).get()) {
    throw new SourceError(`a source named "${name}" already exists`);
  }
  const token = `${TOKEN_PREFIX}${randomSecret(32)}`;
  const row = { id: randomUUID(), name, tokenHash: sha256(token), createdAt: ctx.now() };
  ctx.conn.db.insert(sources).values(row).run();
  return {
    source: { id: row.id, name, createdAt: new Date(row.createdAt), revokedAt: null },
    token,
  };
}

/** Revokes a source's token; false when there is no such active source. */
export function revokeSource(ctx: AppContext, name: string): boolean {
  const result = ctx.conn.db
    .update(sources)
    .set({ revokedAt: ctx.now() })
    .where(and(eq(sources.name, name), isNull(sources.revokedAt)))
    .run();
  return result.changes === 1;
}

export function listSources(ctx: AppContext): Source[] {
  return ctx.conn.db
    .select()
    .from(sources)
    .orderBy(sources.name)
    .all()
    .map((s) => ({
      id: s.id,
      name: s.name,
      createdAt: new Date(s.createdAt),
      revokedAt: s.revokedAt === null ? null : new Date(s.revokedAt),
    }));
}

/** The active source a bearer token belongs to, or null. */
export function authenticateSource(ctx: AppContext, token: string): Source | null {
  if (!token.startsWith(TOKEN_PREFIX)) return null;
  const row = ctx.conn.db
    .select()
    .from(sources)
    .where(and(eq(sources.tokenHash, sha256(token)), isNull(sources.revokedAt)))
    .get();
  return row
    ? { id: row.id, name: row.name, createdAt: new Date(row.createdAt), revokedAt: null }
    : null;
}

/** The source a request's `Authorization: Bearer` token belongs to, or null. */
export function sourceFromRequest(ctx: AppContext, request: Request): Source | null {
  const token = /^Bearer\s+(\S+)$/i.exec(request.headers.get("Authorization") ?? "")?.[1];
  return token ? authenticateSource(ctx, token) : null;
}
