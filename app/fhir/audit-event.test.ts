import { describe, expect, test } from "vitest";
import type { AuditRecordView } from "../models/record.server";
import { ACTIONS } from "../trail/ingest.server";
import { BALP_PROFILE } from "./codes.server";
import {
  ACTION_SYSTEM,
  EXTENSION,
  fromAuditEvent,
  operationOutcome,
  toAuditEvent,
  type MappedEvent,
} from "./audit-event.server";

const OCCURRED = "2026-10-14T08:15:30.123Z";
const RECORDED = "2026-10-14T08:15:31.456Z";
const ORIGIN = "trail.example.org";

function view(overrides: Partial<AuditRecordView> = {}): AuditRecordView {
  return {
    seq: 42,
    logId: "0b7f5a52-3f7e-4c1e-9d0e-2a7f1c9b8e11",
    patientId: "MRN-100234",
    actorId: "E1001",
    actorName: "Dr. Priya Raman",
    action: "read",
    tableAffected: "lab_results",
    occurredAt: OCCURRED,
    recordedAt: RECORDED,
    notes: "chart review before rounds",
    sourceId: "epic-prod",
    keyId: "ab".repeat(32),
    extra: null,
    purpose: null,
    ...overrides,
  };
}

const EXPECTED_CODE: Record<(typeof ACTIONS)[number], string> = {
  create: "C",
  read: "R",
  print: "R",
  copy: "R",
  update: "U",
  delete: "D",
  query: "E",
  export: "E",
  login: "E",
  logout: "E",
  execute: "E",
};

/** A plain JSON copy, as the event would travel over HTTP. */
const overTheWire = <T>(value: T): unknown => JSON.parse(JSON.stringify(value));

function expectIssues(result: MappedEvent) {
  if (result.ok) throw new Error(`expected issues, got ${JSON.stringify(result.inputs)}`);
  return result.issues;
}

type Json = Record<string, unknown>;

/** An AuditEvent as another system would send it: no subtype, no extensions, no details. */
function foreignEvent(overrides: Json = {}): Json {
  return {
    resourceType: "AuditEvent",
    type: { system: "http://dicom.nema.org/resources/ontology/DCM", code: "110110" },
    action: "U",
    recorded: "2026-10-20T13:45:00+02:00",
    outcome: "0",
    agent: [
      { who: { identifier: { value: "nurse-7" }, display: "Nurse Jackie" }, requestor: true },
    ],
    source: { observer: { display: "other-ehr" } },
    entity: [{ what: { reference: "Patient/X" } }],
    ...overrides,
  };
}

describe("toAuditEvent", () => {
  test("maps every field of a record view onto an R4 AuditEvent in BALP's shape", () => {
    const event = toAuditEvent(view(), { signature: "c2lnbmF0dXJl", origin: ORIGIN });
    const source = { type: "Device", identifier: { value: "epic-prod" }, display: "epic-prod" };
    expect(event).toMatchObject({
      resourceType: "AuditEvent",
      id: "0b7f5a52-3f7e-4c1e-9d0e-2a7f1c9b8e11",
      meta: { profile: [BALP_PROFILE.read] },
      action: "R",
      period: { start: OCCURRED, end: OCCURRED },
      recorded: RECORDED,
      outcome: "0",
      agent: [
        {
          type: { coding: [{ code: "IRCP" }] },
          who: { identifier: { value: "E1001" }, display: "Dr. Priya Raman" },
          requestor: true,
        },
        { type: { coding: [{ code: "110153" }] }, who: source, requestor: false },
      ],
      entity: [
        {
          what: { reference: "Patient/MRN-100234" },
          type: { code: "1" },
          role: { code: "1" },
          detail: [
            { type: "table_affected", valueString: "lab_results" },
            { type: "notes", valueString: "chart review before rounds" },
          ],
        },
        {
          what: { identifier: { value: "lab_results" } },
          type: { code: "2" },
          role: { code: "4" },
        },
      ],
      source: { observer: source, type: [{ code: "4" }] },
      subtype: [
        { system: "http://hl7.org/fhir/restful-interaction", code: "read" },
        { system: ACTION_SYSTEM, code: "read" },
      ],
    });
    expect(event.extension).toEqual([
      { url: EXTENSION.seq, valueInteger: 42 },
      { url: EXTENSION.keyId, valueString: "ab".repeat(32) },
      { url: EXTENSION.signature, valueBase64Binary: "c2lnbmF0dXJl" },
    ]);
  });

  test("carries no signature extension without a seal", () => {
    const event = toAuditEvent(view(), { origin: ORIGIN });
    const urls = (event.extension as { url: string }[]).map((e) => e.url);
    expect(urls).toEqual([EXTENSION.seq, EXTENSION.keyId]);
  });

  test.each(ACTIONS)(
    "action %s has the FHIR code of the mapping and its exact subtype",
    (action) => {
      const event = toAuditEvent(view({ action }), { origin: ORIGIN });
      expect(event.action).toBe(EXPECTED_CODE[action]);
      expect(event.subtype).toContainEqual({ system: ACTION_SYSTEM, code: action });
    },
  );
});

describe("fromAuditEvent(toAuditEvent(view)) gives the record back", () => {
  test.each(ACTIONS)("for action %s", (action) => {
    const original = view({
      action,
      notes: `why: ${action}, "quoted", with\na newline and unicode ü`,
      tableAffected: `table_for_${action}`,
    });
    const mapped = fromAuditEvent(
      overTheWire(toAuditEvent(original, { signature: "AAAA", origin: ORIGIN })),
    );
    expect(mapped).toEqual({
      ok: true,
      inputs: [
        {
          patientId: original.patientId,
          actorId: original.actorId,
          actorName: original.actorName,
          action,
          tableAffected: original.tableAffected,
          occurredAt: Date.parse(OCCURRED),
          notes: original.notes,
          extra: expect.any(String),
        },
      ],
    });
  });

  test("keeps the milliseconds of occurredAt, not the recorded time", () => {
    const mapped = fromAuditEvent(
      overTheWire(
        toAuditEvent(
          view({ occurredAt: "2026-01-02T03:04:05.678Z", recordedAt: "2026-03-01T00:00:00.000Z" }),
          { origin: ORIGIN },
        ),
      ),
    );
    if (!mapped.ok) throw new Error(JSON.stringify(mapped.issues));
    expect(mapped.inputs[0]!.occurredAt).toBe(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
  });

  test("keeps empty notes empty", () => {
    const mapped = fromAuditEvent(
      overTheWire(toAuditEvent(view({ notes: "" }), { origin: ORIGIN })),
    );
    expect(mapped.ok && mapped.inputs[0]!.notes).toBe("");
  });
});

describe("an AuditEvent from another system", () => {
  test("with only the FHIR action, an agent and a patient maps to update of 'record'", () => {
    expect(fromAuditEvent(foreignEvent())).toEqual({
      ok: true,
      inputs: [
        {
          patientId: "X",
          actorId: "nurse-7",
          actorName: "Nurse Jackie",
          action: "update",
          tableAffected: "record",
          occurredAt: Date.parse("2026-10-20T11:45:00Z"),
          notes: "",
          extra: expect.any(String),
        },
      ],
    });
  });

  test.each([
    ["C", "create"],
    ["R", "read"],
    ["D", "delete"],
    ["E", "execute"],
  ])("action %s maps to %s", (code, action) => {
    const mapped = fromAuditEvent(foreignEvent({ action: code }));
    expect(mapped.ok && mapped.inputs[0]!.action).toBe(action);
  });

  test("takes the period start over recorded, and the actor id when there is no display", () => {
    const mapped = fromAuditEvent(
      foreignEvent({
        period: { start: "2026-10-20T08:00:00Z" },
        agent: [{ who: { identifier: { value: "nurse-7" } } }],
      }),
    );
    expect(mapped).toMatchObject({
      ok: true,
      inputs: [{ occurredAt: Date.parse("2026-10-20T08:00:00Z"), actorName: "nurse-7" }],
    });
  });

  test("finds the Patient entity among others", () => {
    const mapped = fromAuditEvent(
      foreignEvent({
        entity: [
          { what: { reference: "Practitioner/1" } },
          {
            what: { reference: "Patient/MRN-7" },
            detail: [{ type: "table_affected", valueString: "allergies" }],
          },
        ],
      }),
    );
    expect(mapped).toMatchObject({
      ok: true,
      inputs: [{ patientId: "MRN-7", tableAffected: "allergies" }],
    });
  });
});

describe("an AuditEvent that cannot be stored", () => {
  const cases: [string, unknown, string][] = [
    ["a wrong resourceType", foreignEvent({ resourceType: "Patient" }), "AuditEvent.resourceType"],
    ["no resourceType", { ...foreignEvent(), resourceType: undefined }, "AuditEvent.resourceType"],
    ["no agent", { ...foreignEvent(), agent: undefined }, "AuditEvent.agent"],
    ["an empty agent list", foreignEvent({ agent: [] }), "AuditEvent.agent"],
    [
      "a requestor who names no one",
      foreignEvent({ agent: [{ requestor: true }] }),
      "AuditEvent.agent[0].who",
    ],
    [
      "no requestor and two human agents",
      foreignEvent({
        agent: [{ who: { reference: "Practitioner/1" } }, { who: { reference: "Practitioner/2" } }],
      }),
      "AuditEvent.agent",
    ],
    [
      "no Patient entity",
      foreignEvent({ entity: [{ what: { reference: "Practitioner/1" } }] }),
      "AuditEvent.entity",
    ],
    ["no entity at all", foreignEvent({ entity: [] }), "AuditEvent.entity"],
    ["an invalid action code", foreignEvent({ action: "X" }), "AuditEvent.action"],
    ["no action and no subtype", { ...foreignEvent(), action: undefined }, "AuditEvent.action"],
    ["recorded not a date", foreignEvent({ recorded: "last Tuesday" }), "AuditEvent.recorded"],
    [
      "a future period.start",
      foreignEvent({ period: { start: new Date(Date.now() + 2 * 3_600_000).toISOString() } }),
      "AuditEvent.period.start",
    ],
    [
      "a future recorded time and no period",
      foreignEvent({ recorded: new Date(Date.now() + 2 * 3_600_000).toISOString() }),
      "AuditEvent.period.start",
    ],
    [
      "a bad table_affected detail",
      foreignEvent({
        entity: [
          {
            what: { reference: "Patient/X" },
            detail: [{ type: "table_affected", valueString: "Bad Table" }],
          },
        ],
      }),
      "AuditEvent.entity.detail",
    ],
  ];

  test.each(cases)("%s gives an issue on its field", (_name, body, path) => {
    const issues = expectIssues(fromAuditEvent(body));
    expect(issues.map((i) => i.path)).toContain(path);
    for (const issue of issues) expect(issue.message).toEqual(expect.any(String));
  });

  test("a body that is no object at all is refused", () => {
    for (const body of [null, "AuditEvent", 42, []]) {
      expect(fromAuditEvent(body).ok).toBe(false);
    }
  });

  test("several problems are reported together", () => {
    const issues = expectIssues(
      fromAuditEvent(
        foreignEvent({
          action: undefined,
          entity: [
            {
              what: { reference: "Group/1" },
              detail: [{ type: "table_affected", valueString: "Bad Table" }],
            },
          ],
        }),
      ),
    );
    expect(issues.map((i) => i.path).sort()).toEqual([
      "AuditEvent.action",
      "AuditEvent.entity",
      "AuditEvent.entity.detail",
    ]);
  });
});

describe("operationOutcome", () => {
  test("turns issues into an OperationOutcome with error severity and expressions", () => {
    const issues = expectIssues(fromAuditEvent(foreignEvent({ action: "X", recorded: "never" })));
    const outcome = operationOutcome("invalid", issues);
    expect(outcome.resourceType).toBe("OperationOutcome");
    expect(outcome.issue).toHaveLength(issues.length);
    expect(outcome.issue).toEqual(
      expect.arrayContaining([
        {
          severity: "error",
          code: "invalid",
          diagnostics: expect.any(String),
          expression: ["AuditEvent.action"],
        },
        {
          severity: "error",
          code: "invalid",
          diagnostics: "must be an ISO 8601 date-time with a time zone",
          expression: ["AuditEvent.recorded"],
        },
      ]),
    );
  });

  test("leaves out the expression of an issue without a path", () => {
    expect(
      operationOutcome("security", [{ message: "A valid bearer token is required." }]),
    ).toEqual({
      resourceType: "OperationOutcome",
      issue: [
        {
          severity: "error",
          code: "security",
          diagnostics: "A valid bearer token is required.",
        },
      ],
    });
  });
});

describe("patient IDs that are not FHIR ids", () => {
  test.each(["MRN_100", "MRN 100", "100/2"])(
    "%s goes out as an identifier and comes back",
    (patientId) => {
      const event = overTheWire(toAuditEvent(view({ patientId }), { origin: ORIGIN }));
      expect(JSON.stringify(event)).not.toContain(`Patient/${patientId}`);
      const back = fromAuditEvent(event);
      expect(back.ok && back.inputs[0]!.patientId).toBe(patientId);
    },
  );
});
