import { randomBytes } from "node:crypto";
import { createSessionStorage, data, redirect, type SessionStorage } from "@remix-run/node";
import { and, eq, gt } from "drizzle-orm";
import { Authenticator } from "remix-auth";
import { FormStrategy } from "remix-auth-form";
import { sessions } from "../db/schema";
import type { AppContext } from "./context.server";
import { DecryptionError } from "./crypto/fields.server";
import { sha256 } from "./crypto/hashing.server";
import { burnPasswordCheck, verifyPassword } from "./crypto/password.server";
import { ensureTrailIntact } from "./trail/guard.server";
import { findUserForLogin, getUserById, type Role, type User } from "./models/user.server";

export const WRONG_LOGIN = "Username-password combination is wrong for your user type";

type SessionData = { userId: string };

export const INTEGRITY_COMPROMISED = "Data integrity compromised";

export class LoginFailed extends Error {
  /** The account the attempt named, when there is one: the failure is recorded against it. */
  constructor(public readonly account: User | null) {
    super(WRONG_LOGIN);
    this.name = "LoginFailed";
  }
}

/** An account row that no longer decrypts: someone edited it in the database file. */
export class AccountCompromised extends Error {
  constructor(public readonly userId: string) {
    super(`account ${userId} failed its integrity check`);
    this.name = "AccountCompromised";
  }
}

function guarded<T>(userId: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof DecryptionError) throw new AccountCompromised(userId);
    throw error;
  }
}

type Auth = {
  storage: SessionStorage<SessionData>;
  authenticator: Authenticator<User>;
};
const perContext = new WeakMap<AppContext, Auth>();

function createAuth(ctx: AppContext): Auth {
  const idleMs = ctx.config.SESSION_IDLE_MINUTES * 60_000;
  const table = ctx.conn.db;
  const idHash = (id: string) => sha256(id);
  const storage = createSessionStorage<SessionData>({
    cookie: {
      name: "__session",
      httpOnly: true,
      sameSite: "lax",
      secure: ctx.config.COOKIE_SECURE,
      path: "/",
      secrets: [ctx.keys.sessionSecret],
      maxAge: ctx.config.SESSION_IDLE_MINUTES * 60,
    },
    // Server-side sessions: logout really ends a session, and only a hash of the id is stored.
    async createData(sessionData) {
      const id = randomBytes(32).toString("base64url");
      const now = ctx.now();
      table
        .insert(sessions)
        .values({
          idHash: idHash(id),
          userId: sessionData.userId!,
          data: JSON.stringify(sessionData),
          createdAt: now,
          expiresAt: now + idleMs,
        })
        .run();
      return id;
    },
    async readData(id) {
      const row = table
        .select()
        .from(sessions)
        .where(and(eq(sessions.idHash, idHash(id)), gt(sessions.expiresAt, ctx.now())))
        .get();
      return row ? (JSON.parse(row.data) as SessionData) : null;
    },
    async updateData(id, sessionData) {
      table
        .update(sessions)
        .set({
          data: JSON.stringify(sessionData),
          expiresAt: ctx.now() + idleMs,
        })
        .where(eq(sessions.idHash, idHash(id)))
        .run();
    },
    async deleteData(id) {
      table
        .delete(sessions)
        .where(eq(sessions.idHash, idHash(id)))
        .run();
    },
  });

  const authenticator = new Authenticator<User>();
  authenticator.use(
    new FormStrategy(async ({ form }) => {
      const username = String(form.get("username") ?? "");
      const password = String(form.get("password") ?? "");
      const role: Role = form.get("auditCompany") ? "auditor" : "patient";
      const found = guarded("unknown", () => findUserForLogin(ctx, username));
      if (!found) {
        await burnPasswordCheck(password);
        throw new LoginFailed(null);
      }
      const passwordOk = await verifyPassword(found.passwordHash, password);
      if (!passwordOk || found.user.role !== role) throw new LoginFailed(found.user);
      return found.user;
    }),
    "form",
  );
  return { storage, authenticator };
}

export function getAuth(ctx: AppContext): Auth {
  let auth = perContext.get(ctx);
  if (!auth) {
    auth = createAuth(ctx);
    perContext.set(ctx, auth);
  }
  return auth;
}

/** Starts a fresh session for `user`, ending any session the request came with (no fixation). */
export async function startSession(
  ctx: AppContext,
  request: Request,
  user: User,
  redirectTo: string,
) {
  const { storage } = getAuth(ctx);
  const old = await storage.getSession(request.headers.get("Cookie"));
  if (old.id) await storage.destroySession(old);
  const session = await storage.getSession();
  session.set("userId", user.id);
  return redirect(redirectTo, {
    headers: { "Set-Cookie": await storage.commitSession(session) },
  });
}

export async function endSession(ctx: AppContext, request: Request, redirectTo: string) {
  const { storage } = getAuth(ctx);
  const session = await storage.getSession(request.headers.get("Cookie"));
  return redirect(redirectTo, {
    headers: { "Set-Cookie": await storage.destroySession(session) },
  });
}

/** The signed-in user, or null. */
export async function getOptionalUser(
  ctx: AppContext,
  request: Request,
): Promise<{ user: User; refreshCookie: string } | null> {
  const { storage } = getAuth(ctx);
  const session = await storage.getSession(request.headers.get("Cookie"));
  const userId = session.get("userId");
  if (!session.id || !userId) return null;
  const user = guarded(userId, () => getUserById(ctx, userId));
  if (!user) return null;
  // Committing again moves the idle expiry forward, in the database and in the cookie.
  return { user, refreshCookie: await storage.commitSession(session) };
}

/** Verifies the trail in full (which raises the incident) and answers "data integrity compromised". */
export async function integrityFailure(ctx: AppContext, viewerId: string | null) {
  await ensureTrailIntact(ctx, { viewerId, force: true });
  return data(
    {
      message: `${INTEGRITY_COMPROMISED}. Records are withheld and the administrators have been alerted.`,
    },
    { status: 503, headers: { "Cache-Control": "no-store" } },
  );
}

/**
 * The signed-in user; otherwise throws a 401 that the page shows as "please log in", or a 503
 * when the account's row fails its integrity check.
 */
export async function requireUser(ctx: AppContext, request: Request) {
  let found: Awaited<ReturnType<typeof getOptionalUser>>;
  try {
    found = await getOptionalUser(ctx, request);
  } catch (error) {
    if (error instanceof AccountCompromised) throw await integrityFailure(ctx, error.userId);
    throw error;
  }
  if (!found) {
    throw data(
      { message: "You need to log in to see this page." },
      { status: 401, headers: { "Cache-Control": "no-store" } },
    );
  }
  return found;
}
