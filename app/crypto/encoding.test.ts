import { describe, expect, it } from "vitest";
import { encodeFields } from "./encoding.server";

describe("encodeFields", () => {
  it("encodes each kind of field with its tag and length", () => {
    expect(encodeFields(["ab"]).toString("hex")).toBe("73" + "00000002" + "6162");
    expect(encodeFields([Buffer.from([1, 2, 3])]).toString("hex")).toBe(
      "62" + "00000003" + "010203",
    );
    expect(encodeFields([null]).toString("hex")).toBe("6e");
    expect(encodeFields([258]).toString("hex")).toBe("75" + "0000000000000102");
    expect(encodeFields([]).length).toBe(0);
  });

  it("does not confuse different splits of the same text", () => {
    const a = encodeFields(["ab", "c"]);
    const b = encodeFields(["a", "bc"]);
    const c = encodeFields(["abc"]);
    const d = encodeFields(["abc", ""]);
    expect(a.equals(b)).toBe(false);
    expect(a.equals(c)).toBe(false);
    expect(b.equals(c)).toBe(false);
    expect(c.equals(d)).toBe(false);
  });

  it("distinguishes null, the empty string and the empty buffer", () => {
    const asNull = encodeFields([null]);
    const asEmptyString = encodeFields([""]);
    const asEmptyBuffer = encodeFields([Buffer.alloc(0)]);
    expect(asNull.equals(asEmptyString)).toBe(false);
    expect(asNull.equals(asEmptyBuffer)).toBe(false);
    expect(asEmptyString.equals(asEmptyBuffer)).toBe(false);
    expect(encodeFields([null, null]).equals(encodeFields([null]))).toBe(false);
  });

  it("distinguishes a string from a buffer holding the same bytes", () => {
    const text = "héllo";
    const s = encodeFields([text]);
    const b = encodeFields([Buffer.from(text, "utf8")]);
    expect(s.equals(b)).toBe(false);
    // Only the tag differs: the length and bytes are the same.
    expect(s.subarray(1).equals(b.subarray(1))).toBe(true);
  });

  it("encodes strings as UTF-8 with the byte length, not the character count", () => {
    const encoded = encodeFields(["é"]);
    expect(encoded.readUInt32BE(1)).toBe(2);
    expect(encoded.subarray(5).toString("utf8")).toBe("é");
  });

  it("distinguishes an integer from the text of its digits", () => {
    expect(encodeFields([12]).equals(encodeFields(["12"]))).toBe(false);
    expect(encodeFields([0]).equals(encodeFields([null]))).toBe(false);
  });

  it("encodes numbers and bigints alike, over the full unsigned 64-bit range", () => {
    expect(encodeFields([42]).equals(encodeFields([42n]))).toBe(true);
    expect(encodeFields([0]).toString("hex")).toBe("75" + "00".repeat(8));
    expect(encodeFields([0xffffffffffffffffn]).toString("hex")).toBe("75" + "ff".repeat(8));
    expect(encodeFields([1]).equals(encodeFields([2]))).toBe(false);
  });

  it("rejects negative and too-large integers", () => {
    expect(() => encodeFields([-1])).toThrow(RangeError);
    expect(() => encodeFields([-1n])).toThrow(RangeError);
    expect(() => encodeFields([0x10000000000000000n])).toThrow(RangeError);
    expect(() => encodeFields([2 ** 64])).toThrow(RangeError);
  });

  it("rejects non-integer numbers", () => {
    expect(() => encodeFields([1.5])).toThrow();
    expect(() => encodeFields([Number.NaN])).toThrow();
  });

  it("is deterministic and concatenates fields in order", () => {
    const fields = ["x", 7, null, Buffer.from("y")] as const;
    expect(encodeFields(fields).equals(encodeFields(fields))).toBe(true);
    expect(encodeFields(fields).equals(Buffer.concat(fields.map((f) => encodeFields([f]))))).toBe(
      true,
    );
    expect(encodeFields(["x", 7]).equals(encodeFields([7, "x"]))).toBe(false);
  });
});
