import fs from "node:fs";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { intrude, sampleRecord } from "../../tests/trail";
import { auditor, patient } from "../../tests/users";
import { ACTION_SYSTEM, toAuditEvent } from "../fhir/audit-event.server";
import { r4Errors } from "../fhir/validator.testing";
import { appendRecords } from "../trail/append.server";
import { ensureTrailIntact } from "../trail/guard.server";
import { QUESTION_MAX } from "./case-text";
import { answerCase, askWhy, caseQueue, casesAboutRecord } from "./cases.server";
import { isBookkeepingAction } from "./own-actions";
import { PER_ACCOUNT_PER_DAY } from "./throttle.server";

const QUESTIONS_PER_DAY = PER_ACCOUNT_PER_DAY.question;
import { viewTrail } from "./trail-view.server";

let warn: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
});
afterEach(() => warn.mockRestore());

const alice = patient("MRN-ALICE");
const bob = patient("MRN-BOB");

/** A trail with one access to Alice's record and one to Bob's. */
async function trail() {
  const ctx = makeTestContext();
  const { records } = await appendRecords(ctx, [
    { ...sampleRecord(1, alice.patientId!), actorName: "Dr. Who" },
    sampleRecord(2, bob.patientId!),
  ]);
  return { ctx, aliceRecord: records[0]!.logId, bobRecord: records[1]!.logId };
}

function outboxFiles(ctx: TestContext): string[] {
  return fs.existsSync(ctx.config.OUTBOX_DIR) ? fs.readdirSync(ctx.config.OUTBOX_DIR) : [];
}

describe("ask why", () => {
  test("a question opens a case; the answer closes it and the patient reads it under the record", async () => {
    const { ctx, aliceRecord } = await trail();
    const asked = await askWhy(ctx, alice, aliceRecord, "  Why did Dr. Who read my labs?  ");
    expect(asked.ok).toBe(true);

    const queue = (await caseQueue(ctx, auditor))!;
    expect(queue.open).toHaveLength(1);
    expect(queue.open[0]).toMatchObject({
      recordLogId: aliceRecord,
      patientId: alice.patientId,
      state: "open",
      question: { text: "Why did Dr. Who read my labs?", byName: alice.name },
      record: { logId: aliceRecord, actorName: "Dr. Who" },
    });

    const caseId = queue.open[0]!.id;
    expect((await answerCase(ctx, auditor, caseId, "Routine review before surgery.")).ok).toBe(
      true,
    );
    const again = await answerCase(ctx, auditor, caseId, "Twice?");
    expect(again).toMatchObject({ ok: false, status: 409 });

    const cases = (await casesAboutRecord(ctx, alice, aliceRecord))!;
    expect(cases).toHaveLength(1);
    expect(cases[0]).toMatchObject({ state: "answered" });
    expect(cases[0]!.answers.map((a) => [a.text, a.byName])).toEqual([
      ["Routine review before surgery.", auditor.name],
    ]);
    const after = (await caseQueue(ctx, auditor))!;
    expect(after.open).toHaveLength(0);
    expect(after.answered.map((c) => c.id)).toEqual([caseId]);
  });

  test("the question and the answer are records of the trail, labelled, in the patient's own list only", async () => {
    const { ctx, aliceRecord } = await trail();
    await askWhy(ctx, alice, aliceRecord, "Who is this?");
    const caseId = (await caseQueue(ctx, auditor))!.open[0]!.id;
    await answerCase(ctx, auditor, caseId, "Your GP.");

    const aliceView = await viewTrail(ctx, alice);
    const labelled = aliceView.ok ? aliceView.records.map((r) => [r.action, r.notes]) : [];
    expect(labelled).toContainEqual(["ask_why", "Question: Who is this?"]);
    expect(labelled).toContainEqual(["answer_why", "Answer: Your GP."]);
    const bobView = await viewTrail(ctx, bob);
    expect(bobView.ok && bobView.records.some((r) => /Who is this|Your GP/.test(r.notes))).toBe(
      false,
    );
  });

  test("another patient can neither ask about nor see a case on someone else's record", async () => {
    const { ctx, aliceRecord } = await trail();
    await askWhy(ctx, alice, aliceRecord, "Why?");
    expect(await askWhy(ctx, bob, aliceRecord, "Why?")).toMatchObject({ ok: false, status: 404 });
    expect(await casesAboutRecord(ctx, bob, aliceRecord)).toEqual([]);
    const caseId = (await caseQueue(ctx, auditor))!.open[0]!.id;
    expect(await answerCase(ctx, bob, caseId, "I answer")).toMatchObject({ status: 404 });
    expect(await casesAboutRecord(ctx, bob, caseId)).toEqual([]);
    expect(await caseQueue(ctx, bob)).toBeNull();
  });

  test("bad input gets a clear refusal and nothing is appended", async () => {
    const { ctx, aliceRecord } = await trail();
    expect(await askWhy(ctx, alice, aliceRecord, "   ")).toMatchObject({ status: 400 });
    expect(await askWhy(ctx, alice, aliceRecord, "x".repeat(QUESTION_MAX + 1))).toMatchObject({
      status: 400,
      error: `At most ${QUESTION_MAX} characters, please.`,
    });
    expect(await askWhy(ctx, alice, aliceRecord, 42)).toMatchObject({ status: 400 });
    expect(await askWhy(ctx, alice, "not-a-log-id", "Why?")).toMatchObject({ status: 404 });
    expect(await answerCase(ctx, auditor, aliceRecord, "not a question")).toMatchObject({
      status: 404,
    });
    expect((await caseQueue(ctx, auditor))!.open).toHaveLength(0);
  });

  test("one open question per record, and an account is throttled per day", async () => {
    const { ctx, aliceRecord } = await trail();
    expect((await askWhy(ctx, alice, aliceRecord, "Why?")).ok).toBe(true);
    expect(await askWhy(ctx, alice, aliceRecord, "Why again?")).toMatchObject({ status: 409 });

    const more = await appendRecords(
      ctx,
      Array.from({ length: QUESTIONS_PER_DAY }, (_, i) => sampleRecord(10 + i, alice.patientId!)),
    );
    const outcomes = [];
    for (const r of more.records) outcomes.push(await askWhy(ctx, alice, r.logId, "Why?"));
    expect(outcomes.slice(0, QUESTIONS_PER_DAY - 1).every((o) => o.ok)).toBe(true);
    expect(outcomes[QUESTIONS_PER_DAY - 1]).toMatchObject({ ok: false, status: 429 });
    expect((await caseQueue(ctx, auditor))!.open).toHaveLength(QUESTIONS_PER_DAY);
  });

  test("a question about the trail's own case records is refused", async () => {
    const { ctx, aliceRecord } = await trail();
    const asked = await askWhy(ctx, alice, aliceRecord, "Why?");
    expect(asked.ok && (await askWhy(ctx, alice, asked.logId, "Why my question?"))).toMatchObject({
      status: 400,
    });
  });
});

describe("attacks on case records", () => {
  test("an edited answer is caught: the case is withheld and the admins are told which record", async () => {
    const { ctx, aliceRecord } = await trail();
    await askWhy(ctx, alice, aliceRecord, "Why?");
    const caseId = (await caseQueue(ctx, auditor))!.open[0]!.id;
    const answered = await answerCase(ctx, auditor, caseId, "A good reason.");
    const answerSeq = intrude(ctx, (db) => {
      // Another answer's ciphertext cannot be made without the keys: swap in the question's.
      const { seq } = db
        .prepare("SELECT seq FROM audit_records WHERE log_id = ?")
        .get(answered.ok ? answered.logId : "") as { seq: number };
      db.prepare(
        "UPDATE audit_records SET notes_enc = (SELECT notes_enc FROM audit_records WHERE log_id = ?) WHERE seq = ?",
      ).run(caseId, seq);
      return seq;
    });
    expect(await casesAboutRecord(ctx, alice, aliceRecord)).toBeNull();
    const status = await ensureTrailIntact(ctx, { viewerId: null });
    expect(!status.ok && status.findings).toContainEqual(
      expect.objectContaining({ target: "record", seq: answerSeq }),
    );
    await vi.waitFor(() => expect(outboxFiles(ctx).some((f) => f.endsWith(".eml"))).toBe(true));
  });

  test("a deleted answer reopens nothing unseen: the trail fails and the case is withheld", async () => {
    const { ctx, aliceRecord } = await trail();
    await askWhy(ctx, alice, aliceRecord, "Why?");
    const caseId = (await caseQueue(ctx, auditor))!.open[0]!.id;
    await answerCase(ctx, auditor, caseId, "Because.");
    intrude(ctx, (db) =>
      db
        .prepare("DELETE FROM audit_records WHERE seq = (SELECT max(seq) FROM audit_records)")
        .run(),
    );
    expect(await caseQueue(ctx, auditor)).toBeNull();
    expect(await casesAboutRecord(ctx, alice, aliceRecord)).toBeNull();
  });

  test("a source cannot write a case: its records with a case action are not taken for one", async () => {
    const { ctx, aliceRecord } = await trail();
    await appendRecords(ctx, [
      {
        ...sampleRecord(3, alice.patientId!),
        action: "ask_why",
        tableAffected: aliceRecord,
        notes: "Question: forged",
      },
    ]);
    expect(await casesAboutRecord(ctx, alice, aliceRecord)).toEqual([]);
    expect((await caseQueue(ctx, auditor))!.open).toEqual([]);
  });
});

describe("the trail's own case and notice records in FHIR", () => {
  test("export as valid R4 AuditEvents, action E with the exact action code", async () => {
    const { ctx, aliceRecord } = await trail();
    await askWhy(ctx, alice, aliceRecord, "Why?");
    const caseId = (await caseQueue(ctx, auditor))!.open[0]!.id;
    await answerCase(ctx, auditor, caseId, "Because.");
    const view = await viewTrail(ctx, alice);
    const own = view.ok ? view.records.filter((r) => isBookkeepingAction(r.action)) : [];
    expect(own.map((r) => r.action).sort()).toEqual(["answer_why", "ask_why"]);
    for (const record of own) {
      const event = toAuditEvent(record, { origin: ctx.config.TRAIL_ORIGIN });
      expect(r4Errors(event)).toEqual([]);
      expect(event).toMatchObject({
        action: "E",
        subtype: [{ system: ACTION_SYSTEM, code: record.action }],
      });
    }
  });
});
