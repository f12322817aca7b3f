import { z } from "zod";
import type { AppContext } from "../context.server";
import { hashPassword } from "../crypto/password.server";
import { checkInvitation, consumeInvitation } from "../models/invitation.server";
import { insertUser, ROLES, usernameTaken, type User } from "../models/user.server";
import { reportTamperedRow } from "../trail/guard.server";

// NIST SP 800-63B: at least 12 characters here, at least 64 allowed, no composition rules.
export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 128;

const codePoints = (s: string) => [...s].length;

export const registrationSchema = z
  .object({
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
    password: z
      .string()
      .refine((p) => codePoints(p) >= PASSWORD_MIN, {
        error: `Use at least ${PASSWORD_MIN} characters.`,
      })
      .refine((p) => codePoints(p) <= PASSWORD_MAX, {
        error: `Use at most ${PASSWORD_MAX} characters.`,
      }),
    confirmPassword: z.string(),
    userType: z.enum(ROLES, { error: "Choose patient or audit company." }),
    code: z.string().trim().min(1, { error: "Enter the code from your invitation." }),
  })
  .refine((f) => f.password === f.confirmPassword, {
    path: ["confirmPassword"],
    error: "The passwords do not match.",
  });

export type RegistrationInput = z.input<typeof registrationSchema>;
export type FieldErrors = Partial<Record<keyof RegistrationInput | "form", string>>;
export type RegistrationResult = { ok: true; user: User } | { ok: false; errors: FieldErrors };

/** Creates an account from a valid invitation of the chosen type, or creates nothing. */
export async function registerUser(
  ctx: AppContext,
  input: Record<string, unknown>,
): Promise<RegistrationResult> {
  const parsed = registrationSchema.safeParse(input);
  if (!parsed.success) {
    const errors: FieldErrors = {};
    for (const issue of parsed.error.issues) {
      const key = (issue.path[0] ?? "form") as keyof FieldErrors;
      errors[key] ??= issue.message;
    }
    return { ok: false, errors };
  }
  const form = parsed.data;
  // Cheap checks first, so a bad code or taken name does not cost an argon2 hash.
  const precheck = checkInvitation(ctx, form.userType, form.code);
  if (!precheck.ok) {
    // A row edited in the database file grants nothing, and the admins hear of it.
    if (precheck.tampered) await reportTamperedRow(ctx, "a registration");
    return { ok: false, errors: { code: precheck.message } };
  }
  if (usernameTaken(ctx, form.username)) {
    return { ok: false, errors: { username: "This username is taken." } };
  }
  const passwordHash = await hashPassword(form.password);

  // Check again inside one IMMEDIATE transaction: the code and the username may have been
  // taken while the hash was computed, by this process or another.
  const register = ctx.conn.sqlite.transaction((): RegistrationResult => {
    const invitation = checkInvitation(ctx, form.userType, form.code);
    if (!invitation.ok) return { ok: false, errors: { code: invitation.message } };
    if (usernameTaken(ctx, form.username)) {
      return { ok: false, errors: { username: "This username is taken." } };
    }
    const user = insertUser(ctx, {
      name: form.name,
      username: form.username,
      passwordHash,
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
