import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadConfig } from "../app/config.server";
import { openNote, parseCheckpoint, parseVerifierKey } from "../app/crypto/note";
import { loadOrCreateKeys } from "../app/keys.server";
import { CLI_TIMEOUT as TIMEOUT, runCli as run } from "../tests/cli";

// The real command line in a child process, as an operator runs it (about a second a call).

const ORIGIN = loadConfig(process.env).TRAIL_ORIGIN;

let dir: string;
let env: Record<string, string>;

const runCli = (...args: string[]) => run(args, env);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ehr-cli-checkpoint-"));
  env = {
    DATABASE_PATH: path.join(dir, "app.db"),
    KEYS_DIR: path.join(dir, "keys"),
    TRAIL_HEAD_PATH: path.join(dir, "trail-head.json"),
    OUTBOX_DIR: path.join(dir, "outbox"),
  };
  loadOrCreateKeys(env.KEYS_DIR!, ORIGIN);
  const events = Array.from({ length: 7 }, (_, i) =>
    JSON.stringify({
      patient_id: `MRN-${i}`,
      actor_id: "dr-1",
      actor_name: "Dr. Example",
      action: "read",
      table_affected: "medications",
      occurred_at: new Date(Date.UTC(2025, 9, 1, 8, i)).toISOString(),
    }),
  );
  fs.writeFileSync(path.join(dir, "events.ndjson"), events.map((e) => `${e}\n`).join(""));
  const imported = runCli("import", path.join(dir, "events.ndjson"), "--batch", "3");
  if (imported.status !== 0) throw new Error(`import failed: ${imported.stderr}`);
}, TIMEOUT);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

it(
  "checkpoint prints the newest checkpoint note, which opens under the key vkey prints",
  async () => {
    const vkey = runCli("vkey");
    expect(vkey.status).toBe(0);
    expect(vkey.stdout).toMatch(new RegExp(`^${ORIGIN}\\+[0-9a-f]{8}\\+[A-Za-z0-9+/]{44}\\n$`));
    const printed = runCli("checkpoint");
    expect(printed.status).toBe(0);
    const { text } = await openNote(printed.stdout, [await parseVerifierKey(vkey.stdout.trim())]);
    const checkpoint = parseCheckpoint(text);
    const db = new Database(env.DATABASE_PATH!, { readonly: true });
    const stored = db
      .prepare("SELECT tree_size, root_hash FROM checkpoints ORDER BY number DESC LIMIT 1")
      .get() as { tree_size: number; root_hash: Buffer };
    db.close();
    expect({ origin: checkpoint.origin, size: checkpoint.size }).toEqual({
      origin: ORIGIN,
      size: 7,
    });
    expect(Buffer.from(checkpoint.rootHash).equals(stored.root_hash)).toBe(true);
  },
  TIMEOUT,
);

it(
  "checkpoint refuses a database that does not verify, naming the findings, and takes no arguments",
  () => {
    const db = new Database(env.DATABASE_PATH!);
    db.prepare("UPDATE audit_records SET notes_enc = notes_enc || x'00' WHERE seq = 2").run();
    db.close();
    const refused = runCli("checkpoint");
    expect(refused.status).toBe(1);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toContain("fails verification");
    expect(refused.stderr).toMatch(/seq 2|record 2/);
    const usage = runCli("vkey", "extra");
    expect(usage.status).toBe(2);
  },
  TIMEOUT,
);
