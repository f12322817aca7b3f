import { describe, expect, it } from "vitest";
import { makeTestContext } from "../../tests/context";
import { intrude, seedTrail } from "../../tests/trail";
import { recordsAtSeqs } from "../models/record.server";
import { RecordCheckFailed } from "../models/record.server";
import { verifyNow } from "../trail/guard.server";
import { openRecords } from "./open-records.server";

// Opened records are remembered by the exact bytes that were checked, never by seq alone.

describe("records opened for a view", () => {
  it("open a row again from memory, and catch a row another process edited since", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 4, 4);
    const { checkpoint } = verifyNow(ctx);
    const first = openRecords(ctx, recordsAtSeqs(ctx, [1, 2]), checkpoint);
    expect(openRecords(ctx, recordsAtSeqs(ctx, [1, 2]), checkpoint)).toEqual(first);

    // The intruder moves row 2's sealed notes into row 1, signature left as it was.
    intrude(ctx, (db) =>
      db.exec(
        "UPDATE audit_records SET notes_enc = (SELECT notes_enc FROM audit_records WHERE seq = 2) WHERE seq = 1",
      ),
    );
    expect(() => openRecords(ctx, recordsAtSeqs(ctx, [1]), checkpoint)).toThrow(RecordCheckFailed);
  });

  it("still confines a patient to their own records when the row comes from memory", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 4, 4);
    const { checkpoint } = verifyNow(ctx);
    const [auditorView] = openRecords(ctx, recordsAtSeqs(ctx, [1]), checkpoint);
    const other = auditorView!.patientId === "MRN-100" ? "MRN-101" : "MRN-100";
    expect(() => openRecords(ctx, recordsAtSeqs(ctx, [1]), checkpoint, other)).toThrow(
      RecordCheckFailed,
    );
    // And past the verified checkpoint nothing is opened, remembered or not.
    expect(() =>
      openRecords(ctx, recordsAtSeqs(ctx, [1]), { ...checkpoint!, treeSize: 0 }),
    ).toThrow(RecordCheckFailed);
  });
});
