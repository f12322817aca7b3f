import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { E2E_OUTPUT, E2E_PORT, type ServerEnv } from "./env";

// Real processes for history-check.spec.ts: C2SP witnesses (witness/main.ts) and a trail server
// (server/start.ts) that a test can stop and start again on the same port, so the browser keeps
// the same origin and localStorage. Every process started here is stopped by stopAll().

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const running = new Set<ChildProcess>();

/** The history tests' own port, beside the main (E2E_PORT) and tamper (E2E_PORT + 1) servers. */
export const HISTORY_PORT = E2E_PORT + 7;
export const HISTORY_ORIGIN = "history-e2e.hospital.test";

/** A trail server's environment in its own folder under e2e/.output. */
export function historyEnv(dir: string): ServerEnv & { TRAIL_ORIGIN: string; WITNESSES?: string } {
  return {
    NODE_ENV: "production",
    HOST: "127.0.0.1",
    PORT: String(HISTORY_PORT),
    DATABASE_PATH: path.join(dir, "trail", "e2e.db"),
    KEYS_DIR: path.join(dir, "trail", "keys"),
    OUTBOX_DIR: path.join(dir, "outbox"),
    COOKIE_SECURE: "false",
    LOGIN_MAX_FAILURES_PER_ADDRESS: "1000",
    TRUST_PROXY: "1",
    ADMIN_EMAILS: "security@hospital.test",
    ALERT_FROM: "audit-trail@hospital.test",
    TRAIL_ORIGIN: HISTORY_ORIGIN,
  };
}

export const historyDir = (name: string) => path.join(E2E_OUTPUT, `history-${name}`);

/** Stops one process: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
async function stop(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  }
  running.delete(child);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => stop(child)));
}

/** Spawns `node --import tsx <args>` and resolves once its output matches every pattern. */
function startProcess(args: string[], env: NodeJS.ProcessEnv, patterns: RegExp[]) {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let out = "";
  return new Promise<{ child: ChildProcess; out: string }>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (patterns.every((p) => p.test(out))) resolve({ child, out });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.once("exit", (code) => {
      running.delete(child);
      reject(new Error(`${args.join(" ")} exited with ${code}: ${out}`));
    });
  });
}

export type Witness = { entry: string; stop: () => Promise<void> };

/** A witness in `dir` that trusts the log `origin` signed by `logVkey`, on a free port. */
export async function startWitness(dir: string, origin: string, logVkey: string): Promise<Witness> {
  const witness = ["witness/main.ts"];
  const trust = spawnSync(
    process.execPath,
    ["--import", "tsx", ...witness, "trust", "--data", dir, "--origin", origin, "--vkey", logVkey],
    { cwd: root, encoding: "utf8" },
  );
  if (trust.status !== 0) throw new Error(`witness trust failed: ${trust.stderr}`);
  const { child, out } = await startProcess(
    [...witness, "serve", "--data", dir, "--port", "0", "--host", "127.0.0.1"],
    process.env,
    [/^vkey \S+$/m, /^url http:\/\/\S+$/m],
  );
  const vkey = /^vkey (\S+)$/m.exec(out)![1]!;
  const url = /^url (http:\/\/\S+)$/m.exec(out)![1]!;
  return { entry: `${vkey}@${url}`, stop: () => stop(child) };
}

export type Trail = { stop: () => Promise<void> };

/** A trail server (server/start.ts) with `env`; resolves once it listens. */
export async function startTrail(env: Record<string, string>): Promise<Trail> {
  const { child } = await startProcess(["server/start.ts"], { ...process.env, ...env }, [
    /listening on http/,
  ]);
  return { stop: () => stop(child) };
}
