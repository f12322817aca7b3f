import type { ActionFunctionArgs } from "@remix-run/node";
import { AccountCompromised, guarded, integrityFailure } from "~/auth.server";
import { startLogin } from "~/services/opaque-login.server";
import { admitLoginAttempt, tooManyAttemptsMessage } from "~/services/throttle.server";

// The first exchange of an OPAQUE login (decision record 017): the browser's first message in,
// the server's answer and the id of the state it keeps out. The attempt is counted here, before
// anything is checked; the finish is posted to /login.
export async function action({ request, context }: ActionFunctionArgs) {
  const ctx = context.app;
  const form = await request.formData();
  const username = String(form.get("username") ?? "");
  const startLoginRequest = String(form.get("startLoginRequest") ?? "");
  if (!username || !startLoginRequest) {
    return Response.json({ error: "Enter your username and password." }, { status: 400 });
  }
  const gate = await admitLoginAttempt(ctx, { username, address: context.clientAddress });
  if (!gate.allowed) {
    return Response.json(
      { error: tooManyAttemptsMessage(gate.retryAfterSeconds) },
      { status: 429, headers: { "Retry-After": String(gate.retryAfterSeconds) } },
    );
  }
  const role = form.get("auditCompany") ? "auditor" : "patient";
  try {
    const started = guarded("unknown", () =>
      startLogin(ctx, { username, role, startLoginRequest }),
    );
    switch (started.kind) {
      case "opaque":
        return Response.json({ loginId: started.loginId, loginResponse: started.loginResponse });
      case "legacy":
        return Response.json({ loginId: started.loginId, legacy: "1" });
      case "invalid":
        return Response.json({ error: "The login message was malformed." }, { status: 400 });
      case "busy":
        return Response.json({ error: "Too many logins at once. Try again." }, { status: 503 });
    }
  } catch (error) {
    if (!(error instanceof AccountCompromised)) throw error;
    const failure = await integrityFailure(ctx, error.userId);
    return Response.json({ error: failure.data.message }, { status: 503 });
  }
}
