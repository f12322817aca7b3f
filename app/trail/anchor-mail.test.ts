import type { ParsedMail } from "mailparser";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { openMailbox, type Mailbox } from "../../tests/mailbox";
import { intrude, seedTrail } from "../../tests/trail";
import { startTrailWitnesses, type WitnessProcess } from "../../tests/witnesses";
import { openNote, parseCheckpoint, parseVerifierKey, toBase64 } from "../crypto/note";
import { loader as checkpointRoute } from "../routes/checkpoint";
import { mailDailyAnchor, startDailyAnchor } from "./anchor-mail.server";
import { noteVerifierKey } from "./checkpoint-note.server";
import { startWitnessing, witnessingSettled, type Witnessing } from "./witnessing.server";

// The daily anchor: the newest cosigned checkpoint note, mailed to the admins over real SMTP,
// with two real witness processes cosigning it.

const DAY = 86_400_000;

let ctx: TestContext;
let witnesses: WitnessProcess[];
let witnessing: Witnessing;
let mailbox: Mailbox;

beforeEach(async () => {
  mailbox = await openMailbox();
  let witnessEnv: { WITNESSES: string };
  ({ witnesses, env: witnessEnv } = await startTrailWitnesses());
  ctx = makeTestContext({
    ...mailbox.env,
    ...witnessEnv,
  });
  witnessing = await startWitnessing(ctx);
});

afterEach(async () => {
  await witnessing.stop();
  await mailbox.close();
});

const keysOf = () => Promise.all(witnesses.map((w) => parseVerifierKey(w.vkey)));

/** The note between the markers of an anchor mail. */
function noteIn(mail: ParsedMail): string {
  const note =
    /^----- BEGIN CHECKPOINT NOTE -----\n([\s\S]*?\n)----- END CHECKPOINT NOTE -----$/m.exec(
      mail.text ?? "",
    )?.[1];
  if (!note) throw new Error(`no note in: ${mail.text}`);
  return note;
}

async function served(): Promise<string> {
  const request = new Request("http://localhost/checkpoint");
  const context = { app: ctx, cspNonce: "", clientAddress: "127.0.0.1" };
  return ((await checkpointRoute({ request, params: {}, context })) as Response).text();
}

describe("the daily anchor", () => {
  it("mails the cosigned note GET /checkpoint serves, without PHI, once a day", async () => {
    await seedTrail(ctx, 12, 4);
    await witnessingSettled(ctx);

    const delivery = await mailDailyAnchor(ctx);
    expect(delivery).toMatchObject({ via: "smtp" });
    const [mail] = await mailbox.received(1);
    expect(mail!.subject).toBe(
      "Audit trail anchor 2026-11-02: 12 records, checkpoint #3, cosigned by 2 of 2",
    );
    const note = noteIn(mail!);
    expect(note).toBe(await served());
    const logKey = await parseVerifierKey(noteVerifierKey(ctx.keys));
    const opened = await openNote(note, [logKey, ...(await keysOf())]);
    expect(opened.verified).toHaveLength(3);
    const checkpoint = parseCheckpoint(opened.text);
    expect(checkpoint).toMatchObject({ origin: ctx.config.TRAIL_ORIGIN, size: 12 });
    expect(mail!.text).toContain(`Root hash:   ${toBase64(checkpoint.rootHash)}`);
    expect(mail!.text).toContain("Cosigned by: 2 of 2 witnesses (quorum 2 reached)");
    expect(mail!.text).toContain("npm run cli -- checkpoint");
    // Sizes and hashes only: no patient, actor, table or note of any record.
    expect(`${mail!.subject}\n${mail!.text}`).not.toMatch(
      /MRN|Dr\. Example|dr-\d|routine access|medications|lab_results/,
    );

    // The same day: nothing, also after a restart (a new context: nothing kept in memory).
    await seedTrail(ctx, 4, 4);
    await witnessingSettled(ctx);
    expect(await mailDailyAnchor(ctx)).toBeNull();
    expect(await mailDailyAnchor({ ...ctx })).toBeNull();
    ctx.clock.now = Date.UTC(2026, 10, 2, 23, 59, 59, 999);
    expect(await mailDailyAnchor({ ...ctx })).toBeNull();
    expect(mailbox.mails).toHaveLength(1);

    // The next day: the new head.
    ctx.clock.now += 1; // midnight, UTC
    expect(await mailDailyAnchor({ ...ctx })).toMatchObject({ via: "smtp" });
    const second = (await mailbox.received(2))[1]!;
    expect(second.subject).toMatch(/^Audit trail anchor 2026-11-03: 16 records, checkpoint #4/);
    expect((await openNote(noteIn(second), [logKey, ...(await keysOf())])).verified).toHaveLength(
      3,
    );
  });

  it("retries a failed send later, and mails nothing while the trail fails verification", async () => {
    await seedTrail(ctx, 8, 4);
    await witnessingSettled(ctx);
    // The mail server is down: the send fails and the day stays open.
    const port = Number(new URL(mailbox.env.SMTP_URL!).port);
    await mailbox.close();
    await expect(mailDailyAnchor(ctx)).rejects.toThrow();
    mailbox = await openMailbox(port);
    expect(await mailDailyAnchor(ctx)).toMatchObject({ via: "smtp" });
    expect((await mailbox.received(1))[0]!.subject).toMatch(/^Audit trail anchor 2026-11-02/);

    // Tampered: the incident alert goes out, no anchor, and the next day stays open.
    ctx.clock.now += DAY;
    intrude(ctx, (db) =>
      db.prepare("UPDATE audit_records SET notes_enc = notes_enc || x'00' WHERE seq = 2").run(),
    );
    expect(await mailDailyAnchor(ctx)).toBeNull();
    const mails = await mailbox.received(2);
    expect(mails.map((m) => m.subject)).toEqual([
      expect.stringMatching(/^Audit trail anchor 2026-11-02/),
      expect.stringMatching(/^Data integrity compromised/),
    ]);
    expect(await mailDailyAnchor(ctx)).toBeNull();
    expect(mailbox.mails).toHaveLength(2);
  });

  it("runs on a timer started with the server, which stops", async () => {
    await seedTrail(ctx, 4, 4);
    await witnessingSettled(ctx);
    const stop = startDailyAnchor(ctx, { firstMs: 0, everyMs: 20 });
    try {
      await mailbox.received(1);
      ctx.clock.now += DAY;
      await mailbox.received(2);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(mailbox.mails.map((m) => m.subject)).toEqual([
        expect.stringMatching(/^Audit trail anchor 2026-11-02: 4 records/),
        expect.stringMatching(/^Audit trail anchor 2026-11-03: 4 records/),
      ]);
    } finally {
      await stop();
    }
    ctx.clock.now += DAY;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(mailbox.mails).toHaveLength(2);
  });

  it("retries on its timer after a failed send, reporting the failure", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
    await seedTrail(ctx, 4, 4);
    await witnessingSettled(ctx);
    const port = Number(new URL(mailbox.env.SMTP_URL!).port);
    await mailbox.close();
    const stop = startDailyAnchor(ctx, { firstMs: 0, everyMs: 50 });
    try {
      await vi.waitFor(() => expect(error).toHaveBeenCalled(), { timeout: 10_000 });
      expect(String(error.mock.calls[0]![0])).toMatch(/daily checkpoint anchor, retried later/);
      mailbox = await openMailbox(port);
      await mailbox.received(1);
    } finally {
      await stop();
      error.mockRestore();
    }
  });
});
