import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import type { KeyObject } from "node:crypto";
import { createPublicKey } from "node:crypto";
import type { AppContext } from "../app/context.server";
import { keyIdOf, loadTrustedPublicKeys } from "../app/keys.server";
import { appendRecords } from "../app/trail/append.server";
import { formatFindings } from "../app/trail/alerts.server";
import { parseBody, toRecordInput, type Event } from "../app/trail/ingest.server";
import { createSignerPool } from "../app/trail/signer-pool.server";
import { verifyTrail } from "../app/trail/verify.server";
import { readHead, type HeadRead } from "../app/trail/witness.server";
import { verifyExport } from "../app/trail/export-verify.server";
import { loadConfig } from "../app/config.server";
import { progressBar } from "./progress";

export class UsageError extends Error {}

async function* ndjsonLines(file: string): AsyncGenerator<{ line: number; text: string }> {
  const input = fs.createReadStream(file, { encoding: "utf8" });
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line += 1;
    if (text.trim()) yield { line, text };
  }
}

function parseLine(line: number, text: string): Event {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`line ${line}: not valid JSON`);
  }
  if (typeof json === "object" && json !== null && "records" in json) {
    throw new Error(`line ${line}: each line holds one event, not a batch`);
  }
  const parsed = parseBody(json);
  if (!parsed.ok) {
    const [field, message] = Object.entries(parsed.errors)[0]!;
    throw new Error(`line ${line}: ${field}: ${message}`);
  }
  return parsed.events[0]!;
}

/**
 * Imports an NDJSON file: every line is checked first, so a bad line stores nothing; then the
 * events are appended in batches, each committed with its own checkpoint.
 */
export async function importCommand(ctx: AppContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      source: { type: "string", default: "import" },
      batch: { type: "string", default: "500" },
    },
    allowPositionals: true,
  });
  const [file, ...extra] = positionals;
  if (!file || extra.length) throw new UsageError("import takes one NDJSON file");
  const batchSize = Number(values.batch);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new UsageError("--batch must be a whole number from 1 to 10000");
  }
  if (!fs.existsSync(file)) throw new UsageError(`no such file: ${file}`);

  const size = fs.statSync(file).size;
  const checking = progressBar("Checking ", "bytes");
  let events = 0;
  let read = 0;
  try {
    for await (const { line, text } of ndjsonLines(file)) {
      parseLine(line, text);
      events += 1;
      read += Buffer.byteLength(text) + 1;
      if (events % 1000 === 0) checking.update(Math.min(read, size), size);
    }
  } catch (error) {
    checking.done();
    console.error(`Import refused, nothing stored: ${(error as Error).message}`);
    return 1;
  }
  checking.update(size, size);
  checking.done(`Checked ${events} events`);
  if (events === 0) {
    console.error("The file holds no events; nothing stored.");
    return 1;
  }

  const pool = createSignerPool(ctx.keys.signing.privateKey);
  const importing = progressBar("Importing");
  let stored = 0;
  let lastLine = 0;
  let batch: { line: number; event: Event }[] = [];
  const flush = async () => {
    if (!batch.length) return;
    await appendRecords(
      ctx,
      batch.map((b) => toRecordInput(b.event, values.source!)),
      { signer: pool.sign, triggeredBy: `import ${path.basename(file)}` },
    );
    stored += batch.length;
    lastLine = batch[batch.length - 1]!.line;
    batch = [];
    importing.update(stored, events);
  };
  try {
    for await (const { line, text } of ndjsonLines(file)) {
      batch.push({ line, event: parseLine(line, text) });
      if (batch.length >= batchSize) await flush();
    }
    await flush();
  } catch (error) {
    importing.done();
    console.error(
      `Import stopped: ${(error as Error).message}. ${stored} events up to line ${lastLine} were stored and sealed; ` +
        `the rest were not.`,
    );
    return 1;
  } finally {
    await pool.close();
  }
  importing.done(`Imported ${stored} events`);
  console.log(`Imported ${stored} events from ${file} as source "${values.source}".`);
  return 0;
}

function publicKeysFrom(files: string[]): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  for (const file of files) {
    let key: KeyObject;
    try {
      key = createPublicKey(fs.readFileSync(file));
    } catch (error) {
      throw new UsageError(`cannot read a public key from ${file}: ${(error as Error).message}`);
    }
    keys.set(keyIdOf(key), key);
  }
  return keys;
}

function verifyExportFile(file: string, publicKeys?: string[], keysOption?: string): number {
  if (!fs.existsSync(file)) throw new UsageError(`no such file: ${file}`);
  const keysDir = keysOption ? path.resolve(keysOption) : databaseToVerify(undefined).keysDir;
  const keys = publicKeys ? publicKeysFrom(publicKeys) : loadTrustedPublicKeys(keysDir);
  if (keys.size === 0) throw new UsageError(`no public key found in ${keysDir}`);
  const report = verifyExport(fs.readFileSync(file), keys);
  console.log(`Export ${file}`);
  console.log(`  format      ${report.format}`);
  console.log(`  records     ${report.records}`);
  console.log(
    `  checkpoint  ${report.checkpoint ? `#${report.checkpoint.number}: ${report.checkpoint.treeSize} records` : "none"}`,
  );
  if (report.ok) {
    console.log("Result: OK, the export is intact and every record is sealed by its checkpoint");
    return 0;
  }
  console.log(`Result: EXPORT NOT VALID, ${report.problems.length} problem(s)`);
  for (const problem of report.problems) console.log(`  - ${problem}`);
  return 1;
}

function describeHead(head: HeadRead): string {
  switch (head.state) {
    case "found":
      return `checkpoint #${head.head.number}, ${head.head.treeSize} records (${head.file})`;
    case "missing":
      return `MISSING: ${head.file}`;
    case "unreadable":
      return `UNREADABLE: ${head.file} ${head.reason}`;
    case "not_checked":
      return "not checked (--no-head): a rollback or a replaced database would not be seen";
  }
}

/** Where the database to verify is: --db, DATABASE_PATH, or the demo's when only it exists. */
function databaseToVerify(given: string | undefined): {
  db: string;
  keysDir: string;
  head: string;
  note?: string;
} {
  const config = loadConfig(process.env);
  const configured = { keysDir: config.KEYS_DIR, head: config.TRAIL_HEAD_PATH };
  if (given) return { db: path.resolve(given), ...configured };
  const demoKeys = path.resolve("data/demo-keys");
  const demo = {
    db: path.resolve("data/demo.db"),
    keysDir: demoKeys,
    head: path.join(demoKeys, "trail-head.json"),
  };
  if (
    !process.env.DATABASE_PATH &&
    !fs.existsSync(config.DATABASE_PATH) &&
    fs.existsSync(demo.db)
  ) {
    return {
      ...demo,
      note: `No database at ${config.DATABASE_PATH}; verifying the demo database.`,
    };
  }
  return { db: config.DATABASE_PATH, ...configured };
}

/** Verifies a copy of the database with public keys only. Exit 0 clean, 1 findings, 2 usage. */
export async function verifyCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      db: { type: "string" },
      "public-key": { type: "string", multiple: true },
      keys: { type: "string" },
      head: { type: "string" },
      "no-head": { type: "boolean" },
      export: { type: "string" },
    },
    allowPositionals: true,
  });
  if (positionals.length) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  if (values["public-key"] && values.keys)
    throw new UsageError("give --public-key or --keys, not both");
  if (values.export) {
    if (values.db || values.head) throw new UsageError("--export takes no --db or --head");
    return verifyExportFile(values.export, values["public-key"], values.keys);
  }
  const target = databaseToVerify(values.db);
  if (target.note) console.error(target.note);
  if (!fs.existsSync(target.db)) throw new UsageError(`no database at ${target.db}`);
  const keysDir = values.keys ? path.resolve(values.keys) : target.keysDir;
  const keys = values["public-key"]
    ? publicKeysFrom(values["public-key"])
    : loadTrustedPublicKeys(keysDir);
  if (keys.size === 0) throw new UsageError(`no public key found in ${keysDir}`);
  // The head: --head, else where the server keeps it (TRAIL_HEAD_PATH, or beside --keys). Without
  // one, a trail with checkpoints fails, unless the operator says --no-head.
  if (values["no-head"] && values.head) throw new UsageError("give --head or --no-head, not both");
  const headFile =
    values.head ??
    (values["public-key"]
      ? undefined
      : values.keys
        ? path.join(keysDir, "trail-head.json")
        : target.head);
  const head: HeadRead = values["no-head"]
    ? { state: "not_checked" }
    : headFile
      ? readHead(path.resolve(headFile))
      : { state: "missing", file: "(none given: use --head FILE, or --no-head)" };

  // Work on a copy: the live file is never opened for writing, and a running server is not disturbed.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ehr-verify-"));
  try {
    const copy = path.join(dir, "trail.db");
    fs.copyFileSync(target.db, copy);
    if (fs.existsSync(`${target.db}-wal`)) fs.copyFileSync(`${target.db}-wal`, `${copy}-wal`);
    const sqlite = new Database(copy, { fileMustExist: true });
    try {
      const tables = sqlite
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .pluck()
        .all() as string[];
      if (!tables.includes("audit_records") || !tables.includes("checkpoints")) {
        throw new UsageError(`${target.db} is not an audit trail database`);
      }
      const bar = progressBar("Verifying");
      const report = verifyTrail(sqlite, keys, {
        origin: loadConfig(process.env).TRAIL_ORIGIN,
        head,
        onProgress: (done, total) => bar.update(done, total),
      });
      bar.done(`Checked ${report.records} records`);
      const cp = report.checkpoint;
      console.log(`Verified ${target.db}`);
      console.log(`  records     ${report.records}`);
      console.log(`  users       ${report.users}`);
      console.log(`  sources     ${report.sources}`);
      console.log(`  invitations ${report.invitations}`);
      console.log(
        cp
          ? `  checkpoint  #${cp.number}: ${cp.treeSize} records, signed ${new Date(cp.createdAt).toISOString()}, key ${cp.keyId.slice(0, 12)}`
          : "  checkpoint  none",
      );
      if (cp) console.log(`  root        ${cp.rootHash.toString("hex")}`);
      console.log(`  head        ${describeHead(head)}`);
      if (report.ok) {
        console.log("Result: OK, no findings");
        return 0;
      }
      console.log(`Result: DATA INTEGRITY COMPROMISED, ${report.findings.length} finding(s)`);
      for (const line of formatFindings(report.findings)) console.log(`  ${line}`);
      return 1;
    } finally {
      sqlite.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
