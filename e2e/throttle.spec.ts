import { expect, test } from "@playwright/test";
import { apiLogin, newPatient } from "./support";

// The e2e server trusts one proxy hop (TRUST_PROXY=1). A proxy appends the address it saw to
// X-Forwarded-For, so the client controls every entry but the last.
test("behind one proxy, a forged X-Forwarded-For entry does not change the client's address", async ({
  page,
  request,
}) => {
  const account = await newPatient(page);
  const attacker = "203.0.113.7";
  // Logs in as the login page's script does (OPAQUE), through the proxy.
  const attempt = (forwardedFor: string, password: string) =>
    apiLogin(
      request,
      { username: account.username, password },
      { "X-Forwarded-For": forwardedFor },
    );

  for (let i = 1; i <= 5; i++) {
    const wrong = await attempt(`198.18.0.${i}, ${attacker}`, `wrong password ${i}`);
    expect(wrong.step === "finish" && wrong.result.status()).toBe(401);
  }
  // A fresh forged entry would make a fresh client if it were believed.
  const refused = await attempt(`198.18.0.99, ${attacker}`, account.password);
  expect(refused.step === "start" && refused.answer.status).toBe(429);
  expect(
    Number(refused.step === "start" && refused.answer.headers.get("retry-after")),
  ).toBeGreaterThan(0);

  // The owner, behind the same proxy at another address, still gets in.
  const owner = await attempt("198.51.100.20", account.password);
  if (owner.step !== "finish") throw new Error(`the owner's login stopped at ${owner.step}`);
  expect(owner.result.status()).toBe(302);
  expect(owner.result.headers()["location"]).toBe("/home");
});
