import fs from "node:fs";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { E2E_ENV } from "./env";
import { cli, event, inviteCode, login, postEvents, register, unique } from "./support";

test("the auditor's dashboard opens today's encrypted totals beside the plain counts", async ({
  page,
  request,
}) => {
  // The demo's arrangement: the audit company's key pair sits in the server's KEYS_DIR.
  if (!fs.existsSync(path.join(E2E_ENV.KEYS_DIR, "paillier-private.json"))) {
    expect(cli("aggregate", "keygen")).toMatch(/^[0-9a-f]{64}$/);
  }
  await postEvents(request, [
    event(unique("MRN"), { action: "copy", table_affected: "imaging_reports" }),
    event(unique("MRN"), { action: "copy", table_affected: "imaging_reports" }),
  ]);
  const auditor = await register(page, { role: "auditor", code: inviteCode("auditor") });
  await login(page, auditor, true);
  await page.goto("/dashboard");
  const section = page.getByRole("region", { name: "Encrypted totals (Paillier), today" });
  await expect(section.getByRole("status")).toContainText(
    "every decrypted total matches the plain count",
  );
  const row = section.locator('tr[data-totals-row="table imaging_reports"]');
  const cells = row.locator("td.numeric");
  await expect(cells.nth(0)).toHaveText(/^\d+$/);
  expect(Number(await cells.nth(0).textContent())).toBeGreaterThanOrEqual(2);
  await expect(cells.nth(1)).toHaveText((await cells.nth(0).textContent())!);

  // The same session fetches the signed, encrypted counters; a fresh context without it cannot.
  const today = new Date().toISOString().slice(0, 10);
  const answer = await page.request.get(`/api/aggregates?from=${today}&to=${today}`);
  expect(answer.status()).toBe(200);
  const file = (await answer.json()) as { type: string; counters: { key: string }[] };
  expect(file.type).toBe("ehr-audit-trail/aggregates");
  expect(file.counters.map((c) => c.key)).toContain("imaging_reports");
  expect((await request.get(`/api/aggregates?from=${today}&to=${today}`)).status()).toBe(401);
});
