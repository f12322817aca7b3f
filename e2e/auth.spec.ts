import { expect, test } from "@playwright/test";
import { inviteCode, login, newPatient, register, unique } from "./support";

const WRONG = "Username-password combination is wrong for your user type";

test("a patient registers with an activation code, logs in, sees home and logs out", async ({
  page,
}) => {
  const account = await newPatient(page);
  await expect(page.getByRole("status")).toHaveText(
    "Your account has been created. You can log in now.",
  );
  await login(page, account);
  await expect(page).toHaveURL(/\/home$/);
  await expect(page.getByRole("heading", { name: `Welcome, ${account.name}` })).toBeVisible();
  await expect(page.getByText(`${account.name} · Patient`)).toBeVisible();

  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/home");
  await expect(page.getByRole("heading", { name: "Please log in" })).toBeVisible();
});

test("/home without a session shows an error and no records", async ({ page }) => {
  const response = await page.goto("/home");
  expect(response?.status()).toBe(401);
  await expect(page.getByRole("alert")).toContainText("You need to log in to see this page");
  await expect(page.getByRole("table")).toHaveCount(0);
  await page.goto("/home_page");
  await expect(page).toHaveURL(/\/home$/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
});

test("a wrong password and a wrong user type get the same message", async ({ page }) => {
  const account = await newPatient(page);
  await login(page, { ...account, password: "not the right password" });
  await expect(page.getByRole("alert")).toHaveText(WRONG);
  await expect(page.getByLabel("Password")).toHaveValue("");

  await login(page, account, true);
  await expect(page.getByRole("alert")).toHaveText(WRONG);
  await expect(page).toHaveURL(/\/login$/);

  await login(page, { username: unique("nobody"), password: "whatever it may be" });
  await expect(page.getByRole("alert")).toHaveText(WRONG);
});

test("an auditor needs an auditor invitation", async ({ page }) => {
  const patientCode = inviteCode("patient", unique("MRN"));
  const attempt = await register(page, { role: "auditor", code: patientCode });
  await expect(
    page.getByText("This code is for a patient account, not an audit company account."),
  ).toBeVisible();
  await expect(page.getByLabel("Password", { exact: true })).toHaveValue("");
  await expect(page.getByLabel("Invitation code")).toHaveValue("");

  await register(page, { role: "auditor", code: "", username: attempt.username });
  await expect(page.getByText("Enter the code from your invitation.")).toBeVisible();

  // Neither attempt made an account.
  await login(page, attempt, true);
  await expect(page.getByRole("alert")).toHaveText(WRONG);

  const auditor = await register(page, { role: "auditor", code: inviteCode("auditor") });
  await expect(page).toHaveURL(/\/login\?registered=1$/);
  await login(page, auditor, true);
  await expect(page.getByText("Signed in as Audit company")).toBeVisible();
});

test("repeated wrong passwords for one username are throttled", async ({ page }) => {
  const account = await newPatient(page);
  for (let i = 0; i < 5; i++) {
    await login(page, { ...account, password: `wrong password ${i}` });
    await expect(page.getByRole("alert")).toHaveText(WRONG);
  }
  const refused = page.waitForResponse((r) => r.request().method() === "POST");
  await login(page, account);
  expect((await refused).status()).toBe(429);
  await expect(page.getByRole("alert")).toContainText("Too many failed attempts");
  await expect(page).toHaveURL(/\/login$/);
});

test("logging in issues a fresh session; the old one stops working", async ({ page, context }) => {
  const account = await newPatient(page);
  await login(page, account);
  await expect(page).toHaveURL(/\/home$/);
  const first = (await context.cookies()).find((c) => c.name === "__session");
  expect(first).toMatchObject({ httpOnly: true, sameSite: "Lax" });

  await login(page, account);
  await expect(page).toHaveURL(/\/home$/);
  const second = (await context.cookies()).find((c) => c.name === "__session");
  expect(second?.value).not.toBe(first?.value);

  await context.clearCookies();
  await context.addCookies([{ ...first!, expires: -1 }]);
  const response = await page.goto("/home");
  expect(response?.status()).toBe(401);
});

test("every response carries the security headers", async ({ request }) => {
  const response = await request.get("/login");
  const headers = response.headers();
  expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(headers["content-security-policy"]).toMatch(/script-src 'self' 'nonce-[^']+'/);
  expect(headers["x-content-type-options"]).toBe("nosniff");
  expect(headers["referrer-policy"]).toBe("same-origin");
  expect(headers["x-frame-options"]).toBe("DENY");
});

test("the pages work at 375 px wide", async ({ page }) => {
  await page.setViewportSize({ width: 375, height: 740 });
  await page.goto("/register");
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  expect(overflow).toBe(0);
  await page.keyboard.press("Tab");
  await expect(page.getByRole("link", { name: "Skip to content" })).toBeFocused();
});
