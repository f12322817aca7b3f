import {
  data,
  redirect,
  type ActionFunctionArgs,
  type LoaderFunctionArgs,
  type MetaFunction,
} from "@remix-run/node";
import { Link, useActionData, useLoaderData } from "@remix-run/react";
import { RouteErrorPage } from "~/components/error-page";
import { INTEGRITY_COMPROMISED, requireUser } from "~/auth.server";
import { CaseTextForm, CaseThread } from "~/components/case-thread";
import { ANSWER_MAX } from "~/services/case-text";
import { answerCase, caseQueue, type QueueItem } from "~/services/cases.server";

export const meta: MetaFunction = () => [{ title: "Questions · EHR Audit Trail" }];

const NOT_FOUND = { message: "Not found" };

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { user, refreshCookie } = await requireUser(context.app, request);
  // Same answer as an unknown page: a patient learns nothing from this address.
  if (user.role !== "auditor") throw data(NOT_FOUND, { status: 404 });
  const queue = await caseQueue(context.app, user);
  if (!queue) throw data({ message: INTEGRITY_COMPROMISED }, { status: 503 });
  return data(queue, { headers: { "Set-Cookie": refreshCookie } });
}

export async function action({ request, context }: ActionFunctionArgs) {
  const { user } = await requireUser(context.app, request);
  if (user.role !== "auditor") throw data(NOT_FOUND, { status: 404 });
  const form = await request.formData();
  const caseId = String(form.get("caseId") ?? "");
  if (form.get("intent") !== "answer") {
    return data({ caseId, error: "Unknown request." }, { status: 400 });
  }
  const outcome = await answerCase(context.app, user, caseId, form.get("text"));
  if (outcome.ok) return redirect("/cases");
  return data({ caseId, error: outcome.error }, { status: outcome.status });
}

function QueueEntry({ item, error }: { item: QueueItem; error: string | null }) {
  const r = item.record;
  return (
    <li className="queue-item" data-case-id={item.id}>
      <div className="queue-record">
        <h3>
          <Link to={`/records/${item.recordLogId}`}>
            {r ? `Record #${r.seq}` : "Record not found"}
          </Link>{" "}
          · patient {item.patientId}
        </h3>
        {r ? (
          <p className="hint">
            {r.actorName} ({r.actorId}) · {r.action} · {r.tableAffected.replace(/_/g, " ")} ·{" "}
            {r.occurredAt} · {r.sourceId}
          </p>
        ) : null}
      </div>
      <CaseThread item={item} />
      {item.state === "open" ? (
        <CaseTextForm
          intent="answer"
          label="Answer"
          button="Send the answer"
          max={ANSWER_MAX}
          hidden={{ caseId: item.id }}
          error={error}
        />
      ) : null}
    </li>
  );
}

export default function CasesPage() {
  const { open, answered } = useLoaderData<typeof loader>();
  const failed = useActionData<typeof action>();
  const errorFor = (id: string) => (failed?.caseId === id ? failed.error : null);
  return (
    <section className="card" aria-labelledby="cases-title">
      <h1 id="cases-title">Questions from patients</h1>
      <p className="hint">
        Each question, and each answer, is a record of the trail: signed, sealed and readable only
        by the patient concerned and the auditors.
      </p>
      {failed && !open.some((c) => c.id === failed.caseId) ? (
        <p role="alert" className="alert alert-error">
          {failed.error}
        </p>
      ) : null}
      <h2>Open ({open.length})</h2>
      {open.length === 0 ? <p className="hint">No open questions.</p> : null}
      <ol className="queue" aria-label="Open questions">
        {open.map((c) => (
          <QueueEntry key={c.id} item={c} error={errorFor(c.id)} />
        ))}
      </ol>
      <h2>Answered ({answered.length})</h2>
      <ol className="queue" aria-label="Answered questions">
        {answered.map((c) => (
          <QueueEntry key={c.id} item={c} error={null} />
        ))}
      </ol>
    </section>
  );
}

export function ErrorBoundary() {
  return <RouteErrorPage />;
}
