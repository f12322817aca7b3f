import fs from "node:fs";
import path from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { E2E_OUTPUT } from "./env";
import {
  cli,
  cliResult,
  event,
  inviteCode,
  login,
  newPatient,
  postEvents,
  register,
  shownLogIds,
  unique,
} from "./support";

const SCREENS = path.join(E2E_OUTPUT, "screens");

async function screenshots(page: Page, name: string) {
  fs.mkdirSync(SCREENS, { recursive: true });
  for (const width of [1280, 375]) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: path.join(SCREENS, `${name}-${width}.png`), fullPage: true });
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow, `${name} scrolls sideways at ${width}px`).toBe(0);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

async function newAuditor(page: Page) {
  const auditor = await register(page, { role: "auditor", code: inviteCode("auditor") });
  await login(page, auditor, true);
  await expect(page).toHaveURL(/\/home$/);
  return auditor;
}

test("an auditor filters to one patient and one action, pages, opens a record and its proof", async ({
  page,
  request,
}) => {
  const patientId = unique("MRN");
  const reads = Array.from({ length: 60 }, (_, i) =>
    event(patientId, {
      action: "read",
      notes: `read ${i}`,
      occurred_at: new Date(Date.now() - (i + 1) * 60_000).toISOString(),
    }),
  );
  const readIds = await postEvents(request, [
    ...reads,
    event(patientId, { action: "print" }),
    event(unique("MRN")),
  ]);
  await newAuditor(page);

  await page.getByLabel("Patient ID").fill(patientId);
  await page.getByLabel("Action").selectOption("read");
  await page.getByRole("button", { name: "Apply filters" }).click();
  await expect(page).toHaveURL(
    new RegExp(`action=read.*patient=${patientId}|patient=${patientId}.*action=read`),
  );
  const first = await shownLogIds(page);
  expect(first).toHaveLength(50);
  await expect(page.locator("tbody tr").filter({ hasNotText: patientId })).toHaveCount(0);
  await expect(page.locator("tbody tr").filter({ hasNotText: "read" })).toHaveCount(0);
  await screenshots(page, "home-filtered");

  await page.getByRole("link", { name: "Older records" }).click();
  const second = await shownLogIds(page);
  expect(second).toHaveLength(10);
  expect([...first, ...second].sort()).toEqual(readIds.slice(0, 60).sort());
  await expect(page.getByRole("link", { name: "Older records" })).toHaveCount(0);

  // The filtered view is a link: opening it again shows the same records.
  await page.goto(page.url());
  expect(await shownLogIds(page)).toEqual(second);

  await page.locator(`tr[data-log-id="${second[0]}"]`).getByRole("link").click();
  await expect(page).toHaveURL(new RegExp(`/records/${second[0]}$`));
  await expect(page.getByRole("status")).toContainText("included in checkpoint #");
  await expect(page.getByText(second[0]!)).toBeVisible();
  await expect(page.getByRole("heading", { name: "Inclusion proof" })).toBeVisible();
  await screenshots(page, "record-detail");
});

test("a bad filter gets a message on the page, not an error page", async ({ page }) => {
  const patient = await newPatient(page);
  await login(page, patient);
  const response = await page.goto("/home?from=2026-02-30&to=yesterday");
  expect(response?.status()).toBe(400);
  await expect(page.getByText("This is not a date.")).toBeVisible();
  await expect(page.getByText("Enter a date as YYYY-MM-DD.")).toBeVisible();
  await page.goto("/home?from=2026-05-02&to=2026-05-01");
  await expect(page.getByText("The end date is before the start date.")).toBeVisible();
  await expect(page.getByRole("table")).toHaveCount(0);
});

test("the dashboard charts the trail and lists unusual accesses with their rule", async ({
  page,
  request,
}) => {
  const night = new Date();
  night.setUTCHours(2, 30, 0, 0);
  if (night.getTime() > Date.now()) night.setUTCDate(night.getUTCDate() - 1);
  const [nightId, printId] = await postEvents(request, [
    event(unique("MRN"), { occurred_at: night.toISOString(), actor_name: "Night Owl" }),
    event(unique("MRN"), { action: "print", actor_name: "Printer Person" }),
  ]);
  await newAuditor(page);
  await page.getByRole("link", { name: "Open the dashboard" }).click();
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  const chart = page.getByRole("img", { name: /Accesses per day by action/ });
  await expect(chart).toBeVisible();
  await expect(chart.locator("rect").first()).toBeVisible();
  await expect(page.getByRole("heading", { name: "Top actors" })).toBeVisible();
  await expect(page.locator(`tr[data-log-id="${nightId}"]`)).toContainText("outside working hours");
  await expect(page.locator(`tr[data-log-id="${printId}"]`)).toContainText("delete, print or copy");
  await screenshots(page, "dashboard");
});

test("exports of a filtered view verify offline, and fail after one character changes", async ({
  page,
  request,
}) => {
  const patientId = unique("MRN");
  const ids = await postEvents(request, [
    event(patientId, { notes: 'with "quotes", commas\nand a new line' }),
    event(patientId, { action: "update" }),
  ]);
  await newAuditor(page);
  await page.goto(`/home?patient=${patientId}`);
  const dir = path.join(E2E_OUTPUT, "exports");
  fs.mkdirSync(dir, { recursive: true });
  for (const [label, ext] of [
    ["CSV", "csv"],
    ["FHIR Bundle", "json"],
  ] as const) {
    const download = page.waitForEvent("download");
    await page.getByRole("link", { name: label, exact: true }).click();
    const file = path.join(dir, `${patientId}.${ext}`);
    await (await download).saveAs(file);
    const content = fs.readFileSync(file, "utf8");
    for (const id of ids) expect(content).toContain(id);
    expect(cli("verify", "--export", file)).toContain("Result: OK");

    const edited = path.join(dir, `${patientId}-edited.${ext}`);
    fs.writeFileSync(edited, content.replace("update", "updatf"));
    const refused = cliResult("verify", "--export", edited);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toContain("EXPORT NOT VALID");
  }
  // Each export is itself on the trail.
  await page.goto(`/home?patient=${patientId}&action=export`);
  await expect(page.locator("tbody tr")).toHaveCount(2);
});

test("a patient reaches no other patient's data by any URL", async ({ page, request }) => {
  const victim = unique("MRN");
  const [victimRecord] = await postEvents(request, [event(victim, { notes: "victim's access" })]);
  const patient = await newPatient(page);
  const [ownRecord] = await postEvents(request, [event(patient.patientId)]);
  await login(page, patient);

  const missing = await page.goto(`/records/${crypto.randomUUID()}`);
  const missingText = await page.locator("main").innerText();
  const other = await page.goto(`/records/${victimRecord}`);
  expect(other?.status()).toBe(404);
  expect(missing?.status()).toBe(404);
  expect(await page.locator("main").innerText()).toBe(missingText);
  expect((await page.goto(`/records/${ownRecord}`))?.status()).toBe(200);

  await page.goto(`/home?patient=${victim}`);
  const shown = await shownLogIds(page);
  expect(shown).toContain(ownRecord);
  expect(shown).not.toContain(victimRecord);
  await expect(page.getByLabel("Patient ID")).toHaveCount(0);

  for (const format of ["csv", "fhir"]) {
    const response = await page.request.get(`/export/${format}?patient=${victim}`);
    expect(response.status()).toBe(200);
    const body = await response.text();
    expect(body).toContain(ownRecord!);
    expect(body).not.toContain(victimRecord!);
    expect(body).not.toContain(victim);
  }
  expect((await page.goto("/dashboard"))?.status()).toBe(404);
  const api = await page.request.get(`/api/fhir/AuditEvent/${victimRecord}`);
  expect(api.status()).toBe(401);
});
