import type { ActionFunctionArgs } from "@remix-run/node";
import { registrationResponseFor } from "~/services/opaque-login.server";

// The first exchange of an OPAQUE registration (decision record 017): the server evaluates its
// OPRF on the browser's blinded request for this username. It stores nothing and reveals nothing a
// login's first exchange does not; the account is made by POST /register, with an invitation.
export async function action({ request, context }: ActionFunctionArgs) {
  const form = await request.formData();
  const username = String(form.get("username") ?? "");
  const registrationRequest = String(form.get("registrationRequest") ?? "");
  const registrationResponse = username
    ? registrationResponseFor(context.app, username, registrationRequest)
    : null;
  if (!registrationResponse) {
    return Response.json({ error: "The registration message was malformed." }, { status: 400 });
  }
  return Response.json({ registrationResponse });
}
