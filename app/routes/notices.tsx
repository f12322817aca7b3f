import {
  data,
  type ActionFunctionArgs,
  type LoaderFunctionArgs,
  type MetaFunction,
} from "@remix-run/node";
import { Form, useActionData, useLoaderData } from "@remix-run/react";
import { RouteErrorPage } from "~/components/error-page";
import { Field } from "~/components/field";
import { INTEGRITY_COMPROMISED, requireUser } from "~/auth.server";
import type { User } from "~/models/user.server";
import { loadNoticeSettings } from "~/services/notice-state.server";
import {
  requestAddress,
  setChoices,
  turnOffNotices,
  type SettingsOutcome,
} from "~/services/notice-settings.server";

export const meta: MetaFunction = () => [{ title: "Notices · EHR Audit Trail" }];

const NOT_FOUND = { message: "Not found" };

async function requirePatient(request: Request, context: LoaderFunctionArgs["context"]) {
  const found = await requireUser(context.app, request);
  // Same answer as an unknown page: an auditor has no record to be told about.
  if (found.user.role !== "patient") throw data(NOT_FOUND, { status: 404 });
  return found;
}

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { user, refreshCookie } = await requirePatient(request, context);
  const page = await loadNoticeSettings(context.app, user);
  if (!page.ok && page.reason === "compromised") {
    throw data({ message: INTEGRITY_COMPROMISED }, { status: 503 });
  }
  const s = page.ok ? page.settings : null;
  return data(
    {
      tampered: !page.ok,
      email: s?.email ?? null,
      pendingEmail: s?.pendingEmail ?? null,
      choices: s?.choices ?? { newActors: true, emergency: true },
    },
    { headers: { "Set-Cookie": refreshCookie } },
  );
}

const DONE: Record<string, string> = {
  address: "A confirmation link is on its way to that address. Open it to start the notices.",
  choices: "Your choices are saved.",
  off: "Notices are off and your address is forgotten.",
};

function perform(
  ctx: LoaderFunctionArgs["context"]["app"],
  user: User,
  form: FormData,
  origin: string,
) {
  switch (form.get("intent")) {
    case "address":
      return requestAddress(ctx, user, form.get("email"), origin);
    case "choices":
      return setChoices(ctx, user, {
        newActors: form.get("newActors") === "on",
        emergency: form.get("emergency") === "on",
      });
    case "off":
      return turnOffNotices(ctx, user);
    default:
      return Promise.resolve<SettingsOutcome>({
        ok: false,
        status: 400,
        error: "Unknown request.",
      });
  }
}

export async function action({ request, context }: ActionFunctionArgs) {
  const { user } = await requirePatient(request, context);
  const form = await request.formData();
  const origin = new URL(request.url).origin;
  const outcome = await perform(context.app, user, form, origin);
  if (outcome.ok) return data({ done: DONE[String(form.get("intent"))] ?? null, error: null });
  return data({ done: null, error: outcome.error }, { status: outcome.status });
}

export default function NoticesPage() {
  const { tampered, email, pendingEmail, choices } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  return (
    <section className="card narrow" aria-labelledby="notices-title">
      <h1 id="notices-title">Notices of new accesses</h1>
      <p className="hint">
        We can e-mail you when someone who has never opened your record before does, and on every
        emergency access: at most one message an hour. The message only says that there is a new
        access; log in to see it.
      </p>
      {tampered ? (
        <p role="alert" className="alert alert-error">
          Your notice settings failed their integrity check. The administrators have been alerted.
        </p>
      ) : null}
      {result?.done ? (
        <p role="status" className="alert alert-ok">
          {result.done}
        </p>
      ) : null}
      {result?.error ? (
        <p role="alert" className="alert alert-error">
          {result.error}
        </p>
      ) : null}
      <p>
        {email ? (
          <>
            Notices go to <strong>{email}</strong>.
          </>
        ) : (
          "No address is confirmed: you get no notices."
        )}
        {pendingEmail ? ` A confirmation link was sent to ${pendingEmail}.` : null}
      </p>
      <Form method="post">
        <input type="hidden" name="intent" value="address" />
        <Field
          name="email"
          type="email"
          label={email ? "Send notices to another address" : "E-mail address"}
          hint="We send a link to confirm it first."
          autoComplete="email"
          required
        />
        <button type="submit">Send a confirmation link</button>
      </Form>
      <h2>What to tell me of</h2>
      <Form method="post">
        <input type="hidden" name="intent" value="choices" />
        <fieldset className="field">
          <legend>E-mail me when</legend>
          <label className="choice">
            <input type="checkbox" name="newActors" defaultChecked={choices.newActors} />
            someone, or an organisation, opens my record for the first time
          </label>
          <label className="choice">
            <input type="checkbox" name="emergency" defaultChecked={choices.emergency} />
            my record is opened in an emergency
          </label>
        </fieldset>
        <button type="submit">Save choices</button>
      </Form>
      {email || pendingEmail || tampered ? (
        <Form method="post">
          <input type="hidden" name="intent" value="off" />
          <h2>Stop</h2>
          <button type="submit">Stop notices and forget my address</button>
        </Form>
      ) : null}
    </section>
  );
}

export function ErrorBoundary() {
  return <RouteErrorPage />;
}
