// Runs one full verification in its own process, so its peak RSS is measured alone.
import Database from "better-sqlite3";
import { loadTrustedPublicKeys } from "../app/keys.server";
import { verifyTrail } from "../app/trail/verify.server";

const [dbPath, keysDir, origin] = process.argv.slice(2) as [string, string, string];
const sqlite = new Database(dbPath, { readonly: true });
const started = performance.now();
const report = verifyTrail(sqlite, loadTrustedPublicKeys(keysDir), { origin });
const ms = performance.now() - started;
sqlite.close();
process.stdout.write(
  JSON.stringify({
    ok: report.ok,
    records: report.records,
    ms,
    maxRssKb: process.resourceUsage().maxRSS,
  }),
);
