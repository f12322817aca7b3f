/** A problem with a received resource, at a FHIRPath expression such as `AuditEvent.agent[1].who`. */
export type Issue = { path?: string; message: string };

/** A FHIRPath expression for a path of property names and list indexes. */
export function fhirPath(path: readonly PropertyKey[], root = "AuditEvent"): string {
  return path.reduce<string>(
    (out, step) => (typeof step === "number" ? `${out}[${step}]` : `${out}.${String(step)}`),
    root,
  );
}

/** An OperationOutcome for errors, as FHIR servers answer. */
export function operationOutcome(code: string, issues: readonly Issue[]) {
  return {
    resourceType: "OperationOutcome",
    issue: issues.map((i) => ({
      severity: "error",
      code,
      diagnostics: i.message,
      ...(i.path ? { expression: [i.path] } : {}),
    })),
  };
}
