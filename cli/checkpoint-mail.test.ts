import fs from "node:fs";
import { afterEach, beforeEach, expect, it } from "vitest";
import { openNote, parseCheckpoint, parseVerifierKey } from "../app/crypto/note";
import { noteVerifierKey } from "../app/trail/checkpoint-note.server";
import { startWitnessing, witnessingSettled } from "../app/trail/witnessing.server";
import { CLI_TIMEOUT as TIMEOUT, runCliAsync } from "../tests/cli";
import { makeTestContext, type TestContext } from "../tests/context";
import { openMailbox, type Mailbox } from "../tests/mailbox";
import { intrude, seedTrail } from "../tests/trail";
import { startTrailWitnesses, type WitnessProcess } from "../tests/witnesses";

// `npm run cli -- checkpoint --mail` in a child process, against a trail two real witness
// processes cosigned, mailing over real SMTP (so the CLI runs asynchronously: the SMTP server
// lives in this process).

let ctx: TestContext;
let witnesses: WitnessProcess[];
let mailbox: Mailbox;
let env: Record<string, string>;

beforeEach(async () => {
  mailbox = await openMailbox();
  let witnessEnv: { WITNESSES: string };
  ({ witnesses, env: witnessEnv } = await startTrailWitnesses());
  ctx = makeTestContext({ ...mailbox.env, ...witnessEnv });
  const witnessing = await startWitnessing(ctx);
  await seedTrail(ctx, 10, 4);
  await witnessingSettled(ctx);
  await witnessing.stop();
  const { DATABASE_PATH, KEYS_DIR, TRAIL_HEAD_PATH, OUTBOX_DIR } = ctx.config;
  env = {
    ...mailbox.env,
    ...witnessEnv,
    NODE_ENV: "test",
    DATABASE_PATH,
    KEYS_DIR,
    TRAIL_HEAD_PATH,
    OUTBOX_DIR,
  };
}, TIMEOUT);

afterEach(async () => {
  await mailbox.close();
});

it(
  "checkpoint --mail verifies, mails the cosigned anchor and says where it went",
  async () => {
    const sent = await runCliAsync(["checkpoint", "--mail"], env);
    expect(sent.stderr).toBe("");
    expect(sent.status).toBe(0);
    expect(sent.stdout).toMatch(
      /^The anchor \(10 records, checkpoint #3, cosigned by 2 of 2 witnesses\) was mailed to security@hospital\.test \(message <[^>]+>\)\.\n$/,
    );
    const [mail] = await mailbox.received(1);
    expect(mail!.subject).toMatch(/^Audit trail anchor \d{4}-\d\d-\d\d: 10 records, checkpoint #3/);
    const note = /----- BEGIN CHECKPOINT NOTE -----\n([\s\S]*?\n)----- END/.exec(mail!.text!)![1]!;
    const keys = await Promise.all(
      [noteVerifierKey(ctx.keys), ...witnesses.map((w) => w.vkey)].map(parseVerifierKey),
    );
    const opened = await openNote(note, keys);
    expect(opened.verified).toHaveLength(3);
    expect(parseCheckpoint(opened.text).size).toBe(10);
    expect(mail!.text).not.toMatch(/MRN|Dr\. Example|routine access/);

    // Without --mail: the note alone on stdout, as before, and no mail.
    const printed = await runCliAsync(["checkpoint"], env);
    expect(printed.status).toBe(0);
    expect(printed.stdout).toMatch(/^ehr-audit-trail\n10\n[A-Za-z0-9+/=]+\n\n— /);
    const usage = await runCliAsync(["checkpoint", "--mail", "extra"], env);
    expect(usage.status).toBe(2);
    expect(mailbox.mails).toHaveLength(1);
  },
  TIMEOUT,
);

it(
  "checkpoint --mail refuses a tampered trail: exit 1, the findings, and no anchor",
  async () => {
    intrude(ctx, (db) =>
      db.prepare("UPDATE audit_records SET notes_enc = notes_enc || x'00' WHERE seq = 2").run(),
    );
    const refused = await runCliAsync(["checkpoint", "--mail"], env);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toContain("fails verification");
    expect(refused.stderr).toContain("no checkpoint is mailed");
    expect(refused.stderr).toMatch(/seq 2/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mailbox.mails).toHaveLength(0);
  },
  TIMEOUT,
);

it(
  "checkpoint refuses a database that does not extend what the witnesses cosigned",
  async () => {
    // The newest records cut off, checkpoints and head with them: internally consistent.
    intrude(ctx, (db) => {
      db.exec("DELETE FROM audit_records WHERE seq > 4; DELETE FROM checkpoints WHERE number > 1");
    });
    const head = JSON.parse(fs.readFileSync(ctx.config.TRAIL_HEAD_PATH, "utf8")) as object;
    fs.writeFileSync(
      ctx.config.TRAIL_HEAD_PATH,
      JSON.stringify({ ...head, ...headOfFirstCheckpoint() }),
    );
    for (const args of [["checkpoint"], ["checkpoint", "--mail"]]) {
      const refused = await runCliAsync(args, env);
      expect(refused.status).toBe(1);
      expect(refused.stdout).toBe("");
      expect(refused.stderr).toMatch(/cosigned a tree of 10 records.*the database holds 4/);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mailbox.mails).toHaveLength(0);
  },
  TIMEOUT,
);

/** The head file's fields for checkpoint #1, as a rollback to it would leave them. */
function headOfFirstCheckpoint() {
  const row = ctx.conn.sqlite
    .prepare("SELECT number, tree_size, root_hash, last_log_id FROM checkpoints WHERE number = 1")
    .get() as { number: number; tree_size: number; root_hash: Buffer; last_log_id: string };
  return {
    number: row.number,
    treeSize: row.tree_size,
    rootHash: row.root_hash.toString("hex"),
    lastLogId: row.last_log_id,
  };
}
