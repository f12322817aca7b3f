import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import type { KeyObject } from "node:crypto";
import { createPublicKey } from "node:crypto";
import { loadConfig } from "../app/config.server";
import { keyIdOf, loadTrustedPublicKeys } from "../app/keys.server";
import { formatFindings } from "../app/trail/alerts.server";
import { verifyExport } from "../app/trail/export-verify.server";
import { verifyTrailAsync } from "../app/trail/verify.server";
import { readHead, type HeadRead } from "../app/trail/witness.server";
import {
  askWitnesses,
  checkQuorum,
  headsToExtend,
  parseWitnessArg,
  storedHeads,
  type WitnessArg,
} from "../app/trail/witness-quorum.server";
import { progressBar } from "./progress";
import { UsageError } from "./trail-commands";

// `npm run cli -- verify`: a copy of the database, or an export, checked with public keys only.

/** The public keys in PEM `files`, by key id; an unreadable file is a usage error. */
export function publicKeysFrom(files: string[]): Map<string, KeyObject> {
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

function describeHead(head: HeadRead | { state: "witnessed" }): string {
  switch (head.state) {
    case "found":
      return `checkpoint #${head.head.number}, ${head.head.treeSize} records (${head.file})`;
    case "missing":
      return `MISSING: ${head.file}`;
    case "unreadable":
      return `UNREADABLE: ${head.file} ${head.reason}`;
    case "not_checked":
      return "not checked (--no-head): a rollback or a replaced database would not be seen";
    case "witnessed":
      return "not used: the witnesses anchor the trail (--witness)";
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
      witness: { type: "string", multiple: true },
      quorum: { type: "string" },
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
  const witnesses = await parseWitnessArgs(values.witness ?? []);
  const quorum = parseQuorum(values.quorum, witnesses.length);
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
  // With witnesses, no file on the server's disk is needed: the head is read only if given.
  const head: HeadRead | { state: "witnessed" } = values["no-head"]
    ? { state: "not_checked" }
    : witnesses.length > 0 && !values.head
      ? { state: "witnessed" }
      : headFile
        ? readHead(path.resolve(headFile))
        : { state: "missing", file: "(none given: use --head FILE, or --no-head)" };
  const origin = loadConfig(process.env).TRAIL_ORIGIN;
  const live = await askWitnesses(witnesses, origin);

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
      const stored = await storedHeads(sqlite, witnesses, origin);
      const bar = progressBar("Verifying");
      const trail = await verifyTrailAsync(sqlite, keys, {
        origin,
        head: head.state === "witnessed" ? { state: "not_checked" } : head,
        witnessed: headsToExtend(witnesses, live, stored),
        onProgress: (done, total) => bar.update(done, total),
      });
      bar.done(`Checked ${trail.records} records`);
      const quorumCheck = checkQuorum(trail.checkpoint, witnesses, live, stored, quorum);
      const findings = [...trail.findings, ...(witnesses.length > 0 ? quorumCheck.findings : [])];
      const report = { ...trail, findings, ok: findings.length === 0 };
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
      if (witnesses.length > 0) {
        console.log(`  witnesses   quorum ${quorum} of ${witnesses.length}`);
        for (const line of quorumCheck.lines) console.log(`    ${line}`);
      }
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

async function parseWitnessArgs(texts: string[]): Promise<WitnessArg[]> {
  const witnesses: WitnessArg[] = [];
  for (const text of texts) {
    const witness = await parseWitnessArg(text).catch((error: unknown) => {
      throw new UsageError(`--witness ${(error as Error).message}`);
    });
    if (witnesses.some((w) => w.vkey === witness.vkey)) {
      throw new UsageError(`--witness ${witness.key.name} is given twice`);
    }
    witnesses.push(witness);
  }
  return witnesses;
}

/** --quorum N: from 1 to the number of witnesses given; all of them by default. */
function parseQuorum(text: string | undefined, witnesses: number): number {
  if (text === undefined) return witnesses;
  if (witnesses === 0) throw new UsageError("--quorum needs --witness");
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < 1 || n > witnesses) {
    throw new UsageError(`--quorum must be a whole number from 1 to ${witnesses}`);
  }
  return n;
}
