import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CLI_TIMEOUT, runCliAsync } from "../../tests/cli";
import { makeTestContext, type TestContext } from "../../tests/context";
import { openMailbox, type Mailbox } from "../../tests/mailbox";
import { intrude, sampleRecord, seedTrail } from "../../tests/trail";
import { startTrailWitnesses, type WitnessProcess } from "../../tests/witnesses";
import { appendRecords } from "./append.server";
import type { Finding } from "./findings";
import { ensureTrailIntact } from "./guard.server";
import { resetTrust } from "./trust-reset.server";
import { startWitnessing, witnessingSettled, type Witnessing } from "./witnessing.server";

// An intruder who can write every file of the server, the keys included, against two real
// witness processes on 127.0.0.1: whatever history they put in place, the witnesses' heads
// give it away, at the next start, at the next full pass, and in `verify --witness`.

let ctx: TestContext;
let witnesses: WitnessProcess[];
let witnessing: Witnessing | null;
let mailbox: Mailbox;
const scratch: string[] = [];

beforeEach(async () => {
  mailbox = await openMailbox();
  ({ witnesses } = await startTrailWitnesses());
  ctx = makeTestContext(env());
  witnessing = await startWitnessing(ctx);
  await seedTrail(ctx, 12, 4);
  await witnessingSettled(ctx);
});

afterEach(async () => {
  await witnessing?.stop();
  await mailbox.close();
  for (const dir of scratch.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const env = (more: Record<string, string> = {}) => ({
  ...mailbox.env,
  WITNESSES: witnesses.map((w) => w.entry).join(","),
  ...more,
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ehr-intruder-"));
  scratch.push(dir);
  return dir;
}

/** Stops the running server's parts, as a restart does. */
async function shutDown(): Promise<void> {
  await witnessing?.stop();
  witnessing = null;
  ctx.conn.sqlite.close();
}

/**
 * What an intruder holding the trail's private keys builds: the same events but the one at
 * `drop`, plus one more so the size is unchanged, appended and signed by the trail's own code
 * into a fresh database, which writes its own matching head file.
 */
async function forgeTrail(keysDir: string, drop: number): Promise<TestContext> {
  const forged = makeTestContext({ KEYS_DIR: keysDir });
  const events = [...Array.from({ length: 13 }, (_, i) => i)].filter((i) => i !== drop);
  for (let i = 0; i < events.length; i += 4) {
    await appendRecords(
      forged,
      events.slice(i, i + 4).map((n) => sampleRecord(n)),
    );
  }
  return forged;
}

/** The server started again on these files, with the same witnesses configured. */
function restartOn(files: { db: string; head: string; keysDir?: string }): TestContext {
  return makeTestContext(
    env({
      DATABASE_PATH: files.db,
      TRAIL_HEAD_PATH: files.head,
      KEYS_DIR: files.keysDir ?? ctx.config.KEYS_DIR,
    }),
  );
}

async function findingsOf(app: TestContext): Promise<Finding[]> {
  const status = await ensureTrailIntact(app);
  expect(status.ok).toBe(false);
  if (status.ok) return [];
  await status.alert;
  return status.findings;
}

const byWitness = (findings: Finding[]) =>
  findings.filter((f) => f.target === "witness").map((f) => [f.kind, f.ref]);
const names = () => witnesses.map((w) => w.vkey.split("+")[0]!).sort();

function verifyWithWitnesses(db: string, keysDir: string, urls: boolean) {
  const args = ["verify", "--db", db, "--keys", keysDir];
  for (const w of witnesses) args.push("--witness", urls ? w.entry : w.vkey);
  return runCliAsync(args, { TRAIL_ORIGIN: ctx.config.TRAIL_ORIGIN, NODE_ENV: "test" });
}

describe("the witnesses anchor the trail", () => {
  it(
    "catches a rollback to an older copy with its older head file, at start and in verify",
    async () => {
      const old = tempDir();
      const oldDb = path.join(old, "app.db");
      // A copy of 12 records and their head, kept by the intruder; the trail goes on to 20.
      await ctx.conn.sqlite.backup(oldDb);
      fs.copyFileSync(ctx.config.TRAIL_HEAD_PATH, path.join(old, "trail-head.json"));
      await seedTrail(ctx, 8, 4);
      await witnessingSettled(ctx);
      await shutDown();

      const restarted = restartOn({ db: oldDb, head: path.join(old, "trail-head.json") });
      const findings = await findingsOf(restarted);
      expect(byWitness(findings)).toEqual(names().map((n) => ["rollback", n]));
      expect(findings.find((f) => f.target === "witness")!.detail).toMatch(
        /cosigned a tree of 20 records.*the database holds 12/,
      );
      expect(findings.filter((f) => f.kind === "missing").map((f) => f.seq)).toEqual([
        13, 14, 15, 16, 17, 18, 19, 20,
      ]);
      const [mail] = await mailbox.received(1);
      expect(mail!.subject).toMatch(/^Data integrity compromised/);
      expect(mail!.text).toMatch(/Rolled back/);
      expect(mail!.text).toContain(`witness ${names()[0]}`);
      expect(mail!.text).not.toMatch(/MRN|routine access/);

      // No operator's reset sets the witnesses aside.
      const reset = await resetTrust(restarted, "restored from backup", "ops");
      expect(reset.ok).toBe(false);
      if (!reset.ok) expect(byWitness(reset.findings)).toEqual(names().map((n) => ["rollback", n]));
      restarted.conn.sqlite.close();

      const asked = await verifyWithWitnesses(oldDb, ctx.config.KEYS_DIR, true);
      expect(asked.status, asked.stdout + asked.stderr).toBe(1);
      expect(asked.stdout).toMatch(/cosigned a tree of 20 records/);
      expect(asked.stdout).toMatch(/head +not used: the witnesses anchor the trail/);
      // Without their URLs only the cosignatures in the copy are at hand, and they vouch for
      // its 12 records: a rollback to a witnessed copy needs the witnesses asked.
      const offline = await verifyWithWitnesses(oldDb, ctx.config.KEYS_DIR, false);
      expect(offline.status, offline.stdout).toBe(0);
    },
    CLI_TIMEOUT,
  );

  it(
    "catches history re-signed with the trail's own private key, live and after a restart",
    async () => {
      const forged = await forgeTrail(ctx.config.KEYS_DIR, 5);
      // Live: the intruder swaps every row through a second connection, and the head file.
      intrude(ctx, (db) => {
        db.exec(`ATTACH '${forged.config.DATABASE_PATH}' AS forged`);
        for (const table of ["audit_records", "checkpoints", "tree_nodes"]) {
          db.exec(
            `DELETE FROM main.${table}; INSERT INTO main.${table} SELECT * FROM forged.${table}`,
          );
        }
      });
      fs.copyFileSync(forged.config.TRAIL_HEAD_PATH, ctx.config.TRAIL_HEAD_PATH);
      const live = await findingsOf(ctx);
      expect(byWitness(live)).toEqual(names().map((n) => ["rollback", n]));
      expect(live.find((f) => f.target === "witness")!.detail).toMatch(
        /do not reproduce the tree of 12 records, .*history was rewritten/,
      );
      await shutDown();

      // After a restart on the forged files, its head deleted: nothing in memory helps now.
      fs.rmSync(forged.config.TRAIL_HEAD_PATH);
      const restarted = restartOn({
        db: forged.config.DATABASE_PATH,
        head: forged.config.TRAIL_HEAD_PATH,
      });
      const findings = await findingsOf(restarted);
      expect(byWitness(findings)).toEqual(names().map((n) => ["rollback", n]));
      expect(findings.some((f) => f.kind === "anchor" && f.target === "head")).toBe(true);
      restarted.conn.sqlite.close();

      for (const urls of [true, false]) {
        const run = await verifyWithWitnesses(
          forged.config.DATABASE_PATH,
          ctx.config.KEYS_DIR,
          urls,
        );
        expect(run.status, run.stdout + run.stderr).toBe(1);
        // Asked, the witnesses give it away; offline, the copy holds no cosignature of its own.
        expect(run.stdout).toMatch(
          urls ? /history was rewritten/ : /vouched for by 0 of the 2 witnesses required/,
        );
      }
    },
    CLI_TIMEOUT,
  );

  it(
    "catches a new key pair put in KEYS_DIR with everything re-signed by it",
    async () => {
      const newKeys = tempDir();
      const forged = await forgeTrail(newKeys, 12);
      // The intruder keeps the witnesses' cosignatures, hoping they still count.
      intrude(forged, (db) => {
        db.exec(`ATTACH '${ctx.config.DATABASE_PATH}' AS real`);
        db.exec("INSERT INTO witness_cosignatures SELECT * FROM real.witness_cosignatures");
      });
      await shutDown();
      const restarted = restartOn({
        db: forged.config.DATABASE_PATH,
        head: forged.config.TRAIL_HEAD_PATH,
        keysDir: newKeys,
      });
      const findings = await findingsOf(restarted);
      expect(byWitness(findings)).toEqual(
        names().flatMap((n) => [
          ["unknown_key", n],
          ["rollback", n],
        ]),
      );
      expect(findings[0]!.detail).toMatch(/not signed by this trail's note key/);
      restarted.conn.sqlite.close();

      const run = await verifyWithWitnesses(forged.config.DATABASE_PATH, newKeys, false);
      expect(run.status, run.stdout).toBe(1);
      expect(run.stdout).toMatch(/history was rewritten/);
    },
    CLI_TIMEOUT,
  );

  it(
    "passes verify --witness on the intact trail, and refuses bad witness arguments",
    async () => {
      await shutDown();
      const ok = await verifyWithWitnesses(ctx.config.DATABASE_PATH, ctx.config.KEYS_DIR, true);
      expect(ok.status, ok.stdout + ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/quorum 2 of 2/);
      expect(ok.stdout).toMatch(/holds a tree of 12 records.*vouches for the newest checkpoint/);

      // One witness down: with --quorum 1 the other suffices; by default both must answer.
      await witnesses[1]!.stop();
      const one = await verifyWithWitnesses(ctx.config.DATABASE_PATH, ctx.config.KEYS_DIR, true);
      expect(one.status).toBe(1);
      expect(one.stdout).toMatch(/UNREACHABLE/);
      const base = ["verify", "--db", ctx.config.DATABASE_PATH, "--keys", ctx.config.KEYS_DIR];
      const envOf = { TRAIL_ORIGIN: ctx.config.TRAIL_ORIGIN, NODE_ENV: "test" };
      const quorum1 = await runCliAsync(
        [...base, ...witnesses.flatMap((w) => ["--witness", w.entry]), "--quorum", "1"],
        envOf,
      );
      expect(quorum1.status, quorum1.stdout).toBe(0);

      for (const [args, message] of [
        [["--witness", "not-a-key"], /--witness not-a-key: not a witness verifier key/],
        [["--witness", `${witnesses[0]!.vkey}@ftp://x`], /no http:\/\/ or https:\/\/ URL/],
        [
          ["--witness", witnesses[0]!.vkey, "--quorum", "2"],
          /--quorum must be a whole number from 1 to 1/,
        ],
        [["--quorum", "1"], /--quorum needs --witness/],
      ] as const) {
        const bad = await runCliAsync([...base, ...args], envOf);
        expect(bad.status).toBe(2);
        expect(bad.stderr).toMatch(message);
      }
    },
    CLI_TIMEOUT,
  );
});
