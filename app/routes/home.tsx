import { data, type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";
import { INTEGRITY_TEXT, RouteErrorPage } from "~/components/error-page";
import { INTEGRITY_COMPROMISED, requireUser } from "~/auth.server";
import { FilterForm } from "~/components/filter-form";
import { HistoryCheck } from "~/components/history-check";
import { RecordsTable } from "~/components/records-table";
import { VerifiedLine } from "~/components/verified-line";
import { ROLE_LABELS } from "~/models/user.server";
import { historyTrust } from "~/services/history-trust.server";
import { filterQuery, parseRecordQuery, withDefaultPeriod } from "~/services/record-query.server";
import { viewTrail } from "~/services/trail-view.server";

export const meta: MetaFunction = () => [{ title: "Home · EHR Audit Trail" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { user, refreshCookie } = await requireUser(context.app, request);
  const query = parseRecordQuery(new URL(request.url).searchParams, user);
  const viewer = {
    name: user.name,
    roleLabel: ROLE_LABELS[user.role],
    isPatient: user.role === "patient",
  };
  const headers = { "Set-Cookie": refreshCookie };
  // Public keys for the browser's own history check, which runs once the page has loaded (015).
  const trust = historyTrust(context.app);
  if (!query.ok) {
    return data(
      {
        viewer,
        filters: query.filters,
        errors: query.errors,
        view: null,
        links: null,
        period: null,
        trust,
      },
      { status: 400, headers },
    );
  }
  const { filters, period } = withDefaultPeriod(query.filters, user, context.app.now());
  const view = await viewTrail(context.app, user, { before: query.before, filters });
  const links = {
    older: view.ok && view.nextBefore ? filterQuery(filters, { before: view.nextBefore }) : null,
    newest: query.before ? filterQuery(filters) || "?" : null,
    all: filterQuery({ ...filters, from: "1970-01-01" }),
    csv: `/export/csv${filterQuery(filters)}`,
    fhir: `/export/fhir${filterQuery(filters)}`,
  };
  return data(
    { viewer, filters, errors: {}, view, links, period, trust },
    { status: view.ok ? 200 : 503, headers },
  );
}

const longDate = new Intl.DateTimeFormat("en-GB", { dateStyle: "long", timeZone: "UTC" });

export default function Home() {
  const { viewer, filters, errors, view, links, period, trust } = useLoaderData<typeof loader>();
  const filtered = Object.values(filters).some(Boolean);
  return (
    <section className="card" aria-labelledby="home-title">
      <h1 id="home-title">Welcome, {viewer.name}</h1>
      {view && !view.ok ? (
        <>
          <div role="alert" className="alert alert-error">
            <h2 className="alert-title">{INTEGRITY_COMPROMISED}</h2>
            <p>{INTEGRITY_TEXT}</p>
          </div>
          {/* The browser's own check does not depend on the server's verdict. */}
          <HistoryCheck trust={trust} />
        </>
      ) : (
        <>
          {view ? <VerifiedLine status={view.status} /> : null}
          <HistoryCheck trust={trust} />
          <p className="hint">
            {viewer.isPatient
              ? "Every access to your health record that the hospital's systems reported, newest first."
              : `Signed in as ${viewer.roleLabel}: the whole trail, newest first.`}
            {viewer.isPatient ? null : (
              <>
                {" "}
                <Link to="/dashboard">Open the dashboard</Link>
              </>
            )}
          </p>
          <FilterForm filters={filters} errors={errors} showPatient={!viewer.isPatient} />
          {Object.keys(errors).length > 0 ? (
            <p role="alert" className="alert alert-error">
              Some filters are not valid; correct them to see records.
            </p>
          ) : null}
          {period && links ? (
            <p className="period-note">
              Showing the last {period.months} months, since{" "}
              <time dateTime={period.since}>{longDate.format(new Date(period.since))}</time>. To see
              older accesses, change “From” above, or <Link to={links.all}>show all accesses</Link>.
            </p>
          ) : null}
          {view?.ok ? (
            <>
              {view.records.length === 0 ? (
                <p>
                  {period
                    ? `No accesses in the last ${period.months} months.`
                    : filtered
                      ? "No records match these filters."
                      : "No records yet."}
                </p>
              ) : (
                <RecordsTable
                  records={view.records}
                  showPatient={!viewer.isPatient}
                  caption={viewer.isPatient ? "Accesses to your record" : "Audit trail"}
                />
              )}
              <nav className="pager" aria-label="Pages">
                {links?.newest ? <Link to={links.newest}>Newest records</Link> : null}
                {links?.older ? <Link to={links.older}>Older records</Link> : null}
              </nav>
              <p className="exports">
                Export this view: <a href={links?.csv}>CSV</a> ·{" "}
                <a href={links?.fhir}>FHIR Bundle</a>
              </p>
            </>
          ) : null}
        </>
      )}
    </section>
  );
}

export function ErrorBoundary() {
  return <RouteErrorPage back={{ to: "/login", label: "Go to the login page" }} />;
}
