import { startSession } from "../app/auth.server";
import type { AppContext } from "../app/context.server";
import { insertUser, type User } from "../app/models/user.server";
import { auditLogin } from "../app/services/trail-view.server";

/** A patient account bound to `patientId`, as the session would load it. */
export const patient = (patientId: string): User => ({
  id: `user-${patientId}`,
  name: `Patient ${patientId}`,
  username: `p-${patientId.toLowerCase()}`,
  role: "patient",
  patientId,
});

/** An audit company account. */
export const auditor: User = {
  id: "user-auditor",
  name: "Audit Co",
  username: "auditco",
  role: "auditor",
  patientId: null,
};

/** A stored account (a signed row in `users`) of `role`, with a throwaway credential. */
export const storedAccount = (ctx: AppContext, role: User["role"], patientId: string | null) =>
  insertUser(ctx, {
    name: `${role} ${patientId ?? ""}`,
    username: `${role}-${Math.random().toString(36).slice(2)}`,
    role,
    patientId,
    credential: { scheme: "argon2", hash: "$argon2id$not-used-here" },
  });

/**
 * Logs `user` in as the login route does (the login recorded on the trail, then the session)
 * and returns its session cookie.
 */
export async function loggedInCookie(ctx: AppContext, user: User): Promise<string> {
  await auditLogin(ctx, user);
  const response = await startSession(ctx, new Request("http://trail.test/login"), user, "/home");
  return response.headers.get("Set-Cookie")!.split(";")[0]!;
}

/** The request a logged-in browser sends next to `path`. */
export const loggedInRequest = async (ctx: AppContext, user: User, path = "/home") =>
  new Request(`http://trail.test${path}`, { headers: { Cookie: await loggedInCookie(ctx, user) } });
