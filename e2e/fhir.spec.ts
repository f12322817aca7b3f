import fs from "node:fs";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { cli, inviteCode, login, register, unique } from "./support";

function auditEvent(patientId: string, overrides: Record<string, unknown> = {}) {
  return {
    resourceType: "AuditEvent",
    type: { system: "http://terminology.hl7.org/CodeSystem/audit-event-type", code: "rest" },
    action: "U",
    recorded: new Date(Date.now() - 60_000).toISOString(),
    agent: [
      { who: { identifier: { value: "E-FHIR-7" }, display: "Dr. Fhir Sender" }, requestor: true },
    ],
    source: { observer: { display: "external-ehr" } },
    entity: [{ what: { reference: `Patient/${patientId}` } }],
    ...overrides,
  };
}

let token: string;
test.beforeAll(() => {
  token = cli("source", "add", unique("fhir-source"));
});

test("an AuditEvent POSTed as FHIR shows up in the trail, verified", async ({ page, request }) => {
  const patientId = unique("MRN");
  const response = await request.post("/api/fhir/AuditEvent", {
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/fhir+json" },
    data: JSON.stringify(auditEvent(patientId)),
  });
  expect(response.status()).toBe(201);
  const location = response.headers()["location"]!;
  expect(location).toMatch(/^\/api\/fhir\/AuditEvent\/[0-9a-f-]{36}$/);
  const logId = location.split("/").pop()!;

  const read = await request.get(location, { headers: { Authorization: `Bearer ${token}` } });
  expect(read.status()).toBe(200);
  const stored = await read.json();
  expect(stored).toMatchObject({
    resourceType: "AuditEvent",
    id: logId,
    action: "U",
    entity: [{ what: { reference: `Patient/${patientId}` } }],
  });

  const auditor = await register(page, { role: "auditor", code: inviteCode("auditor") });
  await login(page, auditor, true);
  await page.goto(`/home?patient=${patientId}`);
  await expect(page.getByRole("status")).toContainText("Verified:");
  await expect(page.locator(`tr[data-log-id="${logId}"]`)).toContainText("Dr. Fhir Sender");
  await expect(page.locator(`tr[data-log-id="${logId}"]`)).toContainText("update");
  await page.goto(`/records/${logId}`);
  await expect(page.getByRole("status")).toContainText("included in checkpoint");
});

test("FHIR errors come back as OperationOutcome with the right status", async ({ request }) => {
  const auth = { Authorization: `Bearer ${token}`, "Content-Type": "application/fhir+json" };
  const noToken = await request.post("/api/fhir/AuditEvent", {
    headers: { "Content-Type": "application/fhir+json" },
    data: JSON.stringify(auditEvent("MRN-1")),
  });
  expect(noToken.status()).toBe(401);
  expect((await noToken.json()).resourceType).toBe("OperationOutcome");

  const invalid = await request.post("/api/fhir/AuditEvent", {
    headers: auth,
    data: JSON.stringify(
      auditEvent("MRN-1", { entity: [{ what: { reference: "Practitioner/9" } }] }),
    ),
  });
  expect(invalid.status()).toBe(400);
  const outcome = await invalid.json();
  expect(outcome.resourceType).toBe("OperationOutcome");
  expect(outcome.issue[0]).toMatchObject({
    severity: "error",
    code: "invalid",
    expression: ["AuditEvent.entity"],
  });

  const wrongType = await request.post("/api/fhir/AuditEvent", {
    headers: { ...auth, "Content-Type": "text/plain" },
    data: JSON.stringify(auditEvent("MRN-1")),
  });
  expect(wrongType.status()).toBe(415);
  expect((await wrongType.json()).issue[0].code).toBe("not-supported");

  const huge = await request.post("/api/fhir/AuditEvent", {
    headers: auth,
    data: JSON.stringify(auditEvent("MRN-1", { padding: "x".repeat(1024 * 1024 + 1) })),
  });
  expect(huge.status()).toBe(413);
  expect((await huge.json()).issue[0].code).toBe("too-costly");
});

const example = (name: string) =>
  JSON.parse(
    fs.readFileSync(
      path.resolve("../shared/test-vectors/fhir-r4-auditevent", `AuditEvent-${name}.json`),
      "utf8",
    ),
  ) as Record<string, unknown>;

test("an official R4 example is read back as sent; one without a patient is refused", async ({
  request,
}) => {
  const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/fhir+json" };
  const sent = example("example-pixQuery");
  const response = await request.post("/api/fhir/AuditEvent", {
    headers,
    data: JSON.stringify(sent),
  });
  expect(response.status()).toBe(201);
  const location = response.headers()["location"]!;
  const back = await (await request.get(location, { headers })).json();
  expect(back.id).toBe(location.split("/").pop());
  expect(back.agent).toEqual(sent.agent);
  expect(back.entity).toEqual(sent.entity);
  expect(back.subtype).toEqual(sent.subtype);

  const refused = await request.post("/api/fhir/AuditEvent", {
    headers,
    data: JSON.stringify(example("example-login")),
  });
  expect(refused.status()).toBe(400);
  expect((await refused.json()).issue[0]).toMatchObject({
    diagnostics: expect.stringMatching(/^names no patient/),
    expression: ["AuditEvent.entity"],
  });
});
