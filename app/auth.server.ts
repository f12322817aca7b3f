import { randomBytes } from "node:crypto";
import { createSessionStorage, data, redirect, type SessionStorage } from "@remix-run/node";
import { Authenticator } from "remix-auth";
import { OpaqueStrategy } from "./auth/opaque-strategy.server";
import type { AppContext } from "./context.server";
import { DecryptionError } from "./crypto/fields.server";
import { finishLogin, finishUpgrade } from "./services/opaque-login.server";
import { ensureTrailIntact } from "./trail/guard.server";
import {
  createSessionRow,
  deleteSessionRow,
  readSessionRow,
  refreshSessionRow,
} from "./models/session.server";
import { getUserById, UserRowTampered, type User } from "./models/user.server";
import type { Finding } from "./trail/findings";
import { accountRebound } from "./services/account-binding.server";

export const WRONG_LOGIN = "Username-password combination is wrong for your user type";

type SessionData = { userId: string };

export const INTEGRITY_COMPROMISED = "Data integrity compromised";

export class LoginFailed extends Error {
  /**
   * The account the attempt named, when there is one: the failure is recorded against it. A
   * finish that names no login started here (replayed, expired, made up) is refused unrecorded:
   * only a started login was counted by the throttle.
   */
  constructor(
    public readonly account: User | null,
    public readonly started = true,
  ) {
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

/** A session row that fails its MAC: edited or written in the database file. It opens nothing. */
export class SessionCompromised extends Error {
  constructor(public readonly finding: Finding) {
    super("a session row failed its integrity check");
    this.name = "SessionCompromised";
  }
}

/** An account row that failed its check, as AccountCompromised; null for any other error. */
export function accountCompromisedBy(error: unknown, userId: string): AccountCompromised | null {
  if (error instanceof AccountCompromised) return error;
  if (error instanceof UserRowTampered) return new AccountCompromised(error.userId);
  if (error instanceof DecryptionError) return new AccountCompromised(userId);
  return null;
}

/** Runs `read`, turning an account row that fails its check into AccountCompromised. */
export function guarded<T>(userId: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw accountCompromisedBy(error, userId) ?? error;
  }
}

type Auth = {
  storage: SessionStorage<SessionData>;
  authenticator: Authenticator<User>;
};
const perContext = new WeakMap<AppContext, Auth>();

function createAuth(ctx: AppContext): Auth {
  const idleMs = ctx.config.SESSION_IDLE_MINUTES * 60_000;
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
    // Server-side sessions: logout really ends a session, only a hash of the id is stored, and
    // each row is sealed with an HMAC (app/models/session.server.ts).
    async createData(sessionData) {
      const id = randomBytes(32).toString("base64url");
      createSessionRow(ctx, id, sessionData.userId!, JSON.stringify(sessionData), idleMs);
      return id;
    },
    async readData(id) {
      const found = readSessionRow(ctx, id);
      if (found.state === "tampered") throw new SessionCompromised(found.finding);
      if (found.state === "none") return null;
      const data = JSON.parse(found.data) as SessionData;
      // The sealed row and its data name the same user, or the row was not written by us.
      return data.userId === found.userId ? data : null;
    },
    async updateData(id, sessionData) {
      refreshSessionRow(ctx, id, sessionData.userId!, JSON.stringify(sessionData), idleMs);
    },
    async deleteData(id) {
      deleteSessionRow(ctx, id);
    },
  });

  const authenticator = new Authenticator<User>();
  authenticator.use(
    new OpaqueStrategy<User>(async (finish) => {
      // The account and the user type were fixed by the login's first message, kept on the server.
      const outcome = guarded("unknown", () =>
        finish.kind === "login"
          ? finishLogin(ctx, finish.loginId, finish.finishLoginRequest)
          : finishUpgrade(ctx, finish.upgradeId, finish.registrationRecord),
      );
      if (!outcome.ok) throw new LoginFailed(outcome.user, outcome.started);
      return outcome.user;
    }),
    "opaque",
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
  const old = await cookieSession(storage, request);
  if (old?.id) await storage.destroySession(old);
  const session = await storage.getSession();
  session.set("userId", user.id);
  return redirect(redirectTo, {
    headers: { "Set-Cookie": await storage.commitSession(session) },
  });
}

export async function endSession(ctx: AppContext, request: Request, redirectTo: string) {
  const { storage } = getAuth(ctx);
  const session = await cookieSession(storage, request);
  // A session whose row fails its check is left for the operator; the cookie is cleared.
  const cleared = session ?? (await storage.getSession());
  return redirect(redirectTo, {
    headers: { "Set-Cookie": await storage.destroySession(cleared) },
  });
}

/** The session a request's cookie names, or null when its row fails its integrity check. */
async function cookieSession(storage: SessionStorage<SessionData>, request: Request) {
  try {
    return await storage.getSession(request.headers.get("Cookie"));
  } catch (error) {
    if (error instanceof SessionCompromised) return null;
    throw error;
  }
}

/**
 * Throws AccountCompromised when the account's row is bound to another patient than its first
 * login on the trail (app/services/account-binding.server.ts), after alerting the admins.
 */
export async function assertAccountBound(
  ctx: AppContext,
  user: User,
  atLogin = false,
): Promise<void> {
  if (await accountRebound(ctx, user, atLogin)) throw new AccountCompromised(user.id);
}

/** An account or session row that failed its integrity check: /home says so. */
export function isIntegrityError(error: unknown): boolean {
  return error instanceof AccountCompromised || error instanceof SessionCompromised;
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
  await assertAccountBound(ctx, user);
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
    if (error instanceof SessionCompromised) {
      throw await integrityFailure(ctx, `a request with session ${error.finding.ref}`);
    }
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
