import {
  data,
  type ActionFunctionArgs,
  type HeadersFunction,
  type LoaderFunctionArgs,
  type MetaFunction,
} from "@remix-run/node";
import { Form, Link, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import {
  AccountCompromised,
  getAuth,
  integrityFailure,
  LoginFailed,
  startSession,
  WRONG_LOGIN,
} from "~/auth.server";
import { auditFailedLogin, auditLogin } from "~/services/trail-view.server";
import { Field } from "~/components/field";
import { admitLoginAttempt, recordLoginSuccess } from "~/services/throttle.server";

export const meta: MetaFunction = () => [{ title: "Log in · EHR Audit Trail" }];

// A full-page POST takes its headers from here, not from the action: keep a refusal's Retry-After.
export const headers: HeadersFunction = ({ actionHeaders, parentHeaders }) => {
  const headers = new Headers(parentHeaders);
  const retryAfter = actionHeaders.get("Retry-After");
  if (retryAfter) headers.set("Retry-After", retryAfter);
  return headers;
};

export function loader({ request }: LoaderFunctionArgs) {
  const registered = new URL(request.url).searchParams.get("registered") === "1";
  return {
    notice: registered ? "Your account has been created. You can log in now." : null,
  };
}

export async function action({ request, context }: ActionFunctionArgs) {
  const ctx = context.app;
  const form = await request.clone().formData();
  const username = String(form.get("username") ?? "");
  const attempt = { username, address: context.clientAddress };
  const auditCompany = Boolean(form.get("auditCompany"));

  const gate = await admitLoginAttempt(ctx, attempt);
  if (!gate.allowed) {
    const minutes = Math.ceil(gate.retryAfterSeconds / 60);
    const wait =
      minutes > 90
        ? `${Math.ceil(minutes / 60)} hours`
        : `${minutes} minute${minutes === 1 ? "" : "s"}`;
    return data(
      {
        error: `Too many failed attempts. Try again in ${wait}.`,
        username,
        auditCompany,
      },
      {
        status: 429,
        headers: { "Retry-After": String(gate.retryAfterSeconds) },
      },
    );
  }
  try {
    const user = await getAuth(ctx).authenticator.authenticate("form", request);
    await recordLoginSuccess(ctx, attempt);
    await auditLogin(ctx, user);
    return await startSession(ctx, request, user, "/home");
  } catch (error) {
    if (error instanceof AccountCompromised) {
      const failure = await integrityFailure(ctx, error.userId);
      return data({ error: failure.data.message, username, auditCompany }, { status: 503 });
    }
    if (!(error instanceof LoginFailed)) throw error;
    await auditFailedLogin(ctx, username, error.account);
    return data({ error: WRONG_LOGIN, username, auditCompany }, { status: 401 });
  }
}

export default function Login() {
  const { notice } = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const busy = useNavigation().state === "submitting";
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
      <Form method="post">
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
          required
        />
        <div className="field">
          <label className="choice">
            <input type="checkbox" name="auditCompany" defaultChecked={actionData?.auditCompany} />
            Audit company login
          </label>
        </div>
        <button type="submit" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </Form>
      <p>
        New here? <Link to="/register">Register with your invitation code</Link>
      </p>
    </section>
  );
}
