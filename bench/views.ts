// What a patient feels: /home under 50 concurrent sessions, and one patient's login + /home,
// also right after another process wrote to the trail.
import type { Result } from "autocannon";
import type { AppContext } from "../app/context.server";
import { appendRecords } from "../app/trail/append.server";
import { home, login, throughput } from "./http";
import { event, mean, median, PATIENTS } from "./trail";

export type Throughputs = { home: number; login: number; homeP50: number };

/** Requests/s of /home by PATIENTS logged-in patients at once, and of GET /login likewise. */
export async function homeUnderSessions(url: string, seconds: number): Promise<Throughputs> {
  const cookies: string[] = [];
  for (let n = 0; n < PATIENTS; n++) cookies.push(await login(url, n));
  // The server's first view waits for its full pass at start: not what this figure measures.
  await home(url, cookies[0]!);
  // Alternated, in two rounds each, so that load elsewhere on the machine hits both alike.
  const homes: Result[] = [];
  const logins: Result[] = [];
  for (let round = 0; round < 2; round++) {
    homes.push(await throughput(url, "/home", PATIENTS, Math.ceil(seconds / 2), cookies));
    logins.push(await throughput(url, "/login", PATIENTS, Math.ceil(seconds / 2)));
  }
  return {
    home: mean(homes.map((r) => r.requests.average)),
    login: mean(logins.map((r) => r.requests.average)),
    homeP50: mean(homes.map((r) => r.latency.p50)),
  };
}

export type Latencies = { loginHome: number; home: number; afterWrite: number };

/**
 * Medians, one request at a time: a patient's login followed by /home; a /home alone; and the
 * first /home after another process (`writer`, a connection of this process to the same file)
 * appended a few records.
 */
export async function patientLatency(
  url: string,
  writer: AppContext,
  runs: number,
): Promise<Latencies> {
  const timed = async (f: () => Promise<unknown>) => {
    const started = performance.now();
    await f();
    return performance.now() - started;
  };
  const cookie = await login(url, 0);
  for (let i = 0; i < 3; i++) await home(url, cookie); // warm
  const loginHome: number[] = [];
  const homes: number[] = [];
  const afterWrite: number[] = [];
  for (let i = 0; i < runs; i++) {
    const n = (i + 1) % PATIENTS;
    loginHome.push(await timed(async () => home(url, await login(url, n))));
    homes.push(await timed(() => home(url, cookie)));
  }
  for (let i = 0; i < Math.max(3, runs >> 2); i++) {
    await appendRecords(
      writer,
      Array.from({ length: 5 }, (_, j) => event(i * 5 + j, 1e9, "bench-outside-writer")),
    );
    afterWrite.push(await timed(() => home(url, cookie)));
    await home(url, cookie); // settled again before the next write
  }
  return { loginHome: median(loginHome), home: median(homes), afterWrite: median(afterWrite) };
}
