import type { ActionFunctionArgs } from "@remix-run/node";
import { accountCompromisedBy, integrityFailure, WRONG_LOGIN } from "~/auth.server";
import { checkLegacyLogin } from "~/services/opaque-login.server";
import { auditFailedLogin } from "~/services/trail-view.server";

// An account still on its argon2 hash, at its first login since OPAQUE (decision record 017): the
// password is checked as before, once, and the answer to the browser's registration request lets
// it make the account's OPAQUE record, which it posts to /login with the login's last step. The
// attempt was counted by /login/start.
export async function action({ request, context }: ActionFunctionArgs) {
  const ctx = context.app;
  const form = await request.formData();
  const field = (name: string) => String(form.get(name) ?? "");
  try {
    const checked = await checkLegacyLogin(ctx, {
      loginId: field("loginId"),
      password: field("password"),
      registrationRequest: field("registrationRequest"),
    });
    if (checked.ok) {
      const { upgradeId, registrationResponse } = checked;
      return Response.json({ upgradeId, registrationResponse });
    }
    if (checked.invalid) {
      return Response.json({ error: "The login message was malformed." }, { status: 400 });
    }
    if (checked.started) await auditFailedLogin(ctx, field("username"), checked.user);
    return Response.json({ error: WRONG_LOGIN }, { status: 401 });
  } catch (error) {
    const compromised = accountCompromisedBy(error, "unknown");
    if (!compromised) throw error;
    const failure = await integrityFailure(ctx, compromised.userId);
    return Response.json({ error: failure.data.message }, { status: 503 });
  }
}
