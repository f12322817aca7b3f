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

const timed = async (f: () => Promise<unknown>) => {
  const started = performance.now();
  await f();
  return performance.now() - started;
};

/**
 * Medians, one request at a time, for each server (`url`, and `writer`: a connection of this
 * process to the same file): a patient's login followed by /home; a /home alone; and the first
 * /home after another process (the writer) appended a few records. The servers take turns, one
 * request each, so that load elsewhere on the machine hits them alike.
 */
export async function patientLatencies(
  servers: { url: string; writer: AppContext }[],
  runs: number,
): Promise<Latencies[]> {
  const cookies: string[] = [];
  for (const { url } of servers) {
    cookies.push(await login(url, 0));
    for (let i = 0; i < 3; i++) await home(url, cookies.at(-1)!); // warm
  }
  const times = servers.map(() => ({
    loginHome: [] as number[],
    home: [] as number[],
    afterWrite: [] as number[],
  }));
  for (let i = 0; i < runs; i++) {
    const n = (i + 1) % PATIENTS;
    for (const [k, { url }] of servers.entries()) {
      times[k]!.loginHome.push(await timed(async () => home(url, await login(url, n))));
      times[k]!.home.push(await timed(() => home(url, cookies[k]!)));
    }
  }
  for (let i = 0; i < Math.max(3, runs >> 2); i++) {
    for (const [k, { url, writer }] of servers.entries()) {
      await appendRecords(
        writer,
        Array.from({ length: 5 }, (_, j) => event(i * 5 + j, 1e9, "bench-outside-writer")),
      );
      times[k]!.afterWrite.push(await timed(() => home(url, cookies[k]!)));
      await home(url, cookies[k]!); // settled again before the next write
    }
  }
  return times.map((t) => ({
    loginHome: median(t.loginHome),
    home: median(t.home),
    afterWrite: median(t.afterWrite),
  }));
}
