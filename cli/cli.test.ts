import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../app/config.server";
import { KEY_FILES, loadOrCreateKeys } from "../app/keys.server";
import { CLI_TIMEOUT as TIMEOUT, runCli } from "../tests/cli";

// These tests run the real command line in a child process, as an operator would: every call
// costs a Node start (about a second), so each test makes as few calls as it can.

type Env = Record<string, string>;

/** The environment of one test: its own database, tree head and outbox; the shared keys. */
function envFor(dir: string): Env {
  return {
    DATABASE_PATH: path.join(dir, "app.db"),
    KEYS_DIR: keysDir,
    TRAIL_HEAD_PATH: path.join(dir, "trail-head.json"),
    OUTBOX_DIR: path.join(dir, "outbox"),
  };
}

const ACTIONS = ["read", "update", "create", "print"];
const TABLES = ["medications", "lab_results", "allergies", "progress_notes"];

/** One valid event line as a source system would export it. */
function event(i: number, overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    patient_id: `MRN-${100 + (i % 3)}`,
    actor_id: `dr-${i % 5}`,
    actor_name: `Dr. Example ${i % 5}`,
    action: ACTIONS[i % ACTIONS.length],
    table_affected: TABLES[i % TABLES.length],
    occurred_at: new Date(Date.UTC(2025, 9, 1, 8) + i * 60_000).toISOString(),
    notes: `routine access ${i}`,
    ...overrides,
  });
}

function writeNdjson(file: string, lines: string[]): string {
  fs.writeFileSync(file, lines.map((l) => `${l}\n`).join(""));
  return file;
}

const events = (count: number) => Array.from({ length: count }, (_, i) => event(i));

/** Runs `act` on a second connection straight to the file, then closes it. */
function withDb<T>(file: string, act: (db: Database.Database) => T): T {
  const db = new Database(file, { fileMustExist: true });
  try {
    return act(db);
  } finally {
    db.close();
  }
}

/** How many audit records and checkpoints the file holds (0 when it or the tables are absent). */
function stored(file: string): { records: number; checkpoints: number } {
  if (!fs.existsSync(file)) return { records: 0, checkpoints: 0 };
  return withDb(file, (db) => {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
      .pluck()
      .all() as string[];
    const count = (table: string) =>
      tables.includes(table)
        ? (db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number)
        : 0;
    return { records: count("audit_records"), checkpoints: count("checkpoints") };
  });
}

/** Folds the WAL into the main file and removes it, so the file's bytes are the whole database. */
function checkpointWal(file: string): void {
  withDb(file, (db) => db.pragma("wal_checkpoint(TRUNCATE)"));
}

/** Whether the database file, or its write-ahead log, holds `text` anywhere in the clear. */
function fileHolds(file: string, text: string): boolean {
  return [file, `${file}-wal`].some((f) => fs.existsSync(f) && fs.readFileSync(f).includes(text));
}

const sha256Of = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

const USAGE_HINT = 'Run "npm run cli -- --help" for usage.';

let keysDir: string;
let fixtureDir: string;
/** A clean 30-record trail written by `import`, its WAL folded in; tests copy it. */
let fixtureDb: string;

beforeAll(() => {
  // RSA generation is slow: one key set for the whole file, created by the CLI's own key code.
  keysDir = fs.mkdtempSync(path.join(os.tmpdir(), "ehr-cli-keys-"));
  loadOrCreateKeys(keysDir, loadConfig(process.env).TRAIL_ORIGIN);
  fixtureDir = fs.mkdtempSync(path.join(os.tmpdir(), "ehr-cli-fixture-"));
  const file = writeNdjson(path.join(fixtureDir, "events.ndjson"), events(30));
  const result = runCli(["import", file, "--source", "fixture-ehr"], envFor(fixtureDir));
  if (result.status !== 0) throw new Error(`fixture import failed: ${result.stderr}`);
  fixtureDb = path.join(fixtureDir, "app.db");
  checkpointWal(fixtureDb);
}, TIMEOUT);

afterAll(() => {
  for (const d of [keysDir, fixtureDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

let dir: string;
let env: Env;
let dbPath: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ehr-cli-test-"));
  env = envFor(dir);
  dbPath = env.DATABASE_PATH!;
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** This test's database and its head: a copy of the clean fixture trail. */
function copyFixture(): string {
  fs.copyFileSync(fixtureDb, dbPath);
  fs.copyFileSync(path.join(fixtureDir, "trail-head.json"), env.TRAIL_HEAD_PATH!);
  return dbPath;
}

describe("cli usage", () => {
  it(
    "--help exits 0 and lists the commands",
    () => {
      const r = runCli(["--help"], env);
      expect(r.status).toBe(0);
      for (const command of ["invite", "source", "import", "verify"]) {
        expect(r.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, "m"));
      }
      expect(r.stdout).toContain("Exit codes: 0 success, 1 failure or findings, 2 usage error.");
      expect(r.stderr).toBe("");
    },
    TIMEOUT,
  );

  it(
    "no arguments prints the help and exits 2",
    () => {
      const r = runCli([], env);
      expect(r.status).toBe(2);
      expect(r.stdout).toContain("Usage: npm run cli -- <command>");
    },
    TIMEOUT,
  );

  it(
    "an unknown command exits 2 and names it",
    () => {
      const r = runCli(["frobnicate"], env);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("error: unknown command: frobnicate");
      expect(r.stderr).toContain(USAGE_HINT);
      expect(r.stdout).toBe("");
      expect(fs.existsSync(dbPath)).toBe(false);
    },
    TIMEOUT,
  );

  it(
    "an unknown option exits 2 and names it",
    () => {
      const r = runCli(["invite", "auditor", "--frobnicate"], env);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("--frobnicate");
      expect(r.stderr).toContain(USAGE_HINT);
      expect(r.stdout).toBe("");
      expect(fs.existsSync(dbPath)).toBe(false);
    },
    TIMEOUT,
  );
});

describe("cli invite", () => {
  it(
    "invite patient --patient-id prints a single-use code",
    () => {
      const r = runCli(["invite", "patient", "--patient-id", "MRN-100234"], env);
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){7}$/);
      expect(r.stderr).toMatch(
        /Single-use patient code for patient MRN-100234, valid until \d{4}-/,
      );
      // The code is stored only as a keyed hash.
      const rows = withDb(dbPath, (db) =>
        db.prepare("SELECT count(*) FROM invitations").pluck().get(),
      );
      expect(rows).toBe(1);
      expect(fileHolds(dbPath, r.stdout.trim())).toBe(false);
    },
    TIMEOUT,
  );

  it(
    "invite patient without --patient-id exits 2",
    () => {
      const r = runCli(["invite", "patient"], env);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("invite patient needs --patient-id <MRN>");
      expect(r.stdout).toBe("");
      expect(fs.existsSync(dbPath)).toBe(false);
    },
    TIMEOUT,
  );

  it(
    "invite auditor --days 0 exits 2",
    () => {
      const r = runCli(["invite", "auditor", "--days", "0"], env);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("--days must be a whole number from 1 to 365");
      expect(r.stdout).toBe("");
      expect(fs.existsSync(dbPath)).toBe(false);
    },
    TIMEOUT,
  );
});

describe("cli source", () => {
  it(
    "adds a source once, lists it, revokes it once",
    () => {
      const added = runCli(["source", "add", "ehr-main"], env);
      expect(added.status).toBe(0);
      const token = added.stdout.trim();
      expect(token).toMatch(/^ehrat_[A-Za-z0-9_-]{40,}$/);
      expect(added.stderr).toContain('Source "ehr-main" added.');

      const again = runCli(["source", "add", "ehr-main"], env);
      expect(again.status).toBe(1);
      expect(again.stderr).toContain('a source named "ehr-main" already exists');
      expect(again.stdout).toBe("");

      const revoked = runCli(["source", "revoke", "ehr-main"], env);
      expect(revoked.status).toBe(0);
      expect(revoked.stderr).toContain('Source "ehr-main" revoked.');

      const revokedAgain = runCli(["source", "revoke", "ehr-main"], env);
      expect(revokedAgain.status).toBe(1);
      expect(revokedAgain.stderr).toContain('no active source named "ehr-main"');

      const listed = runCli(["source", "list"], env);
      expect(listed.status).toBe(0);
      const lines = listed.stdout.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^ehr-main\tcreated \d{4}-\S+Z\trevoked \d{4}-\S+Z$/);
      // Only the token's hash is stored.
      expect(fileHolds(dbPath, token)).toBe(false);
    },
    TIMEOUT,
  );

  it(
    "refuses a bad source name",
    () => {
      const r = runCli(["source", "add", "bad name!"], env);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(
        "a source name is 1 to 64 letters, digits, dots, dashes or underscores",
      );
      expect(r.stdout).toBe("");
      const rows = withDb(dbPath, (db) => db.prepare("SELECT count(*) FROM sources").pluck().get());
      expect(rows).toBe(0);
    },
    TIMEOUT,
  );

  it(
    "refuses the trail's own source name, for a source and for an import",
    () => {
      const r = runCli(["source", "add", "audit-trail"], env);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`"audit-trail" is reserved for the trail's own records`);
      const file = writeNdjson(path.join(dir, "own.ndjson"), events(3));
      const imported = runCli(["import", file, "--source", "audit-trail"], env);
      expect(imported.status).toBe(2);
      expect(imported.stderr).toContain(`--source "audit-trail" is reserved`);
      expect(stored(dbPath)).toEqual({ records: 0, checkpoints: 0 });
      const rows = withDb(dbPath, (db) => db.prepare("SELECT count(*) FROM sources").pluck().get());
      expect(rows).toBe(0);
    },
    TIMEOUT,
  );
});

describe("cli import", () => {
  it(
    "imports a valid NDJSON file in sealed batches, and the trail verifies",
    () => {
      const file = writeNdjson(path.join(dir, "events.ndjson"), events(30));
      const r = runCli(["import", file, "--source", "ehr-main", "--batch", "8"], env);
      expect(r.stderr).toContain("Checked 30 events");
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`Imported 30 events from ${file} as source "ehr-main".`);
      expect(r.stderr).toMatch(/^Checking\s+100% /m);
      expect(r.stderr).toContain("Importing 100% (30/30)");
      expect(r.stderr).toMatch(/^Imported 30 events in [\d.]+ s$/m);

      const rows = withDb(dbPath, (db) => ({
        count: db.prepare("SELECT count(*) FROM audit_records").pluck().get(),
        sources: db.prepare("SELECT DISTINCT source_id FROM audit_records").pluck().all(),
        seqs: db.prepare("SELECT seq FROM audit_records ORDER BY seq").pluck().all(),
        checkpoints: db.prepare("SELECT tree_size FROM checkpoints ORDER BY number").pluck().all(),
      }));
      expect(rows.count).toBe(30);
      expect(rows.sources).toEqual(["ehr-main"]);
      expect(rows.seqs).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      // Batches of 8: each sealed by its own checkpoint.
      expect(rows.checkpoints).toEqual([8, 16, 24, 30]);
      // The import remembered the newest head where the configuration says.
      expect(JSON.parse(fs.readFileSync(env.TRAIL_HEAD_PATH!, "utf8"))).toMatchObject({
        number: 4,
        treeSize: 30,
      });

      const v = runCli(["verify"], env);
      expect(v.status).toBe(0);
      expect(v.stdout).toContain(`Verified ${dbPath}`);
      expect(v.stdout).toMatch(/^\s+records\s+30$/m);
      expect(v.stdout).toMatch(/^\s+checkpoint\s+#4: 30 records, signed /m);
      expect(v.stdout).toContain("Result: OK, no findings");
      expect(v.stderr).toContain("Checked 30 records");
    },
    TIMEOUT,
  );

  it(
    "into a pipe, shows the true progress as plain lines, one per batch here",
    () => {
      const file = writeNdjson(path.join(dir, "events.ndjson"), events(30));
      const size = fs.statSync(file).size;
      // spawnSync gives the child a pipe, not a terminal, for stdout and stderr.
      const r = runCli(["import", file, "--batch", "8"], env);
      expect(r.status).toBe(0);
      expect(r.stderr).not.toContain("\r");
      expect(r.stderr).not.toContain("\u001b");
      expect(r.stderr.split("\n").filter((l) => !/ in [\d.]+ s$/.test(l))).toEqual([
        `Checking  100% (${size}/${size} bytes)`,
        "Importing 26% (8/30)",
        "Importing 53% (16/30)",
        "Importing 80% (24/30)",
        "Importing 100% (30/30)",
        "",
      ]);
    },
    TIMEOUT,
  );

  it.each([
    {
      what: "an unknown action",
      line: event(16, { action: "teleport" }),
      message: "line 17: action: must be one of create, read, update",
    },
    {
      what: "invalid JSON",
      line: '{"patient_id": "MRN-100", ',
      message: "line 17: not valid JSON",
    },
  ])(
    "a file with $what on line 17 stores nothing",
    ({ line, message }) => {
      const lines = events(30);
      lines[16] = line;
      const file = writeNdjson(path.join(dir, "bad.ndjson"), lines);
      const r = runCli(["import", file, "--source", "ehr-main"], env);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`Import refused, nothing stored: ${message}`);
      expect(r.stdout).toBe("");
      expect(stored(dbPath)).toEqual({ records: 0, checkpoints: 0 });
      expect(fs.existsSync(env.TRAIL_HEAD_PATH!)).toBe(false);
    },
    TIMEOUT,
  );

  it(
    "a file that does not exist is a usage error",
    () => {
      const missing = path.join(dir, "missing.ndjson");
      const r = runCli(["import", missing], env);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`error: no such file: ${missing}`);
      expect(r.stderr).toContain(USAGE_HINT);
      expect(r.stdout).toBe("");
      expect(stored(dbPath)).toEqual({ records: 0, checkpoints: 0 });
    },
    TIMEOUT,
  );

  it(
    "an empty file fails and stores nothing",
    () => {
      const file = path.join(dir, "empty.ndjson");
      fs.writeFileSync(file, "");
      const r = runCli(["import", file], env);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("The file holds no events; nothing stored.");
      expect(r.stdout).toBe("");
      expect(stored(dbPath)).toEqual({ records: 0, checkpoints: 0 });
    },
    TIMEOUT,
  );
});

describe("cli verify", () => {
  it(
    "names the modified record after the file was tampered with",
    () => {
      copyFixture();
      const logId = withDb(dbPath, (db) => {
        const id = db.prepare("SELECT log_id FROM audit_records WHERE seq = 5").pluck().get();
        db.prepare("UPDATE audit_records SET notes_enc = randomblob(48) WHERE seq = 5").run();
        return id as string;
      });
      expect(logId).toMatch(/^[0-9a-f-]{36}$/);

      const r = runCli(["verify"], env);
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(/^\s+records\s+30$/m);
      expect(r.stdout).toContain("Result: DATA INTEGRITY COMPROMISED, 1 finding(s)");
      expect(r.stdout).not.toContain("Result: OK");
      const lines = r.stdout.split("\n");
      const heading = lines.findIndex((l) => /^\s+Modified \(1\):$/.test(l));
      expect(heading).toBeGreaterThan(-1);
      expect(lines[heading + 1]).toMatch(
        new RegExp(
          `^\\s+- seq 5, log id ${logId}: the stored record differs from what was signed$`,
        ),
      );
    },
    TIMEOUT,
  );

  it(
    "verifies with the public key alone",
    () => {
      copyFixture();
      const publicDir = path.join(dir, "public");
      fs.mkdirSync(publicDir);
      const pem = path.join(publicDir, KEY_FILES.signingPublic);
      fs.copyFileSync(path.join(keysDir, KEY_FILES.signingPublic), pem);
      // No key folder at all in the environment: no private signing key, no AES or HMAC key.
      const noKeys = path.join(dir, "no-keys");
      const unused = path.join(dir, "unused.db");
      const head = env.TRAIL_HEAD_PATH!;
      const offline = { ...env, KEYS_DIR: noKeys, DATABASE_PATH: unused };
      const r = runCli(["verify", "--public-key", pem, "--db", dbPath, "--head", head], offline);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`Verified ${dbPath}`);
      expect(r.stdout).toMatch(/^\s+records\s+30$/m);
      expect(r.stdout).toMatch(/^\s+head\s+checkpoint #\d+, 30 records/m);
      expect(r.stdout).toContain("Result: OK, no findings");
      expect(fs.existsSync(noKeys)).toBe(false);
      expect(fs.existsSync(unused)).toBe(false);

      // Without a head the anchor is not vouched for: a finding, unless the operator says so.
      const bare = runCli(["verify", "--public-key", pem, "--db", dbPath], offline);
      expect(bare.status).toBe(1);
      expect(bare.stdout).toMatch(/^\s+head\s+MISSING/m);
      expect(bare.stdout).toContain("Head missing or unreadable (1):");
      const chosen = runCli(["verify", "--public-key", pem, "--db", dbPath, "--no-head"], offline);
      expect(chosen.status).toBe(0);
      expect(chosen.stdout).toMatch(/^\s+head\s+not checked \(--no-head\)/m);
    },
    TIMEOUT,
  );

  it(
    "a database that does not exist is a usage error",
    () => {
      const missing = path.join(dir, "nonexistent.db");
      const r = runCli(["verify", "--db", missing], env);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`error: no database at ${missing}`);
      expect(r.stdout).toBe("");
      expect(fs.existsSync(missing)).toBe(false);
    },
    TIMEOUT,
  );

  it(
    "--public-key and --keys together are a usage error",
    () => {
      const r = runCli(["verify", "--public-key", "a.pem", "--keys", "dir"], env);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("error: give --public-key or --keys, not both");
      expect(r.stdout).toBe("");
    },
    TIMEOUT,
  );

  it(
    "does not change the database file",
    () => {
      copyFixture();
      checkpointWal(dbPath);
      const before = sha256Of(dbPath);
      const r = runCli(["verify"], env);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain("Result: OK, no findings");
      expect(sha256Of(dbPath)).toBe(before);
      // The live file was never opened: no WAL or shared-memory file appeared beside it.
      expect(fs.existsSync(`${dbPath}-wal`)).toBe(false);
      expect(fs.existsSync(`${dbPath}-shm`)).toBe(false);
    },
    TIMEOUT,
  );
});
