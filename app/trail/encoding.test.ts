import { hash } from "node:crypto";
import { describe, expect, test } from "vitest";
import { makeTestContext } from "../../tests/context";
import { sampleRecord } from "../../tests/trail";
import { appendRecords } from "./append.server";
import {
  COL,
  normalizeRecord,
  RECORD_COLUMNS,
  recordLeafHash,
  recordLeafInput,
  recordSigningInput,
  SQL_LEAF_WITH_PREFIX,
} from "./encoding.server";

describe("the record encoding", () => {
  test("SQLite builds exactly the leaf bytes the code builds, for every row", async () => {
    const ctx = makeTestContext();
    await appendRecords(ctx, [
      sampleRecord(1),
      { ...sampleRecord(2), notes: "ünïcödé ✓ 医療記録", actorName: "Zoë Ångström" },
      { ...sampleRecord(3), notes: "" },
      { ...sampleRecord(4), extra: '{"resourceType":"AuditEvent","outcome":"4"}' },
      { ...sampleRecord(5), purpose: "TREAT" },
      { ...sampleRecord(6), purpose: "BTG", extra: '{"resourceType":"AuditEvent"}' },
    ]);
    const rows = ctx.conn.sqlite
      .prepare(
        `SELECT ${RECORD_COLUMNS.join(", ")}, ${SQL_LEAF_WITH_PREFIX} AS leaf FROM audit_records ORDER BY seq`,
      )
      .raw(true)
      .all() as unknown[][];
    expect(rows).toHaveLength(6);
    expect(rows[0]![2]).toBeNull(); // the first record has no predecessor
    expect(rows[3]![18]).toBeInstanceOf(Buffer); // version 2: with what the source sent
    expect(rows[4]![18]).toBeNull(); // version 3 without extra: encoded as null
    expect(rows[5]![20]).toBeInstanceOf(Buffer); // version 3: with a purpose
    for (const row of rows) {
      const leaf = row.pop() as Buffer;
      const record = normalizeRecord(row);
      expect(leaf.subarray(1).equals(recordLeafInput(record))).toBe(true);
      expect(Buffer.from(hash("sha256", leaf, "buffer")).equals(recordLeafHash(record))).toBe(true);
    }
  });

  test.each([
    ["1, without extra", null, null, 1],
    ["2, with what the source sent", '{"resourceType":"AuditEvent"}', null, 2],
    ["3, with a purpose of use", null, "ETREAT", 3],
    ["3, with a purpose and what the source sent", '{"resourceType":"AuditEvent"}', "HPAYMT", 3],
  ])(
    "the leaf is the signing input followed by the signature (version %s)",
    async (_, extra, purpose, v) => {
      const ctx = makeTestContext();
      await appendRecords(ctx, [{ ...sampleRecord(1), extra, purpose }]);
      const row = normalizeRecord(
        ctx.conn.sqlite
          .prepare(`SELECT ${RECORD_COLUMNS.join(", ")} FROM audit_records`)
          .raw(true)
          .get() as unknown[],
      );
      const signing = recordSigningInput(row);
      const leaf = recordLeafInput(row);
      // "ehr-audit-record" (5 + 16 bytes), then the version as an unsigned integer.
      expect(signing.readBigUInt64BE(22)).toBe(BigInt(v));
      expect(leaf.subarray(0, signing.length).equals(signing)).toBe(true);
      expect(leaf.subarray(signing.length, signing.length + 5)).toEqual(
        Buffer.from([0x62, 0, 0, 0x01, 0x80]),
      );
      expect(leaf.subarray(signing.length + 5).equals(row[17])).toBe(true);
    },
  );

  test("version 3 signs extra (or null), the purpose's blind index and its ciphertext, in that order", async () => {
    const ctx = makeTestContext();
    await appendRecords(ctx, [{ ...sampleRecord(1), purpose: "TREAT" }]);
    const row = normalizeRecord(
      ctx.conn.sqlite
        .prepare(`SELECT ${RECORD_COLUMNS.join(", ")} FROM audit_records`)
        .raw(true)
        .get() as unknown[],
    );
    const signing = recordSigningInput(row);
    const [index, sealed] = [row[COL.purposeIndex]!, row[COL.purposeEnc]!];
    const tail = Buffer.concat([
      Buffer.from([0x6e]),
      Buffer.from([0x62, 0, 0, 0, index.length]),
      index,
      Buffer.from([0x62, 0, 0, 0, sealed.length]),
      sealed,
    ]);
    expect(signing.subarray(signing.length - tail.length).equals(tail)).toBe(true);
    // Without its purpose columns the row reads as version 1, and the signed bytes differ.
    const stripped = [...row] as typeof row;
    stripped[COL.purposeIndex] = null;
    stripped[COL.purposeEnc] = null;
    expect(recordSigningInput(stripped).readBigUInt64BE(22)).toBe(1n);
    // One purpose column alone still makes version 3, with null in place of the other.
    const half = [...row] as typeof row;
    half[COL.purposeEnc] = null;
    expect(recordSigningInput(half).readBigUInt64BE(22)).toBe(3n);
    expect(recordSigningInput(half).equals(signing)).toBe(false);
  });

  test("a column of the wrong type is coerced, so checks fail instead of crashing", () => {
    const row = normalizeRecord([
      "7",
      42,
      null,
      "text",
      Buffer.alloc(1),
      null,
      1,
      Buffer.alloc(2),
      Buffer.alloc(2),
      Buffer.alloc(2),
      Buffer.alloc(2),
      Buffer.alloc(2),
      Buffer.alloc(2),
      -5,
      1.5,
      Buffer.from("src"),
      7,
      "sig",
      5,
      "idx",
      null,
    ]);
    expect(row[0]).toBe(0);
    expect(row[1]).toBe("42");
    expect(row[2]).toBeNull();
    expect(row[3]).toEqual(Buffer.from("text"));
    expect(row[5]).toEqual(Buffer.alloc(0));
    expect(row[13]).toBe(0);
    expect(row[14]).toBe(0);
    expect(row[15]).toBe("src");
    expect(row[16]).toBe("7");
    expect(row[18]).toEqual(Buffer.from("5"));
    expect(row[19]).toEqual(Buffer.from("idx"));
    expect(row[20]).toBeNull();
    expect(() => recordLeafInput(row)).not.toThrow();
  });
});
