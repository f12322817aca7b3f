// An intruder who can write the database file, but holds no key, edits the purpose of use: to
// hide an emergency access from its patient, or to pin one on an ordinary access. Each edit is
// caught like any other field: the view refuses, and the admins' alert names the rows.
import type Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { openMailbox, type Mailbox } from "../../tests/mailbox";
import { intrude, sampleRecord } from "../../tests/trail";
import { patient } from "../../tests/users";
import { purposeWords } from "../fhir/purpose-of-use";
import { viewTrail } from "../services/trail-view.server";
import { appendRecords } from "./append.server";
import { verifyNow } from "./guard.server";
import { verifyTrail } from "./verify.server";

let mailbox: Mailbox;
let ctx: TestContext;
/** Log ids by seq: 1 and 2 written without a purpose (versions 1 and 2), 3 TREAT, 4 BTG, 5 HPAYMT. */
let logIds: string[];
beforeEach(async () => {
  mailbox = await openMailbox();
  ctx = makeTestContext(mailbox.env);
  const result = await appendRecords(ctx, [
    sampleRecord(1, "MRN-1"),
    { ...sampleRecord(2, "MRN-1"), extra: '{"resourceType":"AuditEvent"}' },
    { ...sampleRecord(3, "MRN-1"), purpose: "TREAT" },
    { ...sampleRecord(4, "MRN-1"), purpose: "BTG" },
    { ...sampleRecord(5, "MRN-2"), purpose: "HPAYMT" },
  ]);
  logIds = ["", ...result.records.map((r) => r.logId)];
});
afterEach(() => mailbox.close());

/** What the patient MRN-1 is shown: the purpose in words, oldest first; null when refused. */
async function shownTo(patientId: string) {
  const view = await viewTrail(ctx, patient(patientId));
  if (!view.ok) return null;
  return view.records
    .filter((r) => r.sourceId === "test-ehr")
    .map((r) => `${r.seq}: ${purposeWords(r.purpose)}`)
    .reverse();
}

/** The alert the admins received, subject and text. */
async function alert() {
  const [mail] = await mailbox.received();
  return `${mail!.subject}\n${mail!.text}`;
}

describe("records with and without a purpose", () => {
  test("verify offline together, and older ones read as not given", async () => {
    const report = verifyTrail(ctx.conn.sqlite, ctx.keys.trustedPublicKeys, {
      origin: ctx.config.TRAIL_ORIGIN,
      head: { state: "not_checked" },
    });
    expect(report).toMatchObject({ ok: true, records: 5, findings: [] });
    expect(await shownTo("MRN-1")).toEqual([
      "1: Not given",
      "2: Not given",
      "3: Treatment",
      "4: Emergency access (break the glass)",
    ]);
    expect(mailbox.mails).toHaveLength(0);
  });
});

describe("a purpose edited through a second connection", () => {
  const swapPurposes = (a: number, b: number) => (db: Database.Database) => {
    const enc = (seq: number) =>
      db.prepare("SELECT purpose_enc FROM audit_records WHERE seq = ?").pluck().get(seq);
    const [first, second] = [enc(a), enc(b)];
    const set = db.prepare("UPDATE audit_records SET purpose_enc = ? WHERE seq = ?");
    set.run(second, a);
    set.run(first, b);
  };

  test.each([
    ["two rows' purposes swapped", swapPurposes(3, 4), [3, 4]],
    [
      "an emergency erased (both columns cleared)",
      (db: Database.Database) =>
        db
          .prepare(
            "UPDATE audit_records SET purpose_index = NULL, purpose_enc = NULL WHERE seq = 4",
          )
          .run(),
      [4],
    ],
    [
      "another patient's valid purpose copied over, blind index and ciphertext",
      (db: Database.Database) =>
        db
          .prepare(
            `UPDATE audit_records SET (purpose_index, purpose_enc) =
               (SELECT purpose_index, purpose_enc FROM audit_records WHERE seq = 5) WHERE seq = 4`,
          )
          .run(),
      [4],
    ],
    [
      "a purpose given to a record written without one",
      (db: Database.Database) =>
        db
          .prepare(
            `UPDATE audit_records SET (purpose_index, purpose_enc) =
               (SELECT purpose_index, purpose_enc FROM audit_records WHERE seq = 4) WHERE seq = 1`,
          )
          .run(),
      [1],
    ],
  ])("is caught: %s", async (_, tamper, seqs) => {
    expect(verifyNow(ctx).ok).toBe(true);
    intrude(ctx, tamper);
    expect(await shownTo("MRN-1")).toBeNull();
    const text = await alert();
    for (const seq of seqs) expect(text).toContain(`seq ${seq}, log id ${logIds[seq]}`);
    // Only the rows edited are named as modified.
    const named = [...text.matchAll(/seq (\d+), log id/g)].map((m) => Number(m[1]));
    expect(new Set(named)).toEqual(new Set(seqs));
    expect(text).not.toMatch(/TREAT|BTG|HPAYMT|break the glass/);
  });
});
