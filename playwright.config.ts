import { defineConfig, devices } from "@playwright/test";
import { E2E_PORT, TAMPER_PORT } from "./e2e/env";

const baseURL = `http://127.0.0.1:${E2E_PORT}`;

export default defineConfig({
  testDir: "e2e",
  outputDir: "test-results",
  // One worker: the tests share one server and one SQLite file.
  workers: 1,
  fullyParallel: false,
  forbidOnly: true,
  retries: 0,
  timeout: 60_000,
  reporter: [["list"]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-gpu",
        "--disable-dev-shm-usage",
      ],
    },
  },
  projects: [{ name: "chromium", use: { ...devices["Desktop Chrome"] } }],
  // Two servers, each with its own database: the tamper tests attack only theirs.
  webServer: [
    ["main", E2E_PORT],
    ["tamper", TAMPER_PORT],
  ].map(([name, port]) => ({
    command: `node --import tsx e2e/server.ts ${name}`,
    url: `http://127.0.0.1:${port}/login`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: "pipe" as const,
    stderr: "pipe" as const,
  })),
});
