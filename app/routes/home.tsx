import { data, type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { Link, isRouteErrorResponse, useLoaderData, useRouteError } from "@remix-run/react";
import { requireUser } from "~/auth.server";
import { ROLE_LABELS } from "~/models/user.server";

export const meta: MetaFunction = () => [{ title: "Home · EHR Audit Trail" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { user, refreshCookie } = await requireUser(context.app, request);
  return data(
    { name: user.name, roleLabel: ROLE_LABELS[user.role] },
    { headers: { "Set-Cookie": refreshCookie } },
  );
}

export default function Home() {
  const { name, roleLabel } = useLoaderData<typeof loader>();
  return (
    <section className="card" aria-labelledby="home-title">
      <h1 id="home-title">Welcome, {name}</h1>
      <p>
        Signed in as <strong>{roleLabel}</strong>.
      </p>
    </section>
  );
}

export function ErrorBoundary() {
  const error = useRouteError();
  const unauthenticated = isRouteErrorResponse(error) && error.status === 401;
  return (
    <section className="card narrow" aria-labelledby="home-error-title">
      <h1 id="home-error-title">{unauthenticated ? "Please log in" : "Something went wrong"}</h1>
      <p role="alert" className="alert alert-error">
        {unauthenticated
          ? "You need to log in to see this page. No records are shown without a login."
          : "The page could not be shown. Please try again."}
      </p>
      <p>
        <Link to="/login">Go to the login page</Link>
      </p>
    </section>
  );
}
