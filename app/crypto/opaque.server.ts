import * as opaque from "@serenity-kit/opaque";

// The library's WebAssembly compiles asynchronously; every server function below is synchronous
// after that, so the keys can be made and checked synchronously at start like the others.
await opaque.ready;

/** A new OPAQUE server setup (OPRF seed and the server's static key pair), base64url. */
export function createOpaqueSetup(): string {
  return opaque.server.createSetup();
}

/** The server's static public key, or null when `setup` is not a valid server setup. */
export function opaquePublicKey(setup: string): string | null {
  try {
    return opaque.server.getPublicKey(setup);
  } catch {
    return null;
  }
}

/**
 * The server's answer to a registration request, bound to `identifier`; null for a malformed
 * request. It holds no secret and stores nothing: the record the client makes from it is checked
 * and stored when the account is created.
 */
export function opaqueRegistrationResponse(
  setup: string,
  identifier: string,
  registrationRequest: string,
): string | null {
  try {
    return opaque.server.createRegistrationResponse({
      serverSetup: setup,
      userIdentifier: identifier,
      registrationRequest,
    }).registrationResponse;
  } catch {
    return null;
  }
}

/**
 * The server's first login message, and the state it keeps until the client's finish message.
 * With no record (an unknown username, or an account not yet on OPAQUE), the library answers
 * with a fake record derived from the setup and `identifier`, indistinguishable from a real one
 * (RFC 9807, section 10.9). Null for a malformed request.
 */
export function startOpaqueLogin(
  setup: string,
  identifier: string,
  record: string | null,
  startLoginRequest: string,
): { serverLoginState: string; loginResponse: string } | null {
  try {
    return opaque.server.startLogin({
      serverSetup: setup,
      userIdentifier: identifier,
      registrationRecord: record,
      startLoginRequest,
    });
  } catch {
    return null;
  }
}

/** True only when the client's finish message proves knowledge of the password. */
export function finishOpaqueLogin(serverLoginState: string, finishLoginRequest: string): boolean {
  try {
    opaque.server.finishLogin({ serverLoginState, finishLoginRequest });
    return true;
  } catch {
    return false;
  }
}

/** A registration record as the client library makes it: 192 bytes, base64url. */
export const REGISTRATION_RECORD = /^[A-Za-z0-9_-]{256}$/;
