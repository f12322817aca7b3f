import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach } from "vitest";
import { loadConfig } from "../app/config.server";
import { type AppContext } from "../app/context.server";
import { loadOrCreateKeys } from "../app/keys.server";
import { openDatabase } from "../db/connection";

export type TestContext = AppContext & { dir: string; clock: { now: number } };

const opened: TestContext[] = [];
afterEach(() => {
  for (const ctx of opened.splice(0)) {
    if (ctx.conn.sqlite.open) ctx.conn.sqlite.close();
    fs.rmSync(ctx.dir, { recursive: true, force: true });
  }
});

let sharedKeysDir: string | undefined;

/** A fresh database file in a temp folder, keys (RSA generation is slow: shared per worker) and a settable clock. */
export function makeTestContext(env: Record<string, string> = {}): TestContext {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ehr-test-"));
  sharedKeysDir ??= fs.mkdtempSync(path.join(os.tmpdir(), "ehr-test-keys-"));
  const config = loadConfig({
    NODE_ENV: "test",
    DATABASE_PATH: path.join(dir, "app.db"),
    KEYS_DIR: sharedKeysDir,
    OUTBOX_DIR: path.join(dir, "outbox"),
    TRAIL_HEAD_PATH: path.join(dir, "trail-head.json"),
    ...env,
  });
  const { keys } = loadOrCreateKeys(config.KEYS_DIR, config.TRAIL_ORIGIN);
  const clock = { now: Date.UTC(2026, 10, 2, 9, 0, 0) };
  const ctx: TestContext = {
    config,
    keys,
    conn: openDatabase(config.DATABASE_PATH),
    now: () => clock.now,
    dir,
    clock,
  };
  opened.push(ctx);
  return ctx;
}
