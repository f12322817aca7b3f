import { Form, Link } from "@remix-run/react";
import { ACTIONS } from "~/trail/actions";

type Filters = Partial<Record<"from" | "to" | "action" | "table" | "actor" | "patient", string>>;

function FilterField({
  name,
  label,
  error,
  children,
}: {
  name: string;
  label: string;
  error?: string;
  children: React.ReactNode;
}) {
  return (
    <div className="field">
      <label htmlFor={`filter-${name}`}>{label}</label>
      {children}
      {error ? (
        <p id={`filter-${name}-error`} className="error">
          {error}
        </p>
      ) : null}
    </div>
  );
}

/** The trail's filters as a GET form: the URL holds the view, so it can be linked. */
export function FilterForm({
  filters,
  errors,
  showPatient,
}: {
  filters: Filters;
  errors: Filters & { before?: string };
  showPatient: boolean;
}) {
  const input = (name: keyof Filters, type = "text") => (
    <input
      id={`filter-${name}`}
      name={name}
      type={type}
      defaultValue={filters[name] ?? ""}
      aria-invalid={errors[name] ? true : undefined}
      aria-describedby={errors[name] ? `filter-${name}-error` : undefined}
    />
  );
  return (
    <Form method="get" className="filters" aria-label="Filter the records">
      <FilterField name="from" label="From" error={errors.from}>
        {input("from", "date")}
      </FilterField>
      <FilterField name="to" label="To" error={errors.to}>
        {input("to", "date")}
      </FilterField>
      <FilterField name="action" label="Action" error={errors.action}>
        <select id="filter-action" name="action" defaultValue={filters.action ?? ""}>
          <option value="">Any action</option>
          {ACTIONS.map((a) => (
            <option key={a} value={a}>
              {a}
            </option>
          ))}
        </select>
      </FilterField>
      <FilterField name="table" label="Part of the record" error={errors.table}>
        {input("table")}
      </FilterField>
      <FilterField name="actor" label="Actor ID" error={errors.actor}>
        {input("actor")}
      </FilterField>
      {showPatient ? (
        <FilterField name="patient" label="Patient ID" error={errors.patient}>
          {input("patient")}
        </FilterField>
      ) : null}
      <div className="filter-buttons">
        <button type="submit">Apply filters</button>
        <Link to="/home">Clear</Link>
      </div>
    </Form>
  );
}
