import { DEMO_LOGINS, seedDemo } from "../app/services/demo.server";
import { ROLE_LABELS } from "../app/models/user.server";
import { ensureBuild } from "./build";
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

ensureBuild();
const env = { ...process.env };
for (const [name, value] of Object.entries(DEMO_DEFAULTS)) env[name] ||= value;
const running = await serve(env);
const created = await seedDemo(running.ctx);

console.log(`
EHR audit trail demo: ${running.url}
  database ${running.ctx.config.DATABASE_PATH} (created now: ${created.users} account(s), ${created.records} record(s))
  alerts   ${running.ctx.config.SMTP_URL ? "sent over SMTP" : `written as .eml files to ${running.ctx.config.OUTBOX_DIR}`}
  verify   npm run cli -- verify   (checks the demo database when there is no data/app.db)

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
