import http from "node:http";
import { expect, test } from "@playwright/test";
import fc from "fast-check";
import { E2E_PORT } from "./env";
import { cli, login, newPatient, unique } from "./support";

const ORIGIN = `http://127.0.0.1:${E2E_PORT}`;
const EVIL = "https://evil.example";
const FORM = "application/x-www-form-urlencoded";

/** Sends `size` bytes with chunked transfer (no Content-Length); a reset rejects. */
function postChunked(path: string, headers: Record<string, string>, size: number) {
  return new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: E2E_PORT, path, method: "POST", headers });
    req.on("error", reject);
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("error", reject);
      res.on("end", () =>
        resolve({ status: res.statusCode!, type: res.headers["content-type"] ?? "", body }),
      );
    });
    const chunk = Buffer.alloc(16 * 1024, "a");
    let sent = 0;
    const write = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", write);
      }
      req.end();
    };
    write();
  });
}

test("no content type or body makes /login or /register fail with a 5xx", async ({ request }) => {
  const type = fc.oneof(
    fc.constantFrom(
      FORM,
      "multipart/form-data",
      "multipart/form-data; boundary=x",
      "application/json",
      "text/plain",
      "application/xml",
      "application/octet-stream",
      "",
    ),
    fc.stringMatching(/^[\x20-\x7e]{0,40}$/),
  );
  const body = fc.oneof(
    fc.string(),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("latin1")),
    fc.json(),
    fc
      .dictionary(fc.constantFrom("username", "password", "code", "userType", "name"), fc.string())
      .map((d) => new URLSearchParams(d).toString()),
    fc.string().map((s) => `--x\r\nContent-Disposition: form-data; name="username"\r\n\r\n${s}`),
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom("/login", "/register"), type, body, async (path, t, b) => {
      const response = await request.post(path, {
        headers: { Origin: ORIGIN, "Content-Type": t },
        data: Buffer.from(b, "latin1"),
        maxRedirects: 0,
      });
      expect(response.status(), `${path} ${JSON.stringify(t)} ${JSON.stringify(b)}`).toBeLessThan(
        500,
      );
    }),
    { numRuns: 250 },
  );
});

test("a wrong content type gets 415 with a page that says so", async ({ request }) => {
  const response = await request.post("/login", {
    headers: { Origin: ORIGIN },
    data: { username: "x", password: "y" },
  });
  expect(response.status()).toBe(415);
  expect(response.headers()["content-type"]).toMatch(/^text\/html/);
  expect(await response.text()).toContain("application/x-www-form-urlencoded");
});

test("a form from another origin gets 403, from our own it is handled", async ({ request }) => {
  for (const path of ["/login", "/register", "/logout"]) {
    const refused: Record<string, string>[] = [
      { Origin: EVIL },
      { Origin: "null" },
      { "Sec-Fetch-Site": "cross-site" },
      { Referer: `${EVIL}/attack` },
      {},
    ];
    for (const headers of refused) {
      const response = await request.post(path, { headers, form: { username: "x" } });
      expect(response.status(), `${path} ${JSON.stringify(headers)}`).toBe(403);
      expect(await response.text()).toContain("did not come from one of this site's pages");
    }
  }
  // Handled: a login form without the page's script carries no OPAQUE message, and is told so.
  const own = await request.post("/login", {
    headers: { Origin: ORIGIN },
    form: { username: unique("nobody"), password: "a wrong password" },
  });
  expect(own.status()).toBe(400);
  expect(await own.text()).toContain("Logging in needs JavaScript");
});

test("a cross-origin POST does not log the user out", async ({ page }) => {
  const account = await newPatient(page);
  await login(page, account);
  await expect(page).toHaveURL(/\/home$/);
  // page.request carries the browser's session cookie, as a forged form would.
  const forged = await page.request.post("/logout", {
    headers: { Origin: EVIL },
    form: {},
    maxRedirects: 0,
  });
  expect(forged.status()).toBe(403);
  await page.goto("/home");
  await expect(page.getByRole("heading", { name: `Welcome, ${account.name}` })).toBeVisible();

  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
});

test("a form body over 64 KiB gets 413, declared or chunked", async ({ request }) => {
  const declared = await request.post("/login", {
    headers: { Origin: ORIGIN },
    form: { username: "a".repeat(70 * 1024), password: "x" },
  });
  expect(declared.status()).toBe(413);
  expect(await declared.text()).toContain("at most 64 KiB");

  const chunked = await postChunked("/register", { Origin: ORIGIN, "Content-Type": FORM }, 3e6);
  expect(chunked.status).toBe(413);
  expect(chunked.body).toContain("at most 64 KiB");
});

test("an oversize chunked API body gets a JSON 413, not a reset", async () => {
  const token = cli("source", "add", unique("e2e-large"));
  const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
  const json = await postChunked("/api/audit-events", headers, 3 * 1024 * 1024);
  expect(json.status).toBe(413);
  expect(JSON.parse(json.body)).toMatchObject({ error: { code: "payload_too_large" } });

  const fhir = await postChunked("/api/fhir/AuditEvent", headers, 3 * 1024 * 1024);
  expect(fhir.status).toBe(413);
  expect(JSON.parse(fhir.body)).toMatchObject({ issue: [{ code: "too-costly" }] });
});
