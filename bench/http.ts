// Real HTTP against a real server: a server process per trail, OPAQUE logins as the browser runs them, and
// autocannon for load.
import { fork } from "node:child_process";
import path from "node:path";
import autocannon, { type Options, type Result } from "autocannon";
import { createInvitation } from "../app/models/invitation.server";
import { registerWithPassword } from "../app/services/enrol-with-password.server";
import type { AppContext } from "../app/context.server";
import { httpTransport, opaqueLogin } from "../tests/opaque-client";
import { PATIENTS, patientId, ROOT, trailEnv } from "./trail";

export type BenchServer = { url: string; stop: () => Promise<void> };

const running = new Set<ReturnType<typeof fork>>();
// Whatever happens to the benchmark, no server outlives it.
process.on("exit", () => {
  for (const child of running) child.kill();
});

/** Starts the real server (startServer) on 127.0.0.1, port 0, in a process of its own. */
export function startBenchServer(name: string): Promise<BenchServer> {
  const child = fork(path.join(ROOT, "bench/server-child.ts"), [], {
    execArgv: ["--import", "tsx"],
    env: trailEnv(name),
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.connected) child.send("stop");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
      running.delete(child);
    })());
  return new Promise((resolve, reject) => {
    child.once("message", (message: { url: string }) => resolve({ url: message.url, stop }));
    child.once("exit", (code) => reject(new Error(`the ${name} server exited (${code})`)));
  });
}

export const username = (n: number) => `bench-patient-${n}`;
const password = (n: number) => `bench-password-${n}-long-enough`;

/** Creates the measured patients' accounts through the invitation and registration flow. */
export async function createPatients(ctx: AppContext): Promise<void> {
  for (let n = 0; n < PATIENTS; n++) {
    const invitation = createInvitation(ctx, { role: "patient", patientId: patientId(n) });
    const result = await registerWithPassword(ctx, {
      name: `Bench Patient ${n}`,
      username: username(n),
      password: password(n),
      confirmPassword: password(n),
      userType: "patient",
      code: invitation.code,
    });
    if (!result.ok) throw new Error(`bench patient ${n}: ${JSON.stringify(result.errors)}`);
  }
}

/** Logs patient `n` in as the login page's script would (OPAQUE); returns the session cookie. */
export async function login(url: string, n: number): Promise<string> {
  const attempt = await opaqueLogin(httpTransport(url), {
    username: username(n),
    password: password(n),
  });
  const response = attempt.step === "finish" ? attempt.result : null;
  const cookie = response?.headers.get("set-cookie")?.split(";")[0];
  if (response?.status !== 302 || !cookie?.startsWith("__session=")) {
    throw new Error(`login of ${username(n)} failed at its ${attempt.step} step`);
  }
  return cookie;
}

/** GET /home with a session; throws unless it shows the patient's records. */
export async function home(url: string, cookie: string): Promise<void> {
  const response = await fetch(`${url}/home`, { headers: { Cookie: cookie } });
  const page = await response.text();
  if (response.status !== 200 || !page.includes("Bench Patient")) {
    throw new Error(`/home answered ${response.status}`);
  }
}

/** One autocannon run; throws when any request failed. */
export async function load(options: Options): Promise<Result> {
  const result = await autocannon({ timeout: 60, ...options });
  if (result.errors || result.timeouts || result.non2xx) {
    throw new Error(
      `${options.url}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx answers`,
    );
  }
  return result;
}

/** Requests per second of `path` with `connections`, each request with the next cookie. */
export async function throughput(
  url: string,
  path: string,
  connections: number,
  seconds: number,
  cookies: string[] = [],
): Promise<Result> {
  let next = 0;
  const request = cookies.length
    ? {
        setupRequest: (req: { headers?: Record<string, string> }) => ({
          ...req,
          path,
          headers: { ...req.headers, cookie: cookies[next++ % cookies.length]! },
        }),
      }
    : { path };
  await load({ url, connections, duration: Math.min(2, seconds), requests: [request] }); // warm
  return load({ url, connections, duration: seconds, requests: [request] });
}
