import { data, type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { Link, isRouteErrorResponse, useLoaderData, useRouteError } from "@remix-run/react";
import { INTEGRITY_COMPROMISED, requireUser } from "~/auth.server";
import { RecordsTable } from "~/components/records-table";
import { ROLE_LABELS } from "~/models/user.server";
import { viewTrail } from "~/services/trail-view.server";

export const meta: MetaFunction = () => [{ title: "Home · EHR Audit Trail" }];

function parseBefore(value: string | null): number | undefined {
  if (value === null || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { user, refreshCookie } = await requireUser(context.app, request);
  const before = parseBefore(new URL(request.url).searchParams.get("before"));
  const view = await viewTrail(context.app, user, { before });
  const viewer = {
    name: user.name,
    roleLabel: ROLE_LABELS[user.role],
    isPatient: user.role === "patient",
  };
  return data(
    { viewer, view },
    { status: view.ok ? 200 : 503, headers: { "Set-Cookie": refreshCookie } },
  );
}

function shortKey(keyId: string | null) {
  return keyId ? keyId.slice(0, 12) : "none";
}

export default function Home() {
  const { viewer, view } = useLoaderData<typeof loader>();
  if (!view.ok) {
    return (
      <section className="card" aria-labelledby="home-title">
        <h1 id="home-title">Welcome, {viewer.name}</h1>
        <div role="alert" className="alert alert-error">
          <h2 className="alert-title">{INTEGRITY_COMPROMISED}</h2>
          <p>
            The audit trail failed verification, so no records are shown. The administrators have
            been alerted.
          </p>
        </div>
      </section>
    );
  }
  const { status } = view;
  const signedAt = status.signedAt
    ? new Date(status.signedAt).toISOString().replace("T", " ").slice(0, 19)
    : "—";
  return (
    <section className="card" aria-labelledby="home-title">
      <h1 id="home-title">Welcome, {viewer.name}</h1>
      <p role="status" className="verified">
        <span aria-hidden="true">✓ </span>Verified: {status.records} records · checkpoint #
        {status.checkpointNumber} signed {signedAt} UTC · key {shortKey(status.keyId)}
      </p>
      <p className="hint">
        {viewer.isPatient
          ? "Every access to your health record that the hospital's systems reported, newest first."
          : `Signed in as ${viewer.roleLabel}: the whole trail, newest first.`}
      </p>
      {view.records.length === 0 ? (
        <p>No records yet.</p>
      ) : (
        <RecordsTable
          records={view.records}
          showPatient={!viewer.isPatient}
          caption={viewer.isPatient ? "Accesses to your record" : "Audit trail"}
        />
      )}
      {view.nextBefore ? (
        <p>
          <Link to={`?before=${view.nextBefore}`}>Older records</Link>
        </p>
      ) : null}
    </section>
  );
}

export function ErrorBoundary() {
  const error = useRouteError();
  const status = isRouteErrorResponse(error) ? error.status : 500;
  const message =
    status === 401
      ? "You need to log in to see this page. No records are shown without a login."
      : status === 503
        ? `${INTEGRITY_COMPROMISED}. No records are shown, and the administrators have been alerted.`
        : "The page could not be shown. Please try again.";
  return (
    <section className="card narrow" aria-labelledby="home-error-title">
      <h1 id="home-error-title">
        {status === 401
          ? "Please log in"
          : status === 503
            ? INTEGRITY_COMPROMISED
            : "Something went wrong"}
      </h1>
      <p role="alert" className="alert alert-error">
        {message}
      </p>
      <p>
        <Link to="/login">Go to the login page</Link>
      </p>
    </section>
  );
}
