import { spawnSync } from "node:child_process";
import path from "node:path";

/** Per test: every CLI call costs a Node start (about a second). */
export const CLI_TIMEOUT = 60_000;
const ROOT = path.resolve(import.meta.dirname, "..");

export type CliResult = { status: number | null; stdout: string; stderr: string };

/** Runs the real command line in a child process, as an operator would. */
export function runCli(args: string[], env: Record<string, string>): CliResult {
  const result = spawnSync(process.execPath, ["--import", "tsx", "cli/main.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: CLI_TIMEOUT - 5_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
