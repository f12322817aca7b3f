import { data, type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { Link, isRouteErrorResponse, useLoaderData, useRouteError } from "@remix-run/react";
import { INTEGRITY_COMPROMISED, requireUser } from "~/auth.server";
import { AccessChart } from "~/components/access-chart";
import {
  buildDashboard,
  MANY_PATIENTS_PER_HOUR,
  UNUSUAL_SHOWN,
  WORKING_HOURS,
} from "~/services/dashboard.server";

export const meta: MetaFunction = () => [{ title: "Dashboard · EHR Audit Trail" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { user, refreshCookie } = await requireUser(context.app, request);
  // Same answer as an unknown page: a patient learns nothing from this address.
  if (user.role !== "auditor") throw data({ message: "Not found" }, { status: 404 });
  const dashboard = await buildDashboard(context.app, user);
  if (!dashboard) throw data({ message: INTEGRITY_COMPROMISED }, { status: 503 });
  return data(dashboard, { headers: { "Set-Cookie": refreshCookie } });
}

export default function DashboardPage() {
  const d = useLoaderData<typeof loader>();
  const flagged = (action: string, table: string) => `/home?action=${action}&table=${table}`;
  return (
    <section className="card" aria-labelledby="dashboard-title">
      <p>
        <Link to="/home">← Back to the records</Link>
      </p>
      <h1 id="dashboard-title">Dashboard</h1>
      <p className="hint">
        Verified trail, the last {d.days.length} days (since {d.since}, UTC).
      </p>
      <h2>Accesses per day, by action</h2>
      <AccessChart perDay={d.perDay} />
      <div className="columns">
        <div>
          <h2>Top actors</h2>
          <table className="records compact">
            <thead>
              <tr>
                <th scope="col">Actor</th>
                <th scope="col" className="numeric">
                  Accesses
                </th>
              </tr>
            </thead>
            <tbody>
              {d.topActors.map((a) => (
                <tr key={a.actorId}>
                  <td>
                    <Link to={`/home?actor=${encodeURIComponent(a.actorId)}`}>{a.actorName}</Link>
                    <span className="hint block">{a.actorId}</span>
                  </td>
                  <td className="numeric">{a.count}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div>
          <h2>Accesses per part of the record</h2>
          <table className="records compact">
            <thead>
              <tr>
                <th scope="col">Part of the record</th>
                <th scope="col" className="numeric">
                  Accesses
                </th>
              </tr>
            </thead>
            <tbody>
              {d.perTable.map((t) => (
                <tr key={t.table}>
                  <td>
                    <Link to={`/home?table=${encodeURIComponent(t.table)}`}>
                      {t.table.replace(/_/g, " ")}
                    </Link>
                  </td>
                  <td className="numeric">{t.count}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
      <h2>Unusual accesses</h2>
      <p className="hint">
        Flagged: outside {String(WORKING_HOURS.from).padStart(2, "0")}:00–{WORKING_HOURS.to}:00 UTC;
        one actor opening {MANY_PATIENTS_PER_HOUR} or more patients within an hour; a delete, print
        or copy. The newest {UNUSUAL_SHOWN} are shown.
      </p>
      {d.unusual.length === 0 ? (
        <p>No unusual accesses.</p>
      ) : (
        <div className="table-wrap">
          <table className="records">
            <thead>
              <tr>
                <th scope="col">When (UTC)</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Patient</th>
                <th scope="col">Rule</th>
                <th scope="col">Seq</th>
              </tr>
            </thead>
            <tbody>
              {d.unusual.map(({ record: r, flags }) => (
                <tr key={r.logId} data-log-id={r.logId}>
                  <td>{r.occurredAt.replace("T", " ").slice(0, 16)}</td>
                  <td>{r.actorName}</td>
                  <td>
                    <Link to={flagged(r.action, r.tableAffected)}>{r.action}</Link>{" "}
                    {r.tableAffected.replace(/_/g, " ")}
                  </td>
                  <td>{r.patientId}</td>
                  <td>{flags.join("; ")}</td>
                  <td className="numeric">
                    <Link to={`/records/${r.logId}`}>{r.seq}</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function ErrorBoundary() {
  const error = useRouteError();
  const status = isRouteErrorResponse(error) ? error.status : 500;
  return (
    <section className="card narrow" aria-labelledby="dashboard-error-title">
      <h1 id="dashboard-error-title">
        {status === 404
          ? "Page not found"
          : status === 401
            ? "Please log in"
            : status === 503
              ? INTEGRITY_COMPROMISED
              : "Something went wrong"}
      </h1>
      <p role="alert" className="alert alert-error">
        {status === 503
          ? "The audit trail failed verification, so nothing is shown. The administrators have been alerted."
          : status === 401
            ? "You need to log in to see this page."
            : "There is nothing to show here."}
      </p>
      <p>
        <Link to="/home">Go to the records</Link>
      </p>
    </section>
  );
}
