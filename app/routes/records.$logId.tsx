import {
  data,
  redirect,
  type ActionFunctionArgs,
  type LoaderFunctionArgs,
  type MetaFunction,
} from "@remix-run/node";
import { Link, useActionData, useLoaderData } from "@remix-run/react";
import { RouteErrorPage } from "~/components/error-page";
import { Purpose } from "~/components/purpose";
import { INTEGRITY_COMPROMISED, requireUser } from "~/auth.server";
import { CaseTextForm, CaseThread } from "~/components/case-thread";
import { QUESTION_MAX } from "~/services/case-text";
import { askWhy, casesAboutRecord } from "~/services/cases.server";
import { isBookkeepingAction } from "~/services/own-actions";
import { recordDetail } from "~/services/record-detail.server";

export const meta: MetaFunction = () => [{ title: "Record · EHR Audit Trail" }];

export async function loader({ request, params, context }: LoaderFunctionArgs) {
  const { user, refreshCookie } = await requireUser(context.app, request);
  const detail = await recordDetail(context.app, user, params.logId ?? "");
  if (detail.kind === "not_found") throw data({ message: "No such record." }, { status: 404 });
  if (detail.kind === "compromised")
    throw data({ message: INTEGRITY_COMPROMISED }, { status: 503 });
  const cases = await casesAboutRecord(context.app, user, detail.record.logId);
  if (!cases) throw data({ message: INTEGRITY_COMPROMISED }, { status: 503 });
  const canAsk =
    user.role === "patient" &&
    !isBookkeepingAction(detail.record.action) &&
    cases.every((c) => c.state === "answered");
  return data({ ...detail, cases, canAsk }, { headers: { "Set-Cookie": refreshCookie } });
}

/** "Ask why": a patient's question about this record; then back to the record, under which it shows. */
export async function action({ request, params, context }: ActionFunctionArgs) {
  const { user } = await requireUser(context.app, request);
  const form = await request.formData();
  const logId = params.logId ?? "";
  if (form.get("intent") !== "ask") return data({ error: "Unknown request." }, { status: 400 });
  const outcome = await askWhy(context.app, user, logId, form.get("text"));
  if (outcome.ok) return redirect(`/records/${logId}#cases`);
  if (outcome.status === 404) throw data({ message: "No such record." }, { status: 404 });
  const headers: Record<string, string> = outcome.retryAfterSeconds
    ? { "Retry-After": String(outcome.retryAfterSeconds) }
    : {};
  return data({ error: outcome.error }, { status: outcome.status, headers });
}

function Row({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </>
  );
}

export default function RecordPage() {
  const { record, signature, leafHash, proof, inclusionVerified, checkpoint, cases, canAsk } =
    useLoaderData<typeof loader>();
  const asked = useActionData<typeof action>();
  return (
    <section className="card" aria-labelledby="record-title">
      <p>
        <Link to="/home">← Back to the records</Link>
      </p>
      <h1 id="record-title">Record #{record.seq}</h1>
      {inclusionVerified ? (
        <p role="status" className="verified">
          <span aria-hidden="true">✓ </span>Verified: signed by key {record.keyId.slice(0, 12)}, and
          included in checkpoint #{checkpoint.number} ({checkpoint.treeSize} records)
        </p>
      ) : (
        <p role="alert" className="alert alert-error">
          The inclusion proof could not be verified against checkpoint #{checkpoint.number}.
        </p>
      )}
      <dl className="details">
        <Row label="Log id">{record.logId}</Row>
        <Row label="Seq">{record.seq}</Row>
        <Row label="Patient">{record.patientId}</Row>
        <Row label="Actor">
          {record.actorName} ({record.actorId})
        </Row>
        <Row label="Action">{record.action}</Row>
        <Row label="Part of the record">{record.tableAffected}</Row>
        <Row label="Why (purpose of use)">
          <Purpose code={record.purpose} />
          {record.purpose ? <span className="hint block">HL7 code {record.purpose}</span> : null}
        </Row>
        <Row label="Occurred">{record.occurredAt}</Row>
        <Row label="Recorded">{record.recordedAt}</Row>
        <Row label="Notes">{record.notes || "—"}</Row>
        <Row label="Source">{record.sourceId}</Row>
        <Row label="Key id">
          <code>{record.keyId}</code>
        </Row>
        <Row label="Signature (RSA-3072, SHA-512)">
          <code>{signature}</code>
        </Row>
      </dl>
      <h2 id="cases">Questions about this access</h2>
      {cases.length === 0 ? <p className="hint">No questions have been asked about it.</p> : null}
      {cases.map((c) => (
        <CaseThread key={c.id} item={c} />
      ))}
      {canAsk ? (
        <CaseTextForm
          intent="ask"
          label="Ask why"
          button="Ask the auditors"
          max={QUESTION_MAX}
          error={asked?.error}
        />
      ) : null}
      <h2>Inclusion proof</h2>
      <dl className="details">
        <Row label="Leaf hash">
          <code>{leafHash}</code>
        </Row>
        <Row label="Checkpoint">
          #{checkpoint.number}, {checkpoint.treeSize} records, signed {checkpoint.signedAt}
        </Row>
        <Row label="Root hash">
          <code>{checkpoint.rootHash}</code>
        </Row>
        <Row label={`Proof (${proof.length} hashes)`}>
          <ol className="proof">
            {proof.map((hash, i) => (
              <li key={i}>
                <code>{hash}</code>
              </li>
            ))}
          </ol>
        </Row>
      </dl>
    </section>
  );
}

export function ErrorBoundary() {
  return (
    <RouteErrorPage
      overrides={{
        404: {
          title: "Record not found",
          text: "There is no record at this address that you may see.",
        },
      }}
    />
  );
}
