import { createHash } from "node:crypto";
import { expect, test } from "vitest";
import { LeafHashes } from "./leaf-hashes";

const hash = (i: number) => createHash("sha256").update(String(i)).digest();

test("keeps hashes by position as it grows, and a prefix copy grows on its own", () => {
  const leaves = new LeafHashes(2);
  leaves.append(Buffer.concat([hash(0), hash(1), hash(2)]));
  for (let i = 3; i < 100; i++) leaves.append(hash(i));
  expect(leaves.size).toBe(100);
  for (let i = 0; i < 100; i++) expect(leaves.at(i)!.equals(hash(i))).toBe(true);
  expect(leaves.at(100)).toBeNull();
  expect(leaves.at(-1)).toBeNull();

  const prefix = leaves.prefix(10);
  prefix.append(hash(999));
  expect(prefix.size).toBe(11);
  expect(prefix.at(10)!.equals(hash(999))).toBe(true);
  expect(leaves.at(10)!.equals(hash(10))).toBe(true);
});
