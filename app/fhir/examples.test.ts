import { describe, expect, test } from "vitest";
import { makeTestContext } from "../../tests/context";
import { addSource } from "../models/source.server";
import * as ingestRoute from "../routes/api.fhir.AuditEvent";
import * as readRoute from "../routes/api.fhir.AuditEvent.$id";
import { BALP_PROFILE, EXTENSION } from "./codes.server";
import { fromAuditEvent } from "./ingest.server";
import { callRoute, officialExamples, r4Errors } from "./validator.testing";

const EXAMPLES = officialExamples();
type Json = Record<string, unknown>;

function trailWithSource() {
  const ctx = makeTestContext();
  const { token } = addSource(ctx, "balp-ehr");
  const post = (body: unknown) =>
    callRoute(ctx, ingestRoute.action, token, { method: "POST", body });
  const read = (location: string) =>
    callRoute(ctx, readRoute.loader, token, { params: { id: location.split("/").pop()! } });
  return { post, read };
}

/** What a source sent, compared without the id the trail replaces. */
function withoutId(resource: Json): Json {
  const { id: _id, ...rest } = resource;
  return rest;
}

/** The read-back less the trail's id and seal, which is what the source sent. */
function asSent(readBack: Json): Json {
  const { id: _id, extension, ...rest } = readBack;
  const theirs = (extension as { url: string }[]).filter(
    (e) => !(Object.values(EXTENSION) as string[]).includes(e.url),
  );
  return theirs.length ? { ...rest, extension: theirs } : rest;
}

describe("the nine official R4 AuditEvent examples", () => {
  test("are valid R4 as published", () => {
    for (const example of Object.values(EXAMPLES)) expect(r4Errors(example)).toEqual([]);
  });

  test.each([
    ["example-rest", "example", "95", "read", "patient"],
    ["example-disclosure", "example", "SomeIdiot@nowhere", "export", "patient"],
    [
      "example-media",
      "e3cdfc81a0d24bd^^^&2.16.840.1.113883.4.2&ISO",
      "95",
      "export",
      "document_manifest",
    ],
    ["example-pixQuery", "e3cdfc81a0d24bd^^^&2.16.840.1.113883.4.2&ISO", "95", "query", "record"],
  ])(
    "%s is stored for its patient and its human requestor, and read back as sent",
    async (id, patientId, actorId, action, table) => {
      const example = EXAMPLES[id]!;
      expect(fromAuditEvent(example)).toMatchObject({
        ok: true,
        inputs: [{ patientId, actorId, action, tableAffected: table }],
      });
      const { post, read } = trailWithSource();
      const stored = await post(example);
      expect(stored.status).toBe(201);
      const back = await read(stored.headers.get("Location")!);
      expect(back.status).toBe(200);
      expect(r4Errors(back.json)).toEqual([]);
      expect(back.json.id).toBe(stored.headers.get("Location")!.split("/").pop());
      expect(asSent(back.json)).toEqual(withoutId(example));
      expect(back.json.extension).toContainEqual({
        url: EXTENSION.signature,
        valueBase64Binary: expect.any(String),
      });
    },
  );

  test.each(["example", "example-login", "example-logout", "example-search", "example-error"])(
    "%s names no patient and is refused in the product's words",
    async (id) => {
      const { post } = trailWithSource();
      const refused = await post(EXAMPLES[id]);
      expect(refused.status).toBe(400);
      expect(r4Errors(refused.json)).toEqual([]);
      expect(refused.json.issue).toEqual([
        {
          severity: "error",
          code: "invalid",
          diagnostics: expect.stringMatching(/^names no patient/),
          expression: ["AuditEvent.entity"],
        },
      ]);
    },
  );
});

const DCM = "http://dicom.nema.org/resources/ontology/DCM";
const patientEntity = (id: string) => ({
  what: { reference: `Patient/${id}` },
  type: { system: "http://terminology.hl7.org/CodeSystem/audit-entity-type", code: "1" },
  role: { system: "http://terminology.hl7.org/CodeSystem/object-role", code: "1" },
});

/** An event shaped as BALP's examples: a server Device, a client, and the user as requestor. */
function balpEvent(profile: "read" | "query", patients: string[]): Json {
  const read = profile === "read";
  return {
    resourceType: "AuditEvent",
    meta: { profile: [BALP_PROFILE[profile]] },
    type: { system: "http://terminology.hl7.org/CodeSystem/audit-event-type", code: "rest" },
    subtype: [
      { system: "http://hl7.org/fhir/restful-interaction", code: read ? "read" : "search-type" },
    ],
    action: read ? "R" : "E",
    recorded: "2026-10-29T09:49:00.000Z",
    outcome: "0",
    source: {
      site: "server.example.com",
      observer: { reference: "Device/ex-device" },
      type: [{ system: "http://terminology.hl7.org/CodeSystem/security-source-type", code: "4" }],
    },
    agent: [
      {
        type: { coding: [{ system: DCM, code: read ? "110153" : "110152" }] },
        requestor: false,
        who: { reference: "Device/ex-device" },
        network: { address: "http://server.example.com/fhir", type: "5" },
      },
      {
        type: { coding: [{ system: DCM, code: read ? "110152" : "110153" }] },
        requestor: false,
        who: { display: "myMachine.example.org" },
        network: { address: "2001:db8::7334", type: "2" },
      },
      {
        type: {
          coding: [
            { system: "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", code: "IRCP" },
          ],
        },
        who: { identifier: { value: "jsmith" }, display: "John Smith" },
        requestor: true,
      },
    ],
    entity: [
      ...patients.map(patientEntity),
      read
        ? {
            what: { reference: "List/ex-list" },
            type: { system: "http://terminology.hl7.org/CodeSystem/audit-entity-type", code: "2" },
            role: { system: "http://terminology.hl7.org/CodeSystem/object-role", code: "4" },
          }
        : {
            type: { system: "http://terminology.hl7.org/CodeSystem/audit-entity-type", code: "2" },
            role: { system: "http://terminology.hl7.org/CodeSystem/object-role", code: "24" },
            query: Buffer.from("Observation?patient=ex-patient").toString("base64"),
          },
    ],
  };
}

describe("BALP-shaped events", () => {
  test.each(["read", "query"] as const)(
    "a Patient%s event is stored and round-trips",
    async (profile) => {
      const event = balpEvent(profile, ["ex-patient"]);
      expect(r4Errors(event)).toEqual([]);
      expect(fromAuditEvent(event)).toMatchObject({
        ok: true,
        inputs: [
          {
            patientId: "ex-patient",
            actorId: "jsmith",
            actorName: "John Smith",
            action: profile,
            tableAffected: profile === "read" ? "list" : "record",
          },
        ],
      });
      const { post, read } = trailWithSource();
      const stored = await post(event);
      expect(stored.status).toBe(201);
      const back = await read(stored.headers.get("Location")!);
      expect(r4Errors(back.json)).toEqual([]);
      expect(asSent(back.json)).toEqual(event);
    },
  );

  test("a query about two patients is recorded once for each, in one batch", async () => {
    const { post, read } = trailWithSource();
    const stored = await post(balpEvent("query", ["pat-a", "pat-b", "pat-a"]));
    expect(stored.status).toBe(201);
    const ids = [
      ...String(stored.json.issue[0].diagnostics).matchAll(/AuditEvent\/([0-9a-f-]{36})/g),
    ];
    expect(ids).toHaveLength(2);
    for (const [, id] of ids) {
      const back = await read(`/api/fhir/AuditEvent/${id}`);
      expect(back.json).toMatchObject({
        id,
        entity: [patientEntity("pat-a"), patientEntity("pat-b"), patientEntity("pat-a"), {}],
      });
    }
  });

  test("a versioned or absolute Patient reference names the patient", () => {
    for (const reference of [
      "Patient/p-1/_history/3",
      "https://ehr.example.org/fhir/Patient/p-1",
    ]) {
      const event = { ...balpEvent("read", []), entity: [{ what: { reference } }] };
      expect(fromAuditEvent(event)).toMatchObject({ ok: true, inputs: [{ patientId: "p-1" }] });
    }
  });

  test("an event whose agents are all machines has no human requestor", async () => {
    const event = balpEvent("read", ["ex-patient"]);
    const machines = (event.agent as Json[]).slice(0, 2);
    const { post } = trailWithSource();
    const refused = await post({ ...event, agent: machines });
    expect(refused.status).toBe(400);
    expect(refused.json.issue).toEqual([
      expect.objectContaining({
        diagnostics: expect.stringMatching(/^no human requestor/),
        expression: ["AuditEvent.agent"],
      }),
    ]);
  });
});
