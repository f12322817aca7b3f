import {
  data,
  type ActionFunctionArgs,
  type LoaderFunctionArgs,
  type MetaFunction,
} from "@remix-run/node";
import { Link, useActionData, useLoaderData } from "@remix-run/react";
import {
  AccountCompromised,
  assertAccountBound,
  getAuth,
  integrityFailure,
  LoginFailed,
  startSession,
  WRONG_LOGIN,
} from "~/auth.server";
import { auditFailedLogin, auditLogin } from "~/services/trail-view.server";
import { Field } from "~/components/field";
import { OpaqueForm } from "~/components/opaque-form";
import { recordLoginSuccess } from "~/services/throttle.server";

export const meta: MetaFunction = () => [{ title: "Log in · EHR Audit Trail" }];

const NEEDS_SCRIPT =
  "Logging in needs JavaScript: your password is checked in your browser and never sent.";

export function loader({ request }: LoaderFunctionArgs) {
  const registered = new URL(request.url).searchParams.get("registered") === "1";
  return {
    notice: registered ? "Your account has been created. You can log in now." : null,
  };
}

// The login's last step (decision record 017): the page's script has run OPAQUE's first exchange
// with /login/start (which counted the attempt) and posts the finish message, or, for an account
// moving off argon2, the new OPAQUE record. No password arrives here.
export async function action({ request, context }: ActionFunctionArgs) {
  const ctx = context.app;
  const form = await request.clone().formData();
  const username = String(form.get("username") ?? "");
  const auditCompany = Boolean(form.get("auditCompany"));
  if (!form.get("loginId") && !form.get("upgradeId")) {
    return data({ error: NEEDS_SCRIPT, username, auditCompany }, { status: 400 });
  }
  try {
    const user = await getAuth(ctx).authenticator.authenticate("opaque", request);
    await assertAccountBound(ctx, user, true);
    await recordLoginSuccess(ctx, { username: user.username, address: context.clientAddress });
    await auditLogin(ctx, user);
    return await startSession(ctx, request, user, "/home");
  } catch (error) {
    if (error instanceof AccountCompromised) {
      const failure = await integrityFailure(ctx, error.userId);
      return data({ error: failure.data.message, username, auditCompany }, { status: 503 });
    }
    if (!(error instanceof LoginFailed)) throw error;
    if (error.started) await auditFailedLogin(ctx, username, error.account);
    return data({ error: WRONG_LOGIN, username, auditCompany }, { status: 401 });
  }
}

export default function Login() {
  const { notice } = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  return (
    <section className="card narrow" aria-labelledby="login-title">
      <h1 id="login-title">Log in</h1>
      {notice && !actionData ? (
        <p role="status" className="alert alert-ok">
          {notice}
        </p>
      ) : null}
      {actionData?.error ? (
        <p role="alert" className="alert alert-error">
          {actionData.error}
        </p>
      ) : null}
      <noscript>
        <p className="alert alert-error">{NEEDS_SCRIPT}</p>
      </noscript>
      <OpaqueForm kind="login" action="/login">
        <Field
          name="username"
          label="Username"
          autoComplete="username"
          defaultValue={actionData?.username}
          required
        />
        <Field
          name="password"
          label="Password"
          type="password"
          autoComplete="current-password"
          sent={false}
          required
        />
        <div className="field">
          <label className="choice">
            <input type="checkbox" name="auditCompany" defaultChecked={actionData?.auditCompany} />
            Audit company login
          </label>
        </div>
        <button type="submit" data-busy-label="Logging in…">
          Log in
        </button>
      </OpaqueForm>
      <p>
        New here? <Link to="/register">Register with your invitation code</Link>
      </p>
    </section>
  );
}
