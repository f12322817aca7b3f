import type { AppContext } from "../context.server";
import {
  finishOpaqueLogin,
  opaqueRegistrationResponse,
  REGISTRATION_RECORD,
  startOpaqueLogin,
} from "../crypto/opaque.server";
import { verifyPassword } from "../crypto/password.server";
import {
  findUserForLogin,
  getUserById,
  replaceCredential,
  usernameIndex,
  type Role,
  type User,
} from "../models/user.server";
import { putPending, takePending } from "./pending-logins.server";

// The OPAQUE login (RFC 9807) between the browser and the server, and the move of an account from
// its argon2 hash to an OPAQUE record at its next login (decision record 017). The password never
// reaches the server, except once, for that move.

/** What the login's second message decides: the account, when one was named, for the audit. */
export type LoginOutcome =
  | { ok: true; user: User }
  /** `started`: the message named a login started here, not a replayed, expired or made-up one. */
  | { ok: false; user: User | null; started: boolean };

export type LoginStart =
  | { kind: "opaque"; loginId: string; loginResponse: string }
  /** The account still has an argon2 hash: the browser sends the password once to move it. */
  | { kind: "legacy"; loginId: string }
  | { kind: "invalid" }
  | { kind: "busy" };

type PendingLogin = {
  username: string;
  role: Role;
  userId: string | null;
  /** Null for an account still on argon2. Never leaves the server. */
  serverLoginState: string | null;
};
type PendingUpgrade = { userId: string; role: Role };

const LOGIN = "login";
const UPGRADE = "upgrade";

/** The OPAQUE user identifier: the username's blind index, the same for real and unknown names. */
function identifierOf(ctx: AppContext, username: string): string {
  return usernameIndex(ctx, username).toString("base64url");
}

const failed = (user: User | null, started = true): LoginOutcome => ({
  ok: false,
  user,
  started,
});

/**
 * The server's answer to a client's first login message. An unknown username gets a fake record's
 * answer, so it fails only at the finish, like a wrong password. Throws UserRowTampered or
 * DecryptionError for an account row edited in the database file.
 */
export function startLogin(
  ctx: AppContext,
  request: { username: string; role: Role; startLoginRequest: string },
): LoginStart {
  const found = findUserForLogin(ctx, request.username);
  const pending: PendingLogin = {
    username: request.username,
    role: request.role,
    userId: found?.user.id ?? null,
    serverLoginState: null,
  };
  if (found?.credential.scheme === "argon2") {
    const loginId = putPending(ctx, LOGIN, pending);
    return loginId ? { kind: "legacy", loginId } : { kind: "busy" };
  }
  const started = startOpaqueLogin(
    ctx.keys.opaqueSetup,
    identifierOf(ctx, request.username),
    found?.credential.record ?? null,
    request.startLoginRequest,
  );
  if (!started) return { kind: "invalid" };
  const loginId = putPending(ctx, LOGIN, {
    ...pending,
    serverLoginState: started.serverLoginState,
  });
  return loginId
    ? { kind: "opaque", loginId, loginResponse: started.loginResponse }
    : { kind: "busy" };
}

/** Checks the client's finish message against the state its login started with; once only. */
export function finishLogin(
  ctx: AppContext,
  loginId: string,
  finishLoginRequest: string,
): LoginOutcome {
  const pending = takePending<PendingLogin>(ctx, LOGIN, loginId);
  if (!pending) return failed(null, false);
  if (!pending.userId || !pending.serverLoginState) return failed(null);
  const proven = finishOpaqueLogin(pending.serverLoginState, finishLoginRequest);
  // Loaded again, and so checked again: the row may have been edited since the first message.
  const user = getUserById(ctx, pending.userId);
  if (!user) return failed(null);
  return proven && user.role === pending.role ? { ok: true, user } : failed(user);
}

export type LegacyCheck =
  | { ok: true; upgradeId: string; registrationResponse: string }
  | { ok: false; user: User | null; started: boolean; invalid?: true };

/**
 * An account still on argon2: checks the password the browser sent, as logins did before OPAQUE,
 * and answers its registration request, so the browser can make the account's OPAQUE record.
 */
export async function checkLegacyLogin(
  ctx: AppContext,
  request: { loginId: string; password: string; registrationRequest: string },
): Promise<LegacyCheck> {
  const pending = takePending<PendingLogin>(ctx, LOGIN, request.loginId);
  if (!pending) return { ok: false, user: null, started: false };
  const found = findUserForLogin(ctx, pending.username);
  if (!found || found.user.id !== pending.userId || found.credential.scheme !== "argon2") {
    return { ok: false, user: found?.user ?? null, started: true };
  }
  const passwordOk = await verifyPassword(found.credential.hash, request.password);
  if (!passwordOk || found.user.role !== pending.role) {
    return { ok: false, user: found.user, started: true };
  }
  const registrationResponse = opaqueRegistrationResponse(
    ctx.keys.opaqueSetup,
    identifierOf(ctx, pending.username),
    request.registrationRequest,
  );
  if (!registrationResponse) return { ok: false, user: found.user, started: true, invalid: true };
  const upgradeId = putPending<PendingUpgrade>(ctx, UPGRADE, {
    userId: found.user.id,
    role: pending.role,
  });
  if (!upgradeId) return { ok: false, user: found.user, started: true, invalid: true };
  return { ok: true, upgradeId, registrationResponse };
}

/** Stores the OPAQUE record the browser made after a successful argon2 check: the login succeeds. */
export function finishUpgrade(ctx: AppContext, upgradeId: string, record: string): LoginOutcome {
  const pending = takePending<PendingUpgrade>(ctx, UPGRADE, upgradeId);
  if (!pending) return failed(null, false);
  if (!REGISTRATION_RECORD.test(record)) return failed(getUserById(ctx, pending.userId));
  const replaced = replaceCredential(ctx, pending.userId, { scheme: "opaque", record });
  const user = getUserById(ctx, pending.userId);
  if (!user) return failed(null);
  return replaced && user.role === pending.role ? { ok: true, user } : failed(user);
}

/** The server's answer to a registration request for `username`: what a new account's record is made from. */
export function registrationResponseFor(
  ctx: AppContext,
  username: string,
  registrationRequest: string,
): string | null {
  return opaqueRegistrationResponse(
    ctx.keys.opaqueSetup,
    identifierOf(ctx, username.trim()),
    registrationRequest,
  );
}
