import fs from "node:fs";
import path from "node:path";
import { ConfigError, loadConfig } from "../app/config.server";
import { generatePaillierKeys } from "../app/crypto/paillier-private.server";
import { findPaillierPublicKey, paillierKeyId } from "../app/crypto/paillier.server";
import { KeyError, loadOrCreateKeys } from "../app/keys.server";
import { DEMO_LOGINS, seedDemo } from "../app/services/demo.server";
import { ROLE_LABELS } from "../app/models/user.server";
import { noteVerifierKey } from "../app/trail/checkpoint-note.server";
import { newestWitnessed } from "../app/trail/witness-status.server";
import { witnessingSettled } from "../app/trail/witnessing.server";
import { ensureBuild } from "./build";
import { serveLocalWitness, trustLog, type LocalWitness } from "./local-witness";
import { serve } from "./main";

// The demo has its own database, keys and outbox, so it never mixes with real data.
const DEMO_DEFAULTS: Record<string, string> = {
  NODE_ENV: "production",
  HOST: "127.0.0.1",
  DATABASE_PATH: "data/demo.db",
  KEYS_DIR: "data/demo-keys",
  OUTBOX_DIR: "data/demo-outbox",
  // The demo is served over plain http on localhost.
  COOKIE_SECURE: "false",
};

/** How many local witnesses the demo runs (unless WITNESSES names others). */
const DEMO_WITNESSES = 2;

/**
 * Starts the demo's own witnesses, each a `witness serve` child process with its data folder
 * beside the demo database (data/demo-witness-N), pinning the demo trail's note key for its
 * origin. A new demo trail (no database yet, or new keys) starts them afresh: they would refuse a
 * trail shorter than the one they cosigned before, as they should.
 */
async function startDemoWitnesses(env: NodeJS.ProcessEnv): Promise<LocalWitness[]> {
  let config, keys, created;
  try {
    config = loadConfig(env);
    ({ keys, created } = loadOrCreateKeys(config.KEYS_DIR, config.TRAIL_ORIGIN));
  } catch (error) {
    if (!(error instanceof ConfigError || error instanceof KeyError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
  if (created) {
    console.log(`Created new keys in ${config.KEYS_DIR}. Back them up now (see keys/README.md).`);
  }
  const database = path.resolve(config.DATABASE_PATH);
  const fresh = created || !fs.existsSync(database);
  const witnesses: LocalWitness[] = [];
  // On any exit (Ctrl+C, SIGTERM, a failed start) the witnesses stop with the demo.
  process.once("exit", () => witnesses.forEach((w) => w.child.kill("SIGTERM")));
  for (let i = 1; i <= DEMO_WITNESSES; i++) {
    const dir = path.join(path.dirname(database), `demo-witness-${i}`);
    if (fresh) fs.rmSync(dir, { recursive: true, force: true });
    trustLog(dir, config.TRAIL_ORIGIN, noteVerifierKey(keys));
    witnesses.push(await serveLocalWitness(dir, { name: `demo-witness-${i}` }));
  }
  return witnesses;
}

/** The demo plays the audit company too: its Paillier key pair sits in the demo's KEYS_DIR. */
async function demoPaillierKey(dir: string): Promise<string> {
  const existing = findPaillierPublicKey(dir);
  return existing ? paillierKeyId(existing) : (await generatePaillierKeys(dir)).keyId;
}

ensureBuild();
const env = { ...process.env };
for (const [name, value] of Object.entries(DEMO_DEFAULTS)) env[name] ||= value;
const witnesses = env.WITNESSES ? [] : await startDemoWitnesses(env);
if (witnesses.length > 0) env.WITNESSES = witnesses.map((w) => w.entry).join(",");
const running = await serve(env);
const created = await seedDemo(running.ctx);
const { config } = running.ctx;
const paillierKey = await demoPaillierKey(config.KEYS_DIR);

// The demo's records were just offered to the witnesses: give them a moment to cosign.
await Promise.race([
  witnessingSettled(running.ctx),
  new Promise((resolve) => setTimeout(resolve, 10_000).unref()),
]);
const witnessed = config.WITNESSES.length > 0 ? await newestWitnessed(running.ctx) : null;

console.log(`
EHR audit trail demo: ${running.url}
  database  ${config.DATABASE_PATH} (created now: ${created.users} account(s), ${created.records} record(s))
  alerts    ${config.SMTP_URL ? "sent over SMTP" : `written as .eml files to ${config.OUTBOX_DIR}`}
  verify    npm run cli -- verify   (checks the demo database when there is no data/app.db)
  witnesses ${config.WITNESSES.length === 0 ? "none" : `${config.WITNESSES.length}, quorum ${config.WITNESS_QUORUM}${witnesses.length > 0 ? "" : " (from WITNESSES)"}`}`);
for (const w of witnesses) {
  console.log(`    ${w.url}   ${w.vkey.split("+")[0]}  (stopped with the demo)`);
}
if (config.WITNESSES.length > 0) {
  console.log(
    `  checkpoint curl ${running.url}/checkpoint   (${witnessed ? `#${witnessed.number} cosigned by ${witnessed.lines.length} of ${config.WITNESSES.length}` : "not cosigned yet"})`,
  );
}
console.log(
  `  aggregates Paillier key ${paillierKey.slice(0, 12)} in ${config.KEYS_DIR}, private half included for the demo only: /dashboard opens today's encrypted totals`,
);
console.log(
  "  anchor    the newest checkpoint note is mailed to the admins daily (first 10 min after start)",
);
console.log(`
Demo logins (tick "Audit company login" for the auditor):`);
for (const login of DEMO_LOGINS) {
  const who = login.patientId
    ? `${ROLE_LABELS[login.role]} ${login.patientId}`
    : ROLE_LABELS[login.role];
  console.log(
    `  ${who.padEnd(22)} username ${login.username.padEnd(8)} password ${login.password}`,
  );
}
console.log("\nPress Ctrl+C to stop.");
