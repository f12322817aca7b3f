// A client of the OPAQUE login, as the login page's script runs it (app/auth/opaque-browser.ts),
// for tests and the benchmark: over HTTP, or straight into the route actions.
import {
  clientFinishLogin,
  clientFinishRegistration,
  clientStartLogin,
  clientStartRegistration,
  opaqueReady,
} from "../app/crypto/opaque-client";

export type JsonAnswer = {
  status: number;
  headers: Headers;
  body: Record<string, string | undefined>;
};

/** How the client reaches the server: JSON steps, and the login form's final POST. */
export type LoginTransport<Final> = {
  json: (path: string, fields: Record<string, string>) => Promise<JsonAnswer>;
  finish: (fields: Record<string, string>) => Promise<Final>;
};

export type LoginAttemptResult<Final> =
  | { step: "finish"; result: Final; sent: Record<string, string>[] }
  | { step: "start" | "upgrade"; answer: JsonAnswer; sent: Record<string, string>[] };

/** Runs a whole login; `sent` is every field set that went to the server, for the tests to read. */
export async function opaqueLogin<Final>(
  transport: LoginTransport<Final>,
  login: { username: string; password: string; auditCompany?: boolean },
): Promise<LoginAttemptResult<Final>> {
  await opaqueReady;
  const sent: Record<string, string>[] = [];
  const json = (path: string, fields: Record<string, string>) => {
    sent.push(fields);
    return transport.json(path, fields);
  };
  const common = {
    username: login.username,
    ...(login.auditCompany ? { auditCompany: "on" } : {}),
  };
  const { clientLoginState, startLoginRequest } = clientStartLogin(login.password);
  const start = await json("/login/start", { ...common, startLoginRequest });
  const loginId = start.body.loginId;
  if (start.status !== 200 || !loginId) return { step: "start", answer: start, sent };
  let fields: Record<string, string>;
  if (start.body.legacy) {
    const registration = clientStartRegistration(login.password);
    const checked = await json("/login/upgrade", {
      username: login.username,
      loginId,
      password: login.password,
      registrationRequest: registration.registrationRequest,
    });
    const { upgradeId, registrationResponse } = checked.body;
    if (checked.status !== 200 || !upgradeId || !registrationResponse) {
      return { step: "upgrade", answer: checked, sent };
    }
    const record = clientFinishRegistration(
      registration.clientRegistrationState,
      registrationResponse,
      login.password,
    );
    fields = { ...common, upgradeId, registrationRecord: record };
  } else {
    const finish = clientFinishLogin(
      clientLoginState,
      start.body.loginResponse ?? "",
      login.password,
    );
    fields = { ...common, loginId, finishLoginRequest: finish ?? "" };
  }
  sent.push(fields);
  return { step: "finish", result: await transport.finish(fields), sent };
}

/** The transport of a real server at `url`: fetch, as from one of its own pages. */
export function httpTransport(url: string, headers: Record<string, string> = {}) {
  const post = (path: string, fields: Record<string, string>) =>
    fetch(`${url}${path}`, {
      method: "POST",
      redirect: "manual",
      headers: { Origin: url, ...headers },
      body: new URLSearchParams(fields),
    });
  return {
    json: async (path: string, fields: Record<string, string>) => {
      const response = await post(path, fields);
      const body = (await response.json().catch(() => ({}))) as JsonAnswer["body"];
      return { status: response.status, headers: response.headers, body };
    },
    finish: (fields: Record<string, string>) => post("/login", fields),
  } satisfies LoginTransport<Response>;
}
