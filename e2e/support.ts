import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, type Page } from "@playwright/test";
import { E2E_ENV } from "./env";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Runs the real CLI against the end-to-end database and returns what it printed. */
export function cli(...args: string[]): string {
  return execFileSync(process.execPath, ["--import", "tsx", "cli/main.ts", ...args], {
    cwd: root,
    env: { ...process.env, ...E2E_ENV },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

export function inviteCode(role: "patient" | "auditor", patientId?: string): string {
  return cli("invite", role, ...(patientId ? ["--patient-id", patientId] : []));
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
  await page
    .getByLabel(options.role === "patient" ? "Patient" : "Audit company", { exact: true })
    .check();
  await page.getByLabel("Invitation code").fill(options.code);
  await page.getByLabel("Full name").fill(account.name);
  await page.getByLabel("Username").fill(account.username);
  await page.getByLabel("Password", { exact: true }).fill(account.password);
  await page.getByLabel("Confirm password").fill(account.password);
  await page.getByRole("button", { name: "Create account" }).click();
  return account;
}

export async function login(
  page: Page,
  account: { username: string; password: string },
  auditCompany = false,
) {
  await page.goto("/login");
  await page.getByLabel("Username").fill(account.username);
  await page.getByLabel("Password").fill(account.password);
  if (auditCompany) await page.getByLabel("Audit company login").check();
  await page.getByRole("button", { name: "Log in" }).click();
}

/** Registers a patient with a fresh code and returns the account. */
export async function newPatient(page: Page, patientId = unique("MRN")) {
  const account = await register(page, { role: "patient", code: inviteCode("patient", patientId) });
  await expect(page).toHaveURL(/\/login\?registered=1$/);
  return { ...account, patientId };
}
