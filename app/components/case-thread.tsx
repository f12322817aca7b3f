import { Form } from "@remix-run/react";
import type { CaseView } from "~/services/cases.server";

const dateTime = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});

type Entry = CaseView["question"];

function Said({ who, entry }: { who: string; entry: Entry }) {
  return (
    <div className="case-entry">
      <p className="hint">
        {who} {entry.byName}, <time dateTime={entry.at}>{dateTime.format(new Date(entry.at))}</time>{" "}
        UTC (record #{entry.seq})
      </p>
      <p className="case-text">{entry.text}</p>
    </div>
  );
}

/** One case: the question, its state, and the answers. */
export function CaseThread({ item }: { item: Pick<CaseView, "question" | "answers" | "state"> }) {
  return (
    <article className="case" data-state={item.state}>
      <Said who="Asked by" entry={item.question} />
      {item.answers.length === 0 ? (
        <p className="case-state">Waiting for an answer from the auditors.</p>
      ) : (
        item.answers.map((a) => <Said key={a.logId} who="Answered by" entry={a} />)
      )}
    </article>
  );
}

/** A short text and a button; `intent` says what the action does with it. */
export function CaseTextForm({
  intent,
  label,
  button,
  max,
  hidden,
  error,
}: {
  intent: string;
  label: string;
  button: string;
  max: number;
  hidden?: Record<string, string>;
  error?: string | null;
}) {
  const id = `case-${intent}-${hidden?.caseId ?? "text"}`;
  return (
    <Form method="post" className="case-form">
      <input type="hidden" name="intent" value={intent} />
      {Object.entries(hidden ?? {}).map(([name, value]) => (
        <input key={name} type="hidden" name={name} value={value} />
      ))}
      <div className="field">
        <label htmlFor={id}>{label}</label>
        <span className="hint" id={`${id}-hint`}>
          At most {max} characters.
        </span>
        <textarea
          id={id}
          name="text"
          rows={3}
          maxLength={max}
          required
          aria-describedby={`${id}-hint`}
          aria-invalid={error ? true : undefined}
        />
        {error ? (
          <p className="error" role="alert">
            {error}
          </p>
        ) : null}
      </div>
      <button type="submit">{button}</button>
    </Form>
  );
}
