// Ingest as sources and operators see it: 1000-record batches over HTTP, the CLI's import, and
// what a batch does to everyone else's GET /login.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { Result } from "autocannon";
import { load } from "./http";
import { BATCH, mean, ROOT, trailEnv, WORK, wireEvent } from "./trail";

/** Request bodies of BATCH events each, built before anything is timed. */
export function batchBodies(count: number, from: number): string[] {
  return Array.from({ length: count }, (_, b) =>
    JSON.stringify({
      records: Array.from({ length: BATCH }, (_, j) => wireEvent(from + b * BATCH + j, 1e9)),
    }),
  );
}

async function post(url: string, token: string, body: string): Promise<void> {
  const response = await fetch(`${url}/api/audit-events`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body,
  });
  await response.arrayBuffer();
  if (response.status !== 201) throw new Error(`POST /api/audit-events: ${response.status}`);
}

/** Posts `bodies` from `concurrency` clients at once, until all are stored or `until` says stop. */
async function postAll(
  url: string,
  token: string,
  bodies: string[],
  concurrency: number,
  until: () => boolean = () => false,
): Promise<number> {
  let next = 0;
  let stored = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!until() && next < bodies.length) {
        await post(url, token, bodies[next++]!);
        stored += BATCH;
      }
    }),
  );
  return stored;
}

/** Records per second stored through POST /api/audit-events, `concurrency` batches at a time. */
export async function apiIngest(
  url: string,
  token: string,
  bodies: string[],
  concurrency: number,
): Promise<number> {
  await post(url, token, bodies[0]!); // warm: not measured
  const started = performance.now();
  const stored = await postAll(url, token, bodies.slice(1), concurrency);
  return stored / ((performance.now() - started) / 1000);
}

const loginLoad = (url: string, seconds: number) =>
  load({ url: `${url}/login`, connections: 4, overallRate: 40, duration: seconds });

export type LoginLatency = { idleP99: number; busyP99: number; busyP50: number; stored: number };

/**
 * GET /login at a steady 40 requests/s, idle and while batches are being stored, alternated in
 * two rounds each so that load elsewhere on the machine hits both alike; p99s are the rounds' mean.
 */
export async function loginUnderIngest(
  url: string,
  token: string,
  bodies: string[],
  seconds: number,
): Promise<LoginLatency> {
  await loginLoad(url, 1); // warm
  const idle: Result[] = [];
  const busy: Result[] = [];
  let stored = 0;
  let next = 0;
  for (let round = 0; round < 2; round++) {
    idle.push(await loginLoad(url, Math.ceil(seconds / 2)));
    let done = false;
    const posting = postAll(url, token, bodies.slice(next), 2, () => done);
    busy.push(await loginLoad(url, Math.ceil(seconds / 2)).finally(() => (done = true)));
    const posted = await posting;
    next += posted / BATCH;
    stored += posted;
    if (posted < BATCH) throw new Error("no batch was stored while GET /login was measured");
  }
  return {
    idleP99: mean(idle.map((r) => r.latency.p99)),
    busyP99: mean(busy.map((r) => r.latency.p99)),
    busyP50: mean(busy.map((r) => r.latency.p50)),
    stored,
  };
}

/** Records per second of `npm run cli -- import` into a fresh trail, start to exit. */
export function cliImport(records: number): number {
  const file = path.join(WORK, "import.ndjson");
  const lines = Array.from({ length: records }, (_, i) => JSON.stringify(wireEvent(i, records)));
  fs.writeFileSync(file, lines.join("\n") + "\n");
  const started = performance.now();
  execFileSync(
    process.execPath,
    ["--import", "tsx", path.join(ROOT, "cli/main.ts"), "import", file],
    {
      env: trailEnv("import"),
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  return records / ((performance.now() - started) / 1000);
}
