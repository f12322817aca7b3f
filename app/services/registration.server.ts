import { z } from "zod";
import type { AppContext } from "../context.server";
import { PASSWORD_CHECKS, PASSWORD_MAX, PASSWORD_MIN } from "../auth/password-policy";
import { REGISTRATION_RECORD } from "../crypto/opaque.server";
import { checkInvitation, consumeInvitation } from "../models/invitation.server";
import { insertUser, ROLES, usernameTaken, type User } from "../models/user.server";
import { reportTamperedRow } from "../trail/guard.server";

const PASSWORD_ERRORS = {
  short: { password: `Use at least ${PASSWORD_MIN} characters.` },
  long: { password: `Use at most ${PASSWORD_MAX} characters.` },
  mismatch: { confirmPassword: "The passwords do not match." },
} as const;

/** Sent without the browser's script: the form carries no password, so no record can be made. */
export const NEEDS_SCRIPT =
  "This page needs JavaScript: your password is turned into a login record in your browser and never sent.";

export const registrationSchema = z.object({
  name: z
    .string()
    .trim()
    .min(1, { error: "Enter your name." })
    .max(200, { error: "Use at most 200 characters." }),
  username: z
    .string()
    .trim()
    .min(3, { error: "Use at least 3 characters." })
    .max(64, { error: "Use at most 64 characters." })
    // No spaces, and no invisible format characters: "alice\u200b" must not pass for "alice".
    .regex(/^[^\s\p{Cf}]+$/u, {
      error: "A username cannot contain spaces or invisible characters.",
    }),
  // The browser's verdict on the password it kept (password-policy.ts), and the OPAQUE record.
  passwordCheck: z.enum(PASSWORD_CHECKS, { error: NEEDS_SCRIPT }),
  // Absent when the browser found the password unfit: it makes no record for one.
  registrationRecord: z.string().regex(REGISTRATION_RECORD, { error: NEEDS_SCRIPT }).optional(),
  userType: z.enum(ROLES, { error: "Choose patient or audit company." }),
  code: z.string().trim().min(1, { error: "Enter the code from your invitation." }),
});

export type RegistrationInput = z.input<typeof registrationSchema>;
export type FieldErrors = Partial<
  Record<Exclude<keyof RegistrationInput, "passwordCheck" | "registrationRecord">, string> & {
    password: string;
    confirmPassword: string;
    form: string;
  }
>;
const FIELDS_OF_THEIR_OWN = ["name", "username", "userType", "code"];

export type RegistrationResult = { ok: true; user: User } | { ok: false; errors: FieldErrors };

/** Creates an account from a valid invitation of the chosen type, or creates nothing. */
export async function registerUser(
  ctx: AppContext,
  input: Record<string, unknown>,
): Promise<RegistrationResult> {
  const parsed = registrationSchema.safeParse(input);
  const errors: FieldErrors = {};
  for (const issue of parsed.error?.issues ?? []) {
    const field = String(issue.path[0] ?? "form");
    const key = (FIELDS_OF_THEIR_OWN.includes(field) ? field : "form") as keyof FieldErrors;
    errors[key] ??= issue.message;
  }
  const check = PASSWORD_CHECKS.find((c) => c === input.passwordCheck);
  if (check && check !== "ok") Object.assign(errors, PASSWORD_ERRORS[check]);
  if (check === "ok" && parsed.success && !parsed.data.registrationRecord)
    errors.form = NEEDS_SCRIPT;
  if (!parsed.success || Object.keys(errors).length > 0) return { ok: false, errors };
  const form = { ...parsed.data, registrationRecord: parsed.data.registrationRecord! };
  const precheck = checkInvitation(ctx, form.userType, form.code);
  if (!precheck.ok) {
    // A row edited in the database file grants nothing, and the admins hear of it.
    if (precheck.tampered) await reportTamperedRow(ctx, "a registration");
    return { ok: false, errors: { code: precheck.message } };
  }
  if (usernameTaken(ctx, form.username)) {
    return { ok: false, errors: { username: "This username is taken." } };
  }

  // Check again inside one IMMEDIATE transaction: the code and the username may have been taken
  // meanwhile, by this process or another.
  const register = ctx.conn.sqlite.transaction((): RegistrationResult => {
    const invitation = checkInvitation(ctx, form.userType, form.code);
    if (!invitation.ok) return { ok: false, errors: { code: invitation.message } };
    if (usernameTaken(ctx, form.username)) {
      return { ok: false, errors: { username: "This username is taken." } };
    }
    const user = insertUser(ctx, {
      name: form.name,
      username: form.username,
      credential: { scheme: "opaque", record: form.registrationRecord },
      role: form.userType,
      patientId: invitation.patientId,
    });
    if (!consumeInvitation(ctx, invitation.id, user.id)) {
      throw new Error("invitation consumed concurrently");
    }
    return { ok: true, user };
  });
  return register.immediate();
}
