import type { AppContext } from "../context.server";
import { createInvitation } from "../models/invitation.server";
import { usernameTaken, type Role } from "../models/user.server";
import { registerUser } from "./registration.server";

export type DemoLogin = {
  username: string;
  password: string;
  name: string;
  role: Role;
  patientId: string | null;
};

/** Fixed demo accounts: for the demo database only, never a real one. */
export const DEMO_LOGINS: readonly DemoLogin[] = [
  {
    username: "auditor",
    password: "demo-auditor-password",
    name: "Dana Whitfield (Northgate Audit Co.)",
    role: "auditor",
    patientId: null,
  },
  {
    username: "alice",
    password: "demo-alice-password",
    name: "Alice Moreno",
    role: "patient",
    patientId: "MRN-100234",
  },
  {
    username: "bob",
    password: "demo-bob-password",
    name: "Bob Okafor",
    role: "patient",
    patientId: "MRN-100871",
  },
];

/** Creates the demo accounts that do not exist yet, through the real invitation flow. */
export async function seedDemoUsers(ctx: AppContext): Promise<number> {
  let created = 0;
  for (const login of DEMO_LOGINS) {
    if (usernameTaken(ctx, login.username)) continue;
    const invitation = createInvitation(ctx, {
      role: login.role,
      patientId: login.patientId ?? undefined,
    });
    const result = await registerUser(ctx, {
      name: login.name,
      username: login.username,
      password: login.password,
      confirmPassword: login.password,
      userType: login.role,
      code: invitation.code,
    });
    if (!result.ok)
      throw new Error(`demo user ${login.username}: ${JSON.stringify(result.errors)}`);
    created += 1;
  }
  return created;
}
