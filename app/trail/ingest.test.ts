import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fromAuditEvent } from "../fhir/audit-event.server";
import { FUTURE_ERROR, parseBody } from "./ingest.server";

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
