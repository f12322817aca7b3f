import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

export const E2E_OUTPUT = path.join(here, ".output");

function serverEnv(name: string, port: number, extra: Record<string, string> = {}) {
  const dir = path.join(E2E_OUTPUT, name);
  return {
    NODE_ENV: "production" as const,
    HOST: "127.0.0.1",
    PORT: String(port),
    DATABASE_PATH: path.join(dir, "e2e.db"),
    KEYS_DIR: path.join(dir, "keys"),
    OUTBOX_DIR: path.join(dir, "outbox"),
    // Plain http on loopback: the documented opt-out from Secure cookies.
    COOKIE_SECURE: "false",
    // Every test logs in from 127.0.0.1; the per-address limit is unit-tested instead.
    LOGIN_MAX_FAILURES_PER_ADDRESS: "1000",
    // As behind one reverse proxy: the browser sends no X-Forwarded-For, throttle.spec.ts plays the proxy.
    TRUST_PROXY: "1",
    ADMIN_EMAILS: "security@hospital.test",
    ALERT_FROM: "audit-trail@hospital.test",
    ...extra,
  };
}

export type ServerEnv = ReturnType<typeof serverEnv>;

/** The main end-to-end server's own port, database, keys and outbox: never the developer's. */
export const E2E_PORT = Number(process.env.E2E_PORT ?? 3310);
export const E2E_ENV = serverEnv("main", E2E_PORT);

/** A second server whose database the tamper tests attack, with alerts to a test SMTP server. */
export const TAMPER_PORT = E2E_PORT + 1;
export const TAMPER_SMTP_PORT = E2E_PORT + 15;
export const TAMPER_ENV = serverEnv("tamper", TAMPER_PORT, {
  SMTP_URL: `smtp://127.0.0.1:${TAMPER_SMTP_PORT}`,
});

export const SERVERS = { main: E2E_ENV, tamper: TAMPER_ENV } as const;
