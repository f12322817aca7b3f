import { expect, test } from "@playwright/test";
import { newPatient } from "./support";

// The e2e server trusts one proxy hop (TRUST_PROXY=1). A proxy appends the address it saw to
// X-Forwarded-For, so the client controls every entry but the last.
test("behind one proxy, a forged X-Forwarded-For entry does not change the client's address", async ({
  page,
  request,
  baseURL,
}) => {
  const account = await newPatient(page);
  const attacker = "203.0.113.7";
  const post = (forwardedFor: string, password: string) =>
    request.post("/login", {
      form: { username: account.username, password },
      // Posted as the login page would: from our own origin.
      headers: { "X-Forwarded-For": forwardedFor, Origin: baseURL! },
      maxRedirects: 0,
    });

  for (let i = 1; i <= 5; i++) {
    const wrong = await post(`198.18.0.${i}, ${attacker}`, `wrong password ${i}`);
    expect(wrong.status()).toBe(401);
  }
  // A fresh forged entry would make a fresh client if it were believed.
  const refused = await post(`198.18.0.99, ${attacker}`, account.password);
  expect(refused.status()).toBe(429);
  expect(Number(refused.headers()["retry-after"])).toBeGreaterThan(0);

  // The owner, behind the same proxy at another address, still gets in.
  const owner = await post("198.51.100.20", account.password);
  expect(owner.status()).toBe(302);
  expect(owner.headers()["location"]).toBe("/home");
});
