import { expect, test } from "@playwright/test";
import { event, inviteCode, login, newPatient, postEvents, register } from "./support";

// Three accounts register and log in (argon2id each time) on a busy machine.
test.setTimeout(120_000);

test("a patient asks why about an access, an auditor answers, the patient reads the answer; another patient sees nothing", async ({
  page,
  request,
}) => {
  const alice = await newPatient(page);
  const bob = await newPatient(page);
  const [accessId] = await postEvents(request, [
    event(alice.patientId, { actor_name: "Dr. Curious", table_affected: "medications" }),
  ]);
  const question = `Why did Dr. Curious open my medications? ${Date.now()}`;
  const answer = "Dr. Curious prepared your repeat prescription.";

  await login(page, alice);
  await page.goto(`/records/${accessId}`);
  await expect(page.getByText("No questions have been asked about it.")).toBeVisible();
  await page.getByLabel("Ask why").fill(question);
  await page.getByRole("button", { name: "Ask the auditors" }).click();
  await expect(page.getByText(question)).toBeVisible();
  await expect(page.getByText("Waiting for an answer from the auditors.")).toBeVisible();
  await expect(page.getByLabel("Ask why")).toHaveCount(0);

  const auditor = await register(page, { role: "auditor", code: inviteCode("auditor") });
  await login(page, auditor, true);
  await page.getByRole("link", { name: "Questions" }).click();
  const open = page.getByRole("list", { name: "Open questions" }).locator("li", {
    hasText: question,
  });
  await expect(open).toContainText("Dr. Curious");
  await expect(open).toContainText(alice.patientId);
  const caseId = (await open.getAttribute("data-case-id"))!;
  await open.getByLabel("Answer").fill(answer);
  await open.getByRole("button", { name: "Send the answer" }).click();
  const answered = page.getByRole("list", { name: "Answered questions" }).locator("li", {
    hasText: question,
  });
  await expect(answered).toContainText(answer);
  await expect(page.getByRole("list", { name: "Open questions" })).not.toContainText(question);

  // Bob reaches neither Alice's record, nor the case, nor the queue.
  await login(page, bob);
  for (const path of [`/records/${accessId}`, `/records/${caseId}`]) {
    const response = await page.goto(path);
    expect(response?.status()).toBe(404);
    await expect(page.getByRole("heading", { name: "Record not found" })).toBeVisible();
    await expect(page.getByText(question)).toHaveCount(0);
  }
  expect((await page.goto("/cases"))?.status()).toBe(404);
  await page.goto("/home");
  await expect(page.getByText(question)).toHaveCount(0);
  await expect(page.getByText(answer)).toHaveCount(0);

  await login(page, alice);
  await page.goto(`/records/${accessId}`);
  await expect(page.getByText(answer)).toBeVisible();
  await expect(page.getByText(`Answered by ${auditor.name}`)).toBeVisible();
  // On her list, the question and the answer show as records, labelled.
  await page.goto("/home");
  await expect(page.locator("tbody tr", { hasText: "ask_why" })).toContainText(question);
  await expect(page.locator("tbody tr", { hasText: "answer_why" })).toContainText(answer);
});

test("a patient sets an address for notices and is told to confirm it first", async ({ page }) => {
  const alice = await newPatient(page);
  await login(page, alice);
  await page.getByRole("link", { name: "Notices" }).click();
  await expect(page.getByText("No address is confirmed: you get no notices.")).toBeVisible();
  await page.getByLabel("E-mail address").fill("not an address");
  await page.getByLabel("E-mail address").evaluate((el) => el.removeAttribute("type"));
  await page.getByRole("button", { name: "Send a confirmation link" }).click();
  await expect(page.getByRole("alert")).toHaveText("Enter a valid e-mail address.");
  await page.getByLabel("E-mail address").fill("alice@example.test");
  await page.getByRole("button", { name: "Send a confirmation link" }).click();
  await expect(page.getByRole("status")).toContainText("A confirmation link is on its way");
  await expect(page.getByText("A confirmation link was sent to alice@example.test.")).toBeVisible();
  const response = await page.goto("/notices/confirm?token=forged-token-forged-token");
  expect(response?.status()).toBe(200);
  await page.getByRole("button", { name: "Confirm" }).click();
  await expect(page.getByRole("alert")).toContainText("This confirmation link is not valid");
});
