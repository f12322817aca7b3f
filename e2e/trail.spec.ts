import { expect, test } from "@playwright/test";
import {
  inviteCode,
  login,
  newPatient,
  postEvents,
  register,
  shownLogIds,
  unique,
  event,
} from "./support";

test("a patient sees exactly their own records, an auditor sees everyone's", async ({
  page,
  request,
}) => {
  const alice = await newPatient(page);
  const bobPatientId = unique("MRN");
  const aliceIds = await postEvents(request, [
    event(alice.patientId, { action: "read", table_affected: "medications" }),
    event(alice.patientId, { action: "print", table_affected: "lab_results" }),
  ]);
  const bobIds = await postEvents(request, [event(bobPatientId, { action: "update" })]);

  await login(page, alice);
  await expect(page.getByRole("status")).toContainText(
    /Verified: \d+ records · checkpoint #\d+ signed/,
  );
  const shown = await shownLogIds(page);
  expect(shown).toEqual(expect.arrayContaining(aliceIds));
  expect(shown.filter((id) => bobIds.includes(id))).toEqual([]);
  // Everything shown is about Alice: her accesses and her own login, nothing else.
  const rows = page.locator("tbody tr");
  await expect(rows.filter({ hasText: "medications" })).toHaveCount(1);
  await expect(page.getByRole("columnheader", { name: "Patient" })).toHaveCount(0);

  const auditor = await register(page, { role: "auditor", code: inviteCode("auditor") });
  await login(page, auditor, true);
  await expect(page.getByText("Signed in as Audit company")).toBeVisible();
  const all = await shownLogIds(page);
  expect(all).toEqual(expect.arrayContaining([...aliceIds, ...bobIds]));
  await expect(page.locator(`tr[data-log-id="${bobIds[0]}"]`)).toContainText(bobPatientId);

  // The auditor's view is itself on Alice's trail.
  await login(page, alice);
  const auditorQuery = page
    .locator("tbody tr", { hasText: auditor.name })
    .filter({ hasText: "query" });
  await expect(auditorQuery.first()).toBeVisible();
});

test("logins and failed logins are recorded on the trail", async ({ page }) => {
  const patient = await newPatient(page);
  await login(page, { ...patient, password: "definitely not it" });
  await login(page, patient);
  await expect(page.locator("tbody tr", { hasText: "failed login attempt" })).toHaveCount(1);
  await expect(page.locator("tbody tr", { hasText: "successful login" })).toHaveCount(1);
});

test("the records page works at 375 px wide without the page scrolling sideways", async ({
  page,
  request,
}) => {
  const patient = await newPatient(page);
  await postEvents(request, [event(patient.patientId, { notes: "a long note ".repeat(20) })]);
  await page.setViewportSize({ width: 375, height: 800 });
  await login(page, patient);
  await expect(page.getByRole("table")).toBeVisible();
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  expect(overflow).toBe(0);
  await page.screenshot({ path: "test-results/screens/home-375.png", fullPage: true });
});
