import type { AppContext } from "../context.server";
import { checkNewPassword } from "../auth/password-policy";
import {
  clientFinishRegistration,
  clientStartRegistration,
  opaqueReady,
} from "../crypto/opaque-client";
import { registrationResponseFor } from "./opaque-login.server";
import { registerUser, type RegistrationResult } from "./registration.server";

/** The registration form's fields, with the password (and its confirmation, by default the same). */
export type PasswordRegistration = Record<string, unknown> & {
  username: string;
  password: string;
  confirmPassword?: string;
};

/**
 * Registers an account as the browser does, playing the browser's part of OPAQUE in this process.
 * For server-side tools that know the password they set (the demo's accounts, the benchmark's,
 * tests); no route calls it.
 */
export async function registerWithPassword(
  ctx: AppContext,
  input: PasswordRegistration,
): Promise<RegistrationResult> {
  await opaqueReady;
  const { password, confirmPassword = password, ...fields } = input;
  const passwordCheck = checkNewPassword(password, confirmPassword);
  if (passwordCheck !== "ok") return registerUser(ctx, { ...fields, passwordCheck });
  const { clientRegistrationState, registrationRequest } = clientStartRegistration(password);
  const response = registrationResponseFor(ctx, String(input.username), registrationRequest);
  const registrationRecord = response
    ? clientFinishRegistration(clientRegistrationState, response, password)
    : undefined;
  return registerUser(ctx, { ...fields, passwordCheck, registrationRecord });
}
