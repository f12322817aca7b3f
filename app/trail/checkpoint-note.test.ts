import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { intrude, seedTrail } from "../../tests/trail";
import { EMPTY_ROOT, rootOf, verifyConsistency, verifyInclusion } from "../crypto/merkle.server";
import { openNote, parseCheckpoint, parseVerifierKey } from "../crypto/note";
import { loader as checkpointRoute } from "../routes/checkpoint";
import { loader as consistencyRoute } from "../routes/api.proofs.consistency";
import { loader as inclusionRoute } from "../routes/api.proofs.inclusion.$logId";
import { noteVerifierKey } from "./checkpoint-note.server";
import { TreeReader } from "./proof.server";

// Alerts for the tampered trail go to the outbox and announce themselves with console.warn.
let warn: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
});
afterEach(() => {
  warn.mockRestore();
});

type Loader = typeof checkpointRoute;
async function get(ctx: TestContext, loader: Loader, url: string, params = {}) {
  const request = new Request(`http://localhost${url}`);
  const context = { app: ctx, cspNonce: "", clientAddress: "127.0.0.1" };
  return (await loader({ request, params, context })) as Response;
}

const b64 = (hashes: string[]) => hashes.map((h) => Buffer.from(h, "base64"));

/** The newest checkpoint as stored: its size and signed root. */
const newestCheckpoint = (ctx: TestContext) =>
  ctx.conn.sqlite
    .prepare("SELECT tree_size, root_hash FROM checkpoints ORDER BY number DESC LIMIT 1")
    .get() as { tree_size: number; root_hash: Buffer };

/** MTH of the first m records, from their leaves alone (no stored subtrees). */
const rootAt = (ctx: TestContext, m: number) =>
  rootOf(new TreeReader(ctx.conn.sqlite).leafHashes(0, m));

const tamper = (ctx: TestContext) =>
  intrude(ctx, (db) =>
    db.prepare("UPDATE audit_records SET notes_enc = notes_enc || x'00' WHERE seq = 9").run(),
  );

describe("with a trail of 150 records, past the stored subtrees of 64", () => {
  let ctx: TestContext;
  let logIds: string[];
  beforeEach(async () => {
    ctx = makeTestContext();
    logIds = await seedTrail(ctx, 150, 25);
  });

  it("GET /checkpoint serves the verified head as a note signed by the vkey's key", async () => {
    const response = await get(ctx, checkpointRoute, "/checkpoint");
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toBe("text/plain; charset=utf-8");
    const note = await response.text();
    const vkey = await parseVerifierKey(noteVerifierKey(ctx.keys));
    const checkpoint = parseCheckpoint((await openNote(note, [vkey])).text);
    const stored = newestCheckpoint(ctx);
    expect(checkpoint.origin).toBe(ctx.config.TRAIL_ORIGIN);
    expect(checkpoint.size).toBe(150);
    expect(stored.tree_size).toBe(150);
    expect(Buffer.from(checkpoint.rootHash).equals(stored.root_hash)).toBe(true);
    // Deterministic: the same checkpoint gives the same bytes, so nothing needs storing.
    expect(await (await get(ctx, checkpointRoute, "/checkpoint")).text()).toBe(note);
  });

  it.each([
    [1, 1],
    [1, 2],
    [3, 7],
    [25, 50],
    [63, 64],
    [64, 128],
    [65, 129],
    [100, 150],
    [127, 150],
    [150, 150],
  ])("serves a consistency proof from %i to %i that verifies", async (from, to) => {
    const response = await get(
      ctx,
      consistencyRoute,
      `/api/proofs/consistency?from=${from}&to=${to}`,
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as { from: number; to: number; proof: string[] };
    expect({ from: body.from, to: body.to }).toEqual({ from, to });
    const proof = b64(body.proof);
    expect(verifyConsistency(from, to, proof, rootAt(ctx, from), rootAt(ctx, to))).toBe(true);
    // Against another second root it fails.
    expect(verifyConsistency(from, to, proof, rootAt(ctx, from), rootAt(ctx, to - 1))).toBe(false);
  });

  it("proves up to the newest verified size when `to` is left out, and from 0 with no proof", async () => {
    const body = await (await get(ctx, consistencyRoute, "/api/proofs/consistency?from=50")).json();
    expect(body.to).toBe(150);
    const { root_hash } = newestCheckpoint(ctx);
    expect(verifyConsistency(50, 150, b64(body.proof), rootAt(ctx, 50), root_hash)).toBe(true);
    const empty = await (await get(ctx, consistencyRoute, "/api/proofs/consistency?from=0")).json();
    expect(empty).toEqual({ from: 0, to: 150, proof: [] });
  });

  it.each([
    ["", "from"],
    ["?from=", "from"],
    ["?from=-1", "from"],
    ["?from=abc", "from"],
    ["?from=1.5", "from"],
    ["?from=01", "from"],
    ["?from=1&from=2", "from"],
    ["?from=1e3", "from"],
    ["?from=1&to=x", "to"],
    ["?from=1&to=151", "150"],
    ["?from=10&to=5", "(5)"],
    ["?from=151", "(150)"],
  ])("refuses the query %j with 400", async (query, named) => {
    const response = await get(ctx, consistencyRoute, `/api/proofs/consistency${query}`);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("invalid_query");
    expect(body.error.message).toContain(named);
  });

  it("serves inclusion proofs of records that verify against the checkpoint", async () => {
    const { root_hash } = newestCheckpoint(ctx);
    for (const seq of [1, 64, 65, 128, 150]) {
      const logId = logIds[seq - 1]!;
      const response = await get(ctx, inclusionRoute, `/api/proofs/inclusion/${logId}`, { logId });
      expect(response.status).toBe(200);
      const body = await response.json();
      expect({ seq: body.seq, tree_size: body.tree_size }).toEqual({ seq, tree_size: 150 });
      const leaf = Buffer.from(body.leaf_hash, "base64");
      expect(verifyInclusion(leaf, seq - 1, 150, b64(body.proof), root_hash)).toBe(true);
      expect(verifyInclusion(leaf, seq, 150, b64(body.proof), root_hash)).toBe(false);
    }
    const logId = "00000000-0000-4000-8000-000000000000";
    const unknown = await get(ctx, inclusionRoute, `/api/proofs/inclusion/${logId}`, { logId });
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.code).toBe("not_found");
  });

  it("serves no inclusion proof that fails against the checkpoint: 503", async () => {
    // Through the server's own connection, so the guard keeps its verdict; the proof's check fails.
    ctx.conn.sqlite
      .prepare("UPDATE tree_nodes SET hash = zeroblob(32) WHERE level = 7 AND idx = 0")
      .run();
    const logId = logIds[149]!;
    const response = await get(ctx, inclusionRoute, `/api/proofs/inclusion/${logId}`, { logId });
    expect(response.status).toBe(503);
  });

  it("serves no note and no proof for a tampered trail: 503", async () => {
    tamper(ctx);
    const logId = logIds[0]!;
    const responses = [
      await get(ctx, checkpointRoute, "/checkpoint"),
      await get(ctx, consistencyRoute, "/api/proofs/consistency?from=1"),
      await get(ctx, inclusionRoute, `/api/proofs/inclusion/${logId}`, { logId }),
    ];
    expect(responses.map((r) => r.status)).toEqual([503, 503, 503]);
    expect(await responses[0]!.text()).not.toContain(ctx.config.TRAIL_ORIGIN);
    // The patient's browser tells this from a busy server by the header.
    expect(responses[0]!.headers.get("Trail-Integrity")).toBe("compromised");
    expect((await responses[1]!.json()).error.code).toBe("integrity_compromised");
  });
});

it("an empty trail's checkpoint is the empty tree", async () => {
  const ctx = makeTestContext();
  const note = await (await get(ctx, checkpointRoute, "/checkpoint")).text();
  const vkey = await parseVerifierKey(noteVerifierKey(ctx.keys));
  const checkpoint = parseCheckpoint((await openNote(note, [vkey])).text);
  expect(checkpoint.size).toBe(0);
  expect(Buffer.from(checkpoint.rootHash).equals(EMPTY_ROOT)).toBe(true);
  const proof = await (await get(ctx, consistencyRoute, "/api/proofs/consistency?from=0")).json();
  expect(proof).toEqual({ from: 0, to: 0, proof: [] });
});
