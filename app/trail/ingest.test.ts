import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fromAuditEvent } from "../fhir/audit-event.server";
import { MAX_PATIENTS } from "../fhir/ingest.server";
import { BEFORE_EPOCH_ERROR, FUTURE_ERROR, parseBody } from "./ingest.server";

const NOW = Date.parse("2026-11-20T12:00:00Z");
const MINUTE = 60_000;

function event(occurredAt: number) {
  return {
    patient_id: "MRN-1",
    actor_id: "E-1",
    actor_name: "Dr. Test",
    action: "read",
    table_affected: "lab_results",
    occurred_at: new Date(occurredAt).toISOString(),
  };
}

function auditEvent(recorded: number) {
  return {
    resourceType: "AuditEvent",
    type: { system: "http://dicom.nema.org/resources/ontology/DCM", code: "110110" },
    action: "R",
    recorded: new Date(recorded).toISOString(),
    agent: [{ who: { identifier: { value: "E-1" } }, requestor: true }],
    entity: [{ what: { reference: "Patient/MRN-1" } }],
  };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW);
});
afterEach(() => {
  vi.useRealTimers();
});

describe("occurred_at: at most five minutes ahead of the server's clock", () => {
  it.each([
    ["in the past", NOW - 60 * MINUTE],
    ["now", NOW],
    ["just inside the skew", NOW + 5 * MINUTE],
  ])("accepts a time %s", (_what, time) => {
    expect(parseBody(event(time))).toMatchObject({ ok: true });
    expect(fromAuditEvent(auditEvent(time))).toMatchObject({ ok: true });
  });

  it.each([
    ["just beyond the skew", NOW + 5 * MINUTE + 1000],
    ["an hour ahead", NOW + 60 * MINUTE],
  ])("refuses a time %s with a field error", (_what, time) => {
    expect(parseBody(event(time))).toEqual({ ok: false, errors: { occurred_at: FUTURE_ERROR } });
    expect(parseBody({ records: [event(NOW), event(time)] })).toEqual({
      ok: false,
      errors: { "records.1.occurred_at": FUTURE_ERROR },
    });
    expect(fromAuditEvent(auditEvent(time))).toEqual({
      ok: false,
      issues: [{ path: "AuditEvent.period.start", message: FUTURE_ERROR }],
    });
  });
});

describe("occurred_at: not before 1970, where stored times begin", () => {
  const BEFORE = [Date.parse("1969-12-31T23:59:59Z"), Date.parse("0001-01-01T00:00:00Z")];

  it.each(BEFORE)("the JSON API refuses %d with a field error", (time) => {
    expect(parseBody(event(time))).toEqual({
      ok: false,
      errors: { occurred_at: BEFORE_EPOCH_ERROR },
    });
  });

  it.each(BEFORE)("FHIR refuses %d with an OperationOutcome issue", (time) => {
    expect(fromAuditEvent(auditEvent(time))).toEqual({
      ok: false,
      issues: [{ path: "AuditEvent.period.start", message: BEFORE_EPOCH_ERROR }],
    });
  });

  it("the epoch itself is accepted", () => {
    expect(parseBody(event(0))).toMatchObject({ ok: true });
  });
});

describe("a FHIR event names a bounded number of patients", () => {
  const naming = (count: number, detail = "") => ({
    ...auditEvent(NOW),
    entity: Array.from({ length: count }, (_, i) => ({
      what: { reference: `Patient/P${i}` },
      ...(detail ? { detail: [{ type: "notes", valueString: detail }] } : {}),
    })),
  });

  it("at most MAX_PATIENTS, one record each", () => {
    expect(fromAuditEvent(naming(MAX_PATIENTS))).toMatchObject({ ok: true });
    const refused = fromAuditEvent(naming(MAX_PATIENTS + 1));
    expect(refused).toMatchObject({ ok: false });
    expect(JSON.stringify(refused)).toContain(`names ${MAX_PATIENTS + 1} patients`);
  });

  it("and never more than MAX_STORED_BYTES kept once per patient", () => {
    const refused = fromAuditEvent(naming(90, "x".repeat(4000)));
    expect(refused).toMatchObject({ ok: false });
    expect(JSON.stringify(refused)).toContain("MiB");
  });
});
