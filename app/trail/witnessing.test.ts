import fs from "node:fs";
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { openMailbox, type Mailbox } from "../../tests/mailbox";
import { intrude, seedTrail } from "../../tests/trail";
import { auditor } from "../../tests/users";
import { startTrailWitnesses, type WitnessProcess } from "../../tests/witnesses";
import { VerifiedLine } from "../components/verified-line";
import { openNote, parseCheckpoint, parseVerifierKey } from "../crypto/note";
import { lastCosignedSize } from "../models/cosignature.server";
import { loader as checkpointRoute } from "../routes/checkpoint";
import { viewTrail } from "../services/trail-view.server";
import { noteVerifierKey } from "./checkpoint-note.server";
import { ensureTrailIntact } from "./guard.server";
import { checkWitnessLag } from "./witness-status.server";
import { startWitnessing, witnessingSettled, type Witnessing } from "./witnessing.server";

// The trail with two real witness processes on 127.0.0.1.

let ctx: TestContext;
let witnesses: WitnessProcess[];
let witnessing: Witnessing;
let mailbox: Mailbox;

async function setUp(env: Record<string, string> = {}) {
  mailbox = await openMailbox();
  let witnessEnv: { WITNESSES: string };
  ({ witnesses, env: witnessEnv } = await startTrailWitnesses());
  ctx = makeTestContext({
    ...mailbox.env,
    ...witnessEnv,
    ...env,
  });
  witnessing = await startWitnessing(ctx);
}

afterEach(async () => {
  await witnessing.stop();
  await mailbox.close();
});

const witnessName = (i: number) => witnesses[i]!.vkey.split("+")[0];
const keysOf = () => Promise.all(witnesses.map((w) => parseVerifierKey(w.vkey)));
const cosignedSizes = async () => (await keysOf()).map((key) => lastCosignedSize(ctx, key));

/** The status line an auditor's view of the trail shows. */
async function statusLine(): Promise<string> {
  const view = await viewTrail(ctx, auditor);
  if (!view.ok) throw new Error("the view was withheld");
  return renderToStaticMarkup(createElement(VerifiedLine, { status: view.status }));
}

async function getCheckpoint(): Promise<string> {
  const request = new Request("http://localhost/checkpoint");
  const context = { app: ctx, cspNonce: "", clientAddress: "127.0.0.1" };
  const response = (await checkpointRoute({ request, params: {}, context })) as Response;
  expect(response.status).toBe(200);
  return response.text();
}

describe("with two witnesses", () => {
  beforeEach(() => setUp());

  it("has every append cosigned by both, stored, and served at GET /checkpoint", async () => {
    await seedTrail(ctx, 12, 4);
    await witnessingSettled(ctx);
    expect(await cosignedSizes()).toEqual([12, 12]);

    const note = await getCheckpoint();
    const logKey = await parseVerifierKey(noteVerifierKey(ctx.keys));
    const opened = await openNote(note, [logKey, ...(await keysOf())]);
    expect(opened.verified).toHaveLength(3);
    expect(parseCheckpoint(opened.text).size).toBe(12);
    const status = await checkWitnessLag(ctx);
    expect(status).toMatchObject({ witnesses: 2, cosigners: 2, checkpointNumber: 3 });
    expect(status?.lagging).toBe(false);
    expect(await statusLine()).toMatch(/witnessed by 2 of 2, checkpoint #3, \d+ seconds ago/);

    // A row edited in the database (one witness's line passed off as the other's) counts for nothing.
    intrude(ctx, (db) =>
      db
        .prepare(
          "UPDATE witness_cosignatures SET signature_line = (SELECT signature_line FROM witness_cosignatures WHERE key_name = ? LIMIT 1) WHERE key_name = ?",
        )
        .run(witnessName(0), witnessName(1)),
    );
    expect(await checkWitnessLag(ctx)).toMatchObject({ cosigners: 1, secondsAgo: null });
  });

  it("brings a witness restored from a stale backup up to date with a consistency proof", async () => {
    const [stale] = witnesses;
    await seedTrail(ctx, 8, 4);
    await witnessingSettled(ctx);
    await stale!.stop();
    const backup = `${stale!.dir}.backup`;
    fs.cpSync(stale!.dir, backup, { recursive: true });
    await stale!.restart();
    await seedTrail(ctx, 8, 4);
    await witnessingSettled(ctx);
    expect(await cosignedSizes()).toEqual([16, 16]);

    // The witness comes back holding size 8 while the trail believes it holds 16: a 409.
    await stale!.stop();
    fs.rmSync(stale!.dir, { recursive: true });
    fs.renameSync(backup, stale!.dir);
    await stale!.restart();
    await seedTrail(ctx, 4, 4);
    await witnessingSettled(ctx);
    expect(await cosignedSizes()).toEqual([20, 20]);
    expect((await ensureTrailIntact(ctx)).ok).toBe(true);
    expect(mailbox.mails).toHaveLength(0);
  });
});

describe("with two witnesses that saw a longer history", () => {
  beforeEach(() => setUp());

  it("is compromised when they refuse a copy of the trail that does not extend it", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    await seedTrail(ctx, 12, 4);
    await witnessingSettled(ctx);
    // Another database under the same keys and origin, as after a rollback to an older copy.
    const rolledBack = makeTestContext({
      ...mailbox.env,
      WITNESSES: witnesses.map((w) => w.entry).join(","),
    });
    // The witnesses are down when it starts, so its first check finds no anchor to fail
    // (witness-anchor.test.ts covers the check at start); they refuse what it sends next.
    await Promise.all(witnesses.map((w) => w.stop()));
    expect((await ensureTrailIntact(rolledBack)).ok).toBe(true);
    await Promise.all(witnesses.map((w) => w.restart()));
    const sender = await startWitnessing(rolledBack);
    try {
      await seedTrail(rolledBack, 4, 4);
      await witnessingSettled(rolledBack);
      const status = await ensureTrailIntact(rolledBack);
      expect(status.ok).toBe(false);
      if (status.ok) return;
      const details = status.findings.map((f) => f.detail);
      const refusal = /witness .* refused the checkpoint of 4 records: it holds a tree of 12/;
      expect(details.filter((d) => refusal.test(d))).toHaveLength(2);
      // The refusal forces a full pass, which asks the witnesses and names what is cut off.
      expect(status.findings.filter((f) => f.kind === "missing").map((f) => f.seq)).toEqual([
        5, 6, 7, 8, 9, 10, 11, 12,
      ]);
      await status.alert;
      expect((await mailbox.received(1))[0]!.subject).toMatch(/^Data integrity compromised/);
      await expect(seedTrail(rolledBack, 4, 4)).rejects.toThrow(/failed verification/);
    } finally {
      await sender.stop();
      warn.mockRestore();
    }
  });
});

describe("with a witness down", () => {
  beforeEach(() => setUp({ WITNESS_MAX_LAG: "2" }));

  it("goes on appending, says it is not yet witnessed, and mails the admins once after the lag", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    await witnesses[1]!.stop();
    await seedTrail(ctx, 8, 4);
    expect((await ensureTrailIntact(ctx)).ok).toBe(true);
    await vi.waitFor(async () => expect(await cosignedSizes()).toEqual([8, 0]));
    expect(await checkWitnessLag(ctx)).toMatchObject({ cosigners: 1, lagging: false });
    // No quorum yet: the newest verified checkpoint, with the one cosignature it has.
    const logKey = await parseVerifierKey(noteVerifierKey(ctx.keys));
    const opened = await openNote(await getCheckpoint(), [logKey, ...(await keysOf())]);
    expect(opened.verified.map((v) => v.key.name)).toEqual([logKey.name, witnessName(0)]);

    ctx.clock.now += 3_000;
    await seedTrail(ctx, 4, 4);
    expect(await checkWitnessLag(ctx)).toMatchObject({ lagging: true, secondsAgo: null });
    expect(await statusLine()).toContain(
      "not yet witnessed: the newest records are still waiting for the witnesses&#x27; cosignatures",
    );
    const [mail] = await mailbox.received(1);
    expect(mail!.subject).toMatch(/not yet witnessed/);
    expect(mail!.text).toMatch(/Checkpoint #1 and later have waited more than 2 seconds/);
    expect(mail!.text).not.toMatch(/MRN|routine access/);

    await seedTrail(ctx, 4, 4);
    await checkWitnessLag(ctx);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(mailbox.mails).toHaveLength(1);
    warn.mockRestore();
  });
});
