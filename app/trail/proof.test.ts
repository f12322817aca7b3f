import { describe, expect, test } from "vitest";
import { makeTestContext } from "../../tests/context";
import { seedTrail } from "../../tests/trail";
import { inclusionProof, rootOf } from "../crypto/merkle.server";
import { RECORD_COLUMNS, normalizeRecord, recordLeafHash } from "./encoding.server";
import { proveInclusion, TreeReader } from "./proof.server";

async function trail(count: number) {
  const ctx = makeTestContext();
  await seedTrail(ctx, count, 25);
  const leaves = (
    ctx.conn.sqlite
      .prepare(`SELECT ${RECORD_COLUMNS.join(", ")} FROM audit_records ORDER BY seq`)
      .raw(true)
      .all() as unknown[][]
  ).map((row) => recordLeafHash(normalizeRecord(row)));
  return { ctx, leaves };
}

describe("inclusion proofs from the stored tree", () => {
  test("appends store every complete subtree of 64 leaves and more", async () => {
    const { ctx, leaves } = await trail(200);
    const nodes = ctx.conn.sqlite
      .prepare("SELECT level, idx, hash FROM tree_nodes ORDER BY level, idx")
      .all() as {
      level: number;
      idx: number;
      hash: Buffer;
    }[];
    expect(nodes.map((n) => [n.level, n.idx])).toEqual([
      [6, 0],
      [6, 1],
      [6, 2],
      [7, 0],
    ]);
    for (const n of nodes) {
      const width = 2 ** n.level;
      expect(n.hash.equals(rootOf(leaves.slice(n.idx * width, (n.idx + 1) * width)))).toBe(true);
    }
  });

  test("match the RFC proofs for every leaf, at several tree sizes", async () => {
    const { ctx, leaves } = await trail(200);
    const reader = new TreeReader(ctx.conn.sqlite);
    for (const size of [1, 63, 64, 65, 128, 129, 200]) {
      for (let m = 0; m < size; m += size > 70 ? 7 : 1) {
        const expected = inclusionProof(leaves.slice(0, size), m);
        expect(reader.inclusionProof(m, size)).toEqual(expected);
      }
    }
  });

  test("verify against the signed root, and also without the stored subtrees", async () => {
    const { ctx, leaves } = await trail(150);
    const root = rootOf(leaves);
    expect(proveInclusion(ctx.conn.sqlite, leaves[100]!, 100, 150, root).verified).toBe(true);
    ctx.conn.sqlite.exec("DELETE FROM tree_nodes");
    const rebuilt = proveInclusion(ctx.conn.sqlite, leaves[100]!, 100, 150, root);
    expect(rebuilt.verified).toBe(true);
    expect(rebuilt.proof).toEqual(inclusionProof(leaves, 100));
  });

  test("a tampered stored subtree or a missing record makes the proof fail, not lie", async () => {
    const { ctx, leaves } = await trail(150);
    const root = rootOf(leaves);
    ctx.conn.sqlite
      .prepare("UPDATE tree_nodes SET hash = randomblob(32) WHERE level = 7 AND idx = 0")
      .run();
    expect(proveInclusion(ctx.conn.sqlite, leaves[140]!, 140, 150, root).verified).toBe(false);
    ctx.conn.sqlite.exec("DELETE FROM tree_nodes; DELETE FROM audit_records WHERE seq = 3");
    expect(proveInclusion(ctx.conn.sqlite, leaves[140]!, 140, 150, root)).toEqual({
      proof: [],
      verified: false,
    });
  });
});
