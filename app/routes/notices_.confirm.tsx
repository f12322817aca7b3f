import {
  data,
  type ActionFunctionArgs,
  type LoaderFunctionArgs,
  type MetaFunction,
} from "@remix-run/node";
import { Form, Link, useActionData, useLoaderData } from "@remix-run/react";
import { confirmAddress } from "~/services/notice-settings.server";

export const meta: MetaFunction = () => [{ title: "Confirm your address · EHR Audit Trail" }];

// Opening the link only shows a button: mail scanners that follow links do not use the token up.
export function loader({ request }: LoaderFunctionArgs) {
  return { token: new URL(request.url).searchParams.get("token") ?? "" };
}

export async function action({ request, context }: ActionFunctionArgs) {
  const form = await request.formData();
  const outcome = await confirmAddress(context.app, form.get("token"));
  if (outcome.ok) return data({ confirmed: true, error: null });
  return data({ confirmed: false, error: outcome.error }, { status: outcome.status });
}

export default function ConfirmNotices() {
  const { token } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  return (
    <section className="card narrow" aria-labelledby="confirm-title">
      <h1 id="confirm-title">Confirm your address</h1>
      {result?.confirmed ? (
        <p role="status" className="alert alert-ok">
          Your address is confirmed. You will be told of new accesses to your record.{" "}
          <Link to="/notices">Your notice settings</Link>
        </p>
      ) : (
        <>
          {result?.error ? (
            <p role="alert" className="alert alert-error">
              {result.error}
            </p>
          ) : null}
          <p>Confirm that notices of new accesses to your record may be sent to this address.</p>
          <Form method="post">
            <input type="hidden" name="token" value={token} />
            <button type="submit">Confirm</button>
          </Form>
        </>
      )}
    </section>
  );
}
