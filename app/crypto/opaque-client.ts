// The client side of OPAQUE (RFC 9807), for the browser's login and registration pages and for
// server-side tools (demo, benchmark, tests) that act as a browser. Never sends anything itself.
import * as opaque from "@serenity-kit/opaque";

// The password is stretched with argon2id in the client before it enters the OPRF. Fixed here,
// never left to the library's default: a changed setting would lock every account out.
// RFC 9106's second recommendation: 64 MiB, 3 passes, 4 lanes.
const KEY_STRETCHING = "memory-constrained" as const;

export const opaqueReady = opaque.ready;

/** The first login message, and the state the client keeps for the second. */
export function clientStartLogin(password: string) {
  return opaque.client.startLogin({ password });
}

/** The finish message, or null when the server's answer does not open with this password. */
export function clientFinishLogin(
  clientLoginState: string,
  loginResponse: string,
  password: string,
): string | null {
  const result = opaque.client.finishLogin({
    clientLoginState,
    loginResponse,
    password,
    keyStretching: KEY_STRETCHING,
  });
  return result?.finishLoginRequest ?? null;
}

/** The first registration message, and the state the client keeps for the record. */
export function clientStartRegistration(password: string) {
  return opaque.client.startRegistration({ password });
}

/** The registration record to store, made from the server's registration response. */
export function clientFinishRegistration(
  clientRegistrationState: string,
  registrationResponse: string,
  password: string,
): string {
  return opaque.client.finishRegistration({
    clientRegistrationState,
    registrationResponse,
    password,
    keyStretching: KEY_STRETCHING,
  }).registrationRecord;
}
