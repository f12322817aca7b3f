import { execFileSync } from "node:child_process";
import { expect, test, type Page } from "@playwright/test";
import { E2E_PORT } from "./env";
import { login, newPatient, unique } from "./support";

const WRONG = "Username-password combination is wrong for your user type";
const ORIGIN = `http://127.0.0.1:${E2E_PORT}`;

type Sent = { method: string; path: string; body: string };

/** Every request the page sends from now on, with its body. */
function recordRequests(page: Page): Sent[] {
  const sent: Sent[] = [];
  page.on("request", (request) =>
    sent.push({
      method: request.method(),
      path: new URL(request.url()).pathname,
      body: request.postData() ?? "",
    }),
  );
  return sent;
}

/** The forms in which a password could appear in a request body or URL. */
const spellings = (password: string) => [
  password,
  encodeURIComponent(password),
  new URLSearchParams({ p: password }).toString().slice(2),
  Buffer.from(password).toString("base64"),
  Buffer.from(password).toString("base64url"),
];

function expectAbsent(sent: Sent[], secrets: string[]) {
  for (const request of sent) {
    for (const secret of secrets) {
      expect(request.path + request.body, `${request.method} ${request.path}`).not.toContain(
        secret,
      );
    }
  }
}

test("registering and logging in in the browser never send the password, nor anything checkable offline", async ({
  page,
}) => {
  const registering = recordRequests(page);
  const account = await newPatient(page);
  const posts = registering.filter((r) => r.method === "POST");
  expect(posts.map((r) => r.path)).toEqual(["/register/start", "/register"]);
  expectAbsent(registering, spellings(account.password));
  const record = new URLSearchParams(posts[1]!.body).get("registrationRecord");
  expect(record).toMatch(/^[A-Za-z0-9_-]{256}$/);

  const loggingIn = recordRequests(page);
  await login(page, account);
  await expect(page).toHaveURL(/\/home$/);
  const loginPosts = loggingIn.filter((r) => r.method === "POST");
  expect(loginPosts.map((r) => r.path)).toEqual(["/login/start", "/login"]);
  // Neither the password nor the registration record (all the server stores, which with the
  // server's OPAQUE key would allow guessing), nor any argon2 hash.
  expectAbsent(loggingIn, [...spellings(account.password), record!, "argon2"]);
  expect(loginPosts.map((r) => [...new URLSearchParams(r.body).keys()].sort())).toEqual([
    ["startLoginRequest", "username"],
    ["finishLoginRequest", "loginId", "username"],
  ]);

  // The recorded finish, replayed, opens nothing.
  const replay = await page.request.post("/login", {
    headers: { Origin: ORIGIN, "Content-Type": "application/x-www-form-urlencoded" },
    data: loginPosts[1]!.body,
    maxRedirects: 0,
  });
  expect(replay.status()).toBe(401);
  expect(await replay.text()).toContain(WRONG);
});

test("a wrong password fails in the browser with the one message", async ({ page }) => {
  const account = await newPatient(page);
  await login(page, { ...account, password: "not the right passphrase" });
  await expect(page.getByRole("alert")).toHaveText(WRONG);
  await expect(page).toHaveURL(/\/login$/);
});

test("the browser checks a new password before making its record", async ({ page }) => {
  await page.goto("/register");
  await page.locator("form[data-opaque-ready]").waitFor();
  await page.getByLabel("Password", { exact: true }).fill("long enough passphrase");
  await page.getByLabel("Confirm password").fill("another passphrase");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByText("The passwords do not match.")).toBeVisible();
});

test("an account from before OPAQUE sends its password once, then logs in with OPAQUE", async ({
  page,
}) => {
  const account = { username: unique("legacy"), password: "an older account's passphrase" };
  execFileSync(process.execPath, [
    "--import",
    "tsx",
    "e2e/legacy-account.ts",
    account.username,
    account.password,
  ]);
  const moving = recordRequests(page);
  await login(page, account);
  await expect(page).toHaveURL(/\/home$/);
  const posts = moving.filter((r) => r.method === "POST");
  expect(posts.map((r) => r.path)).toEqual(["/login/start", "/login/upgrade", "/login"]);
  expect(new URLSearchParams(posts[1]!.body).get("password")).toBe(account.password);

  await page.getByRole("button", { name: "Log out" }).click();
  const after = recordRequests(page);
  await login(page, account);
  await expect(page).toHaveURL(/\/home$/);
  expect(after.filter((r) => r.method === "POST").map((r) => r.path)).toEqual([
    "/login/start",
    "/login",
  ]);
  expectAbsent(after, spellings(account.password));
});
