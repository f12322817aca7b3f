// Runs one full verification in its own process, so its peak RSS is measured alone.
import fs from "node:fs";
import Database from "better-sqlite3";
import { loadTrustedPublicKeys } from "../app/keys.server";
import { verifyTrailAsync } from "../app/trail/verify.server";

const [dbPath, keysDir, origin] = process.argv.slice(2) as [string, string, string];
const sqlite = new Database(dbPath, { readonly: true });
const started = performance.now();
const report = await verifyTrailAsync(sqlite, loadTrustedPublicKeys(keysDir), {
  origin,
  head: { state: "not_checked" },
});
const ms = performance.now() - started;
sqlite.close();
// VmHWM is this process's own peak. getrusage's maxrss is not: on Linux it starts from the
// parent's RSS at fork, which would charge the benchmark's own memory to the verifier.
const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));
const maxRssKb = hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS;
process.stdout.write(JSON.stringify({ ok: report.ok, records: report.records, ms, maxRssKb }));
