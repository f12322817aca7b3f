import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** The end-to-end server's own port, database, keys and outbox: never the developer's. */
export const E2E_PORT = Number(process.env.E2E_PORT ?? 3310);
export const E2E_OUTPUT = path.join(here, ".output");
export const E2E_ENV: Record<string, string> = {
  NODE_ENV: "production",
  HOST: "127.0.0.1",
  PORT: String(E2E_PORT),
  DATABASE_PATH: path.join(E2E_OUTPUT, "e2e.db"),
  KEYS_DIR: path.join(E2E_OUTPUT, "keys"),
  OUTBOX_DIR: path.join(E2E_OUTPUT, "outbox"),
  // Plain http on loopback: the documented opt-out from Secure cookies.
  COOKIE_SECURE: "false",
  // Every test logs in from 127.0.0.1; the per-address limit is unit-tested instead.
  LOGIN_MAX_FAILURES_PER_ADDRESS: "1000",
  ADMIN_EMAILS: "security@hospital.test",
  ALERT_FROM: "audit-trail@hospital.test",
};
