import { describe, expect, test } from "vitest";
import { makeTestContext } from "../../tests/context";
import { sampleRecord } from "../../tests/trail";
import { auditor, patient } from "../../tests/users";
import { addSource } from "../models/source.server";
import * as ingestRoute from "../routes/api.fhir.AuditEvent";
import { startExport } from "../services/export.server";
import { auditFailedLogin, auditLogin, auditView } from "../services/trail-view.server";
import { appendRecords } from "../trail/append.server";
import { BALP_PROFILE } from "./codes.server";
import { callRoute, officialExamples, r4Errors } from "./validator.testing";

/** A trail holding every kind of event: with and without notes, self-audit, received FHIR. */
async function trailOfEveryKind() {
  const ctx = makeTestContext();
  await appendRecords(ctx, [
    sampleRecord(0, "MRN-1"),
    { ...sampleRecord(1, "MRN-1"), notes: "" },
    { ...sampleRecord(2, "MRN_2 odd id"), action: "query", notes: "" },
    { ...sampleRecord(3, "MRN-1"), action: "export" },
    { ...sampleRecord(4, "MRN-1"), purpose: "BTG" },
  ]);
  const viewer = patient("MRN-1");
  await auditLogin(ctx, viewer);
  await auditLogin(ctx, auditor);
  await auditFailedLogin(ctx, "nobody", null);
  await auditView(ctx, viewer, ["MRN-1"], "viewed 3 record(s)");
  const { token } = addSource(ctx, "fhir-ehr");
  const examples = officialExamples();
  for (const id of ["example-rest", "example-disclosure", "example-media", "example-pixQuery"]) {
    const stored = await callRoute(ctx, ingestRoute.action, token, {
      method: "POST",
      body: examples[id],
    });
    expect(stored.status).toBe(201);
  }
  return ctx;
}

async function exportBundle(ctx: Awaited<ReturnType<typeof trailOfEveryKind>>, viewer = auditor) {
  const started = await startExport(ctx, viewer, {}, "fhir");
  if (!started.ok) throw new Error(started.reason);
  return JSON.parse(await new Response(started.stream).text()) as {
    entry: { resource: Record<string, unknown> & { meta?: { profile?: string[] } } }[];
  };
}

describe("a FHIR export", () => {
  test("of a trail holding every kind of event is valid R4, with zero errors", async () => {
    const ctx = await trailOfEveryKind();
    await exportBundle(ctx); // the export itself is then on the trail, and in the next one
    const bundle = await exportBundle(ctx);
    expect(bundle.entry.length).toBeGreaterThanOrEqual(13);
    expect(r4Errors(bundle)).toEqual([]);
    for (const { resource } of bundle.entry) expect(r4Errors(resource)).toEqual([]);
    expect(JSON.stringify(bundle)).not.toContain('""');
  });

  test("names the BALP profile of each patient event, and the patient with type and role 1", async () => {
    const ctx = await trailOfEveryKind();
    const bundle = await exportBundle(ctx, patient("MRN-1"));
    const profiles = bundle.entry.flatMap((e) => e.resource.meta?.profile ?? []);
    expect(profiles).toEqual(
      expect.arrayContaining([BALP_PROFILE.read, BALP_PROFILE.query, BALP_PROFILE.update]),
    );
    const view = bundle.entry.find((e) =>
      e.resource.meta?.profile?.includes(BALP_PROFILE.query),
    )!.resource;
    expect(view).toMatchObject({
      type: { code: "rest" },
      action: "E",
      outcome: "0",
      agent: [
        { requestor: true, who: { identifier: { value: "user-MRN-1" } } },
        { requestor: false },
      ],
      source: {
        observer: { type: "Device", display: ctx.config.TRAIL_ORIGIN },
        type: [{ code: "4" }],
      },
      entity: [
        { what: { reference: "Patient/MRN-1" }, type: { code: "1" }, role: { code: "1" } },
        { role: { code: "24" }, query: expect.any(String) },
      ],
    });
  });

  test("gives the purpose of use as purposeOfEvent, and none where the source gave none", async () => {
    const ctx = await trailOfEveryKind();
    const bundle = await exportBundle(ctx);
    const purposes = bundle.entry
      .filter((e) => e.resource.purposeOfEvent)
      .map((e) => e.resource.purposeOfEvent);
    expect(purposes).toEqual(
      expect.arrayContaining([
        [
          {
            coding: [
              {
                system: "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                code: "BTG",
                display: "break the glass",
              },
            ],
          },
        ],
        [
          {
            coding: [
              {
                system: "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                code: "HMARKT",
                display: "healthcare marketing",
              },
            ],
          },
        ],
      ]),
    );
    expect(purposes).toHaveLength(2);
  });

  test("reports a failed login as a minor failure, and a login without a patient without one", async () => {
    const ctx = await trailOfEveryKind();
    const bundle = await exportBundle(ctx);
    const logins = bundle.entry
      .map((e) => e.resource)
      .filter((r) => (r.subtype as { code: string }[]).some((c) => c.code === "110122"));
    expect(logins.map((r) => r.outcome).sort()).toEqual(["0", "0", "4"]);
    for (const login of logins) expect(login.meta).toBeUndefined();
  });
});
