import { data, type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";
import { RouteErrorPage } from "~/components/error-page";
import { INTEGRITY_COMPROMISED, requireUser } from "~/auth.server";
import { AccessChart } from "~/components/access-chart";
import { EncryptedTotalsSection } from "~/components/encrypted-totals";
import {
  buildDashboard,
  MANY_PATIENTS_PER_HOUR,
  UNUSUAL_SHOWN,
  WORKING_HOURS,
} from "~/services/dashboard.server";
import { encryptedTotals } from "~/services/dashboard-totals.server";

export const meta: MetaFunction = () => [{ title: "Dashboard · EHR Audit Trail" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { user, refreshCookie } = await requireUser(context.app, request);
  // Same answer as an unknown page: a patient learns nothing from this address.
  if (user.role !== "auditor") throw data({ message: "Not found" }, { status: 404 });
  const dashboard = await buildDashboard(context.app, user);
  if (!dashboard) throw data({ message: INTEGRITY_COMPROMISED }, { status: 503 });
  const totals = await encryptedTotals(context.app, user);
  if (totals.state === "compromised") {
    throw data({ message: INTEGRITY_COMPROMISED }, { status: 503 });
  }
  return data({ ...dashboard, totals }, { headers: { "Set-Cookie": refreshCookie } });
}

type CountRow = { key: string; to: string; name: string; hint?: string; count: number };

/** A titled table of counts, each row linking to the records it counts. */
function CountTable({ title, label, rows }: { title: string; label: string; rows: CountRow[] }) {
  return (
    <div>
      <h2>{title}</h2>
      <table className="records compact">
        <thead>
          <tr>
            <th scope="col">{label}</th>
            <th scope="col" className="numeric">
              Accesses
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.key}>
              <td>
                <Link to={r.to}>{r.name}</Link>
                {r.hint ? <span className="hint block">{r.hint}</span> : null}
              </td>
              <td className="numeric">{r.count}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
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
        <CountTable
          title="Top actors"
          label="Actor"
          rows={d.topActors.map((a) => ({
            key: a.actorId,
            to: `/home?actor=${encodeURIComponent(a.actorId)}`,
            name: a.actorName,
            hint: a.actorId,
            count: a.count,
          }))}
        />
        <CountTable
          title="Accesses per part of the record"
          label="Part of the record"
          rows={d.perTable.map((t) => ({
            key: t.table,
            to: `/home?table=${encodeURIComponent(t.table)}`,
            name: t.table.replace(/_/g, " "),
            count: t.count,
          }))}
        />
      </div>
      <EncryptedTotalsSection totals={d.totals} />
      <h2>Unusual accesses</h2>
      <p className="hint">
        Flagged: outside {String(WORKING_HOURS.from).padStart(2, "0")}:00–{WORKING_HOURS.to}:00 UTC;
        one actor opening {MANY_PATIENTS_PER_HOUR} or more patients within an hour; a delete, print
        or copy; an emergency access (“break the glass”: emergency treatment given as the purpose).
        The newest {UNUSUAL_SHOWN} are shown.
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
  return <RouteErrorPage />;
}
