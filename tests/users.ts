import type { AppContext } from "../app/context.server";
import { insertUser, type User } from "../app/models/user.server";

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
