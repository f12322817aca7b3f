import fs from "node:fs";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { E2E_OUTPUT } from "./env";
import { cli, event, login, newPatient, postEvents, shownLogIds, unique } from "./support";

const YEAR = 365 * 86_400_000;

test("a patient sees why each access happened, emergencies marked, the last 12 months by default", async ({
  page,
  request,
}) => {
  const patient = await newPatient(page, unique("MRN"));
  const [treat, btg, none, old] = await postEvents(request, [
    event(patient.patientId, { purpose_of_use: "TREAT", actor_name: "Dr. Routine" }),
    event(patient.patientId, { purpose_of_use: "BTG", actor_name: "Dr. Emergency" }),
    event(patient.patientId, { actor_name: "Dr. Silent" }),
    event(patient.patientId, {
      purpose_of_use: "HPAYMT",
      actor_name: "Billing Office",
      occurred_at: new Date(Date.now() - 2 * YEAR).toISOString(),
    }),
  ]);
  await login(page, patient);
  await expect(page).toHaveURL(/\/home$/);

  await expect(page.getByText("Showing the last 12 months, since")).toBeVisible();
  const shown = await shownLogIds(page);
  expect(shown).toEqual(expect.arrayContaining([treat, btg, none]));
  expect(shown).not.toContain(old);

  const row = (logId: string) => page.locator(`tr[data-log-id="${logId}"]`);
  await expect(row(treat!)).toContainText("Treatment");
  await expect(row(none!)).toContainText("Not given");
  await expect(row(btg!)).toContainText("Emergency access (break the glass)");
  await expect(row(btg!).locator(".badge-emergency")).toHaveText(/Emergency access/);
  await expect(row(treat!).locator(".badge-emergency")).toHaveCount(0);
  for (const width of [1280, 375]) {
    await page.setViewportSize({ width, height: 900 });
    fs.mkdirSync(path.join(E2E_OUTPUT, "screens"), { recursive: true });
    await page.screenshot({ path: path.join(E2E_OUTPUT, "screens", `home-purpose-${width}.png`) });
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow, `the patient's home scrolls sideways at ${width}px`).toBe(0);
  }
  await page.setViewportSize({ width: 1280, height: 900 });

  // The filter widens the view: every access, the two-year-old one among them.
  await page.getByRole("link", { name: "show all accesses" }).click();
  await expect(page.getByText("Showing the last 12 months")).toHaveCount(0);
  await expect(row(old!)).toContainText("Payment for care");

  // The record's own page gives the purpose in words and its HL7 code.
  await page.goto(`/records/${btg}`);
  const why = page.locator("dd").filter({ hasText: "break the glass" });
  await expect(why).toContainText("Emergency access");
  await expect(why).toContainText("HL7 code BTG");
});

test("an unknown purpose of use is refused by the API with the field named", async ({
  request,
}) => {
  const token = cli("source", "add", unique("e2e-source"));
  const response = await request.post("/api/audit-events", {
    headers: { Authorization: `Bearer ${token}` },
    data: event(unique("MRN"), { purpose_of_use: "CURIOSITY" }),
  });
  expect(response.status()).toBe(400);
  const body = (await response.json()) as { error: { fields: Record<string, string> } };
  expect(Object.keys(body.error.fields)).toEqual(["purpose_of_use"]);
});
