import { isEmergency } from "~/fhir/purpose-of-use";
import type { AuditRecordView } from "~/models/record.server";
import { Purpose } from "./purpose";

const dateTime = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});

/**
 * The records of a view, newest first; the patient column only where several patients show.
 * Each record links to its page with a plain link: a router link resolves its path against the
 * route tree, which for a page of fifty rows doubled the table's render time (decision 008).
 */
export function RecordsTable({
  records,
  showPatient,
  caption,
}: {
  records: AuditRecordView[];
  showPatient: boolean;
  caption: string;
}) {
  return (
    <div className="table-wrap">
      <table className="records">
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">When (UTC)</th>
            <th scope="col">Who</th>
            <th scope="col">Action</th>
            <th scope="col">Part of the record</th>
            <th scope="col">Why</th>
            {showPatient ? <th scope="col">Patient</th> : null}
            <th scope="col">Notes</th>
            <th scope="col">Source</th>
            <th scope="col">Seq</th>
          </tr>
        </thead>
        <tbody>
          {records.map((r) => (
            <tr
              key={r.logId}
              data-log-id={r.logId}
              className={isEmergency(r.purpose) ? "emergency" : undefined}
            >
              <td>
                <time dateTime={r.occurredAt}>{dateTime.format(new Date(r.occurredAt))}</time>
              </td>
              <td>
                {r.actorName}
                <span className="hint block">{r.actorId}</span>
              </td>
              <td>
                <span className={`action action-${r.action}`}>{r.action}</span>
              </td>
              <td>{r.tableAffected.replace(/_/g, " ")}</td>
              <td>
                <Purpose code={r.purpose} />
              </td>
              {showPatient ? <td>{r.patientId}</td> : null}
              <td>{r.notes}</td>
              <td>{r.sourceId}</td>
              <td className="numeric">
                <a href={`/records/${r.logId}`} aria-label={`Record ${r.seq}: details and proof`}>
                  {r.seq}
                </a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
