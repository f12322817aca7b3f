import { execFile, execFileSync, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, type APIRequestContext, type Page } from "@playwright/test";
import { opaqueLogin } from "../tests/opaque-client";
import { E2E_ENV, E2E_PORT, type ServerEnv } from "./env";

const ORIGIN = `http://127.0.0.1:${E2E_PORT}`;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Runs the real CLI against an end-to-end server's database and returns what it printed. */
export function cliFor(env: ServerEnv, ...args: string[]): string {
  return execFileSync(process.execPath, ["--import", "tsx", "cli/main.ts", ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

export const cli = (...args: string[]) => cliFor(E2E_ENV, ...args);

/** The CLI without blocking this process: for commands that mail a server the test runs. */
export function cliAsync(env: ServerEnv, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "cli/main.ts", ...args],
      { cwd: root, env: { ...process.env, ...env }, encoding: "utf8" },
      (error, stdout) => (error ? reject(error) : resolve(stdout.trim())),
    );
  });
}

/** Runs the CLI and returns its exit code and output, whether or not it failed. */
export function cliResult(...args: string[]): { status: number | null; stdout: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", "cli/main.ts", ...args], {
    cwd: root,
    env: { ...process.env, ...E2E_ENV },
    encoding: "utf8",
  });
  return { status: result.status, stdout: result.stdout };
}

export function inviteCode(
  role: "patient" | "auditor",
  patientId?: string,
  env: ServerEnv = E2E_ENV,
): string {
  return cliFor(env, "invite", role, ...(patientId ? ["--patient-id", patientId] : []));
}

/** An access event as a source system would send it. */
export function event(patientId: string, overrides: Record<string, unknown> = {}) {
  return {
    patient_id: patientId,
    actor_id: "E-2001",
    actor_name: "Dr. Test Clinician",
    action: "read",
    table_affected: "lab_results",
    occurred_at: new Date(Date.now() - 3_600_000).toISOString(),
    notes: "e2e access",
    ...overrides,
  };
}

/** Posts events through the real API with a fresh source token; returns their log ids. */
export async function postEvents(
  request: APIRequestContext,
  events: Record<string, unknown>[],
  env: ServerEnv = E2E_ENV,
): Promise<string[]> {
  const token = cliFor(env, "source", "add", unique("e2e-source"));
  const response = await request.post("/api/audit-events", {
    headers: { Authorization: `Bearer ${token}` },
    data: { records: events },
  });
  expect(response.status()).toBe(201);
  const body = (await response.json()) as { records: { log_id: string }[] };
  return body.records.map((r) => r.log_id);
}

/** The log ids of the records shown on the current page. */
export async function shownLogIds(page: Page): Promise<string[]> {
  return page
    .locator("tbody tr[data-log-id]")
    .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-log-id") ?? ""));
}

export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export type Account = { name: string; username: string; password: string };

export async function register(
  page: Page,
  options: { role: "patient" | "auditor"; code: string; name?: string; username?: string },
): Promise<Account> {
  const account = {
    name: options.name ?? `Test ${options.role}`,
    username: options.username ?? unique(options.role),
    password: "a long enough test passphrase",
  };
  await page.goto("/register");
  await opaqueReady(page);
  await page
    .getByLabel(options.role === "patient" ? "Patient" : "Audit company", { exact: true })
    .check();
  await page.getByLabel("Invitation code").fill(options.code);
  await page.getByLabel("Full name").fill(account.name);
  await page.getByLabel("Username").fill(account.username);
  await page.getByLabel("Password", { exact: true }).fill(account.password);
  await page.getByLabel("Confirm password").fill(account.password);
  await submitThroughScript(page, "Create account");
  return account;
}

/** Waits until the page's script has taken over its form and loaded the OPAQUE client. */
export async function opaqueReady(page: Page): Promise<void> {
  await page.locator("form[data-opaque-ready]").waitFor();
}

/** Logs in over HTTP as the login page's script does, with `request`'s cookies and headers. */
export async function apiLogin(
  request: APIRequestContext,
  login: { username: string; password: string; auditCompany?: boolean },
  headers: Record<string, string> = {},
) {
  const post = (path: string, fields: Record<string, string>) =>
    request.post(path, { form: fields, headers: { Origin: ORIGIN, ...headers }, maxRedirects: 0 });
  return opaqueLogin(
    {
      json: async (path, fields) => {
        const response = await post(path, fields);
        const body = (await response.json().catch(() => ({}))) as Record<string, string>;
        return { status: response.status(), headers: new Headers(response.headers()), body };
      },
      finish: (fields) => post("/login", fields),
    },
    login,
  );
}

export async function login(
  page: Page,
  account: { username: string; password: string },
  auditCompany = false,
) {
  await page.goto("/login");
  await opaqueReady(page);
  await page.getByLabel("Username").fill(account.username);
  await page.getByLabel("Password").fill(account.password);
  if (auditCompany) await page.getByLabel("Audit company login").check();
  await submitThroughScript(page, "Log in");
}

/**
 * Clicks the form's button and waits until the page's OPAQUE exchange has ended in the form's
 * POST and the page it leads to has loaded, or in a refusal the script shows (a throttled start).
 */
async function submitThroughScript(page: Page, button: string): Promise<void> {
  const navigated = page.waitForEvent("framenavigated", {
    predicate: (frame) => frame === page.mainFrame(),
  });
  const refused = page.getByRole("alert").waitFor();
  await page.getByRole("button", { name: button }).click();
  await Promise.race([navigated.then(() => page.waitForLoadState("load")), refused]);
  navigated.catch(() => undefined);
  refused.catch(() => undefined);
}

/** Registers a patient with a fresh code and returns the account. */
export async function newPatient(page: Page, patientId = unique("MRN"), env: ServerEnv = E2E_ENV) {
  const account = await register(page, {
    role: "patient",
    code: inviteCode("patient", patientId, env),
  });
  await expect(page).toHaveURL(/\/login\?registered=1$/);
  return { ...account, patientId };
}
