// The OPAQUE login straight into the route actions, as the server would run them for a request
// from `clientAddress`: no HTTP server needed.
import { action as loginAction } from "../app/routes/login";
import { action as startAction } from "../app/routes/login.start";
import { action as upgradeAction } from "../app/routes/login.upgrade";
import type { AppContext } from "../app/context.server";
import { opaqueLogin, type JsonAnswer, type LoginTransport } from "./opaque-client";

const JSON_ACTIONS = { "/login/start": startAction, "/login/upgrade": upgradeAction } as const;

export type FinalAnswer = { status: number; headers: Headers; error?: string };

function request(path: string, fields: Record<string, string>) {
  return new Request(`http://localhost${path}`, {
    method: "POST",
    body: new URLSearchParams(fields),
  });
}

/** The login form's final POST to the /login action. */
export async function postLoginFinish(
  ctx: AppContext,
  clientAddress: string,
  fields: Record<string, string>,
): Promise<FinalAnswer> {
  const result = await loginAction({
    request: request("/login", fields),
    params: {},
    context: { app: ctx, cspNonce: "", clientAddress },
  });
  // A redirect is a Response; anything else is data() with its status.
  if (!("data" in result)) return { status: result.status, headers: result.headers };
  return {
    status: result.init?.status ?? 200,
    headers: new Headers(result.init?.headers),
    error: result.data.error,
  };
}

export function actionTransport(
  ctx: AppContext,
  clientAddress: string,
): LoginTransport<FinalAnswer> {
  return {
    json: async (path, fields): Promise<JsonAnswer> => {
      const run = JSON_ACTIONS[path as keyof typeof JSON_ACTIONS];
      const response = await run({
        request: request(path, fields),
        params: {},
        context: { app: ctx, cspNonce: "", clientAddress },
      });
      const body = (await response.json()) as JsonAnswer["body"];
      return { status: response.status, headers: response.headers, body };
    },
    finish: (fields) => postLoginFinish(ctx, clientAddress, fields),
  };
}

/** A whole login through the actions; the answer the browser would end on, and what it sent. */
export async function loginThroughActions(
  ctx: AppContext,
  clientAddress: string,
  login: { username: string; password: string; auditCompany?: boolean },
) {
  const attempt = await opaqueLogin(actionTransport(ctx, clientAddress), login);
  const answer: FinalAnswer =
    attempt.step === "finish"
      ? attempt.result
      : {
          status: attempt.answer.status,
          headers: attempt.answer.headers,
          error: attempt.answer.body.error,
        };
  return { ...answer, sent: attempt.sent };
}
