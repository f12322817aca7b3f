import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { consistencyProof, rootOf } from "../crypto/merkle.server";
import {
  SIG_COSIGNATURE_V1,
  SIG_ED25519,
  formatCheckpoint,
  formatNote,
  formatVerifierKey,
  generateSigner,
  parseNote,
  signText,
  type NoteSigner,
} from "../crypto/note";
import {
  INTEGRITY_HEADER,
  decide,
  proofRange,
  readStored,
  storageKey,
  type HistoryTrust,
  type ProofResponse,
  type StoredHistory,
  type Verdict,
} from "./history-check";
import { runHistoryCheck } from "./history-check-browser";

// The patient's check as a pure function: every attack the browser must see as a different
// history, and the cases that are only "not yet witnessed" or "could not check".

const ORIGIN = "hospital.test/trail";
const leaves = (n: number, seed = "trail") =>
  Array.from({ length: n }, (_, i) => createHash("sha256").update(`${seed}/${i}`).digest());
const TREE = leaves(40);

const log = (await generateSigner(ORIGIN, SIG_ED25519)).signer;
const otherLog = (await generateSigner(ORIGIN, SIG_ED25519)).signer;
const w1 = (await generateSigner("witness-one", SIG_COSIGNATURE_V1)).signer;
const w2 = (await generateSigner("witness-two", SIG_COSIGNATURE_V1)).signer;
const w3 = (await generateSigner("witness-three", SIG_COSIGNATURE_V1)).signer;
const vkey = (s: NoteSigner) => formatVerifierKey(s);

const TRUST: HistoryTrust = {
  origin: ORIGIN,
  logKey: vkey(log),
  witnessKeys: [vkey(w1), vkey(w2)],
  quorum: 2,
};

/** A checkpoint note over the first `size` leaves of `tree`, signed by `signers`. */
async function note(size: number, signers: NoteSigner[], tree = TREE, origin = ORIGIN) {
  const text = formatCheckpoint({
    origin,
    size,
    rootHash: rootOf(tree.slice(0, size)),
    extensions: [],
  });
  const signatures = await Promise.all(signers.map((s) => signText(text, s)));
  return formatNote({ text, signatures });
}

const rootB64 = (size: number, tree = TREE) => rootOf(tree.slice(0, size)).toString("base64");
const stored = (size: number, trust = TRUST, tree = TREE): StoredHistory => ({
  v: 1,
  keys: { logKey: trust.logKey, witnessKeys: [...trust.witnessKeys].sort(), quorum: trust.quorum },
  anchor: { size, root: rootB64(size, tree) },
});
const proof = (from: number, to: number, tree = TREE): ProofResponse => ({
  from,
  to,
  proof: consistencyProof(tree.slice(0, to), from).map((h) => h.toString("base64")),
});

const red = (v: Verdict, pattern: RegExp) => {
  expect(v.kind).toBe("different");
  expect(v.kind === "different" && v.reason).toMatch(pattern);
};

describe("decide: a history that extends what the browser saw", () => {
  it("first visit: checks the signatures, pins the keys and anchors a quorum-cosigned checkpoint", async () => {
    const v = await decide({
      trust: TRUST,
      stored: null,
      note: await note(7, [log, w1, w2]),
      proof: null,
    });
    expect(v).toMatchObject({ kind: "checked", size: 7, cosigners: 2, witnessed: true });
    expect(v.kind === "checked" && v.previousSize).toBeNull();
    expect(v.kind === "checked" && v.next).toEqual(stored(7));
  });

  it("a larger checkpoint with a valid consistency proof advances the anchor", async () => {
    const n = await note(19, [log, w2, w1]);
    expect(proofRange(stored(7), n)).toEqual({ from: 7, to: 19 });
    const v = await decide({ trust: TRUST, stored: stored(7), note: n, proof: proof(7, 19) });
    expect(v).toMatchObject({ kind: "checked", size: 19, previousSize: 7, witnessed: true });
    expect(v.kind === "checked" && v.next.anchor).toEqual({ size: 19, root: rootB64(19) });
  });

  it("the same checkpoint again needs no proof", async () => {
    const n = await note(7, [log, w1, w2]);
    expect(proofRange(stored(7), n)).toBeNull();
    const v = await decide({ trust: TRUST, stored: stored(7), note: n, proof: null });
    expect(v).toMatchObject({ kind: "checked", size: 7, previousSize: 7 });
  });

  it("ignores signatures by keys it does not know", async () => {
    const v = await decide({
      trust: TRUST,
      stored: null,
      note: await note(7, [log, w1, w3, w2]),
      proof: null,
    });
    expect(v).toMatchObject({ kind: "checked", cosigners: 2, witnessed: true });
  });

  it("without witnesses every log-signed checkpoint is the anchor", async () => {
    const trust = { ...TRUST, witnessKeys: [], quorum: 0 };
    const v = await decide({
      trust,
      stored: stored(3, trust),
      note: await note(9, [log]),
      proof: proof(3, 9),
    });
    expect(v).toMatchObject({ kind: "checked", witnessed: true, quorum: 0 });
    expect(v.kind === "checked" && v.next.anchor?.size).toBe(9);
  });
});

describe("decide: not yet witnessed is not red", () => {
  it("missing cosignatures: checked, not witnessed, and the anchor stays where the quorum was", async () => {
    const v = await decide({
      trust: TRUST,
      stored: stored(7),
      note: await note(12, [log, w1]),
      proof: proof(7, 12),
    });
    expect(v).toMatchObject({ kind: "checked", size: 12, cosigners: 1, witnessed: false });
    expect(v.kind === "checked" && v.next.anchor).toEqual(stored(7).anchor);
  });

  it("on a first visit it pins the keys but anchors nothing", async () => {
    const v = await decide({ trust: TRUST, stored: null, note: await note(4, [log]), proof: null });
    expect(v).toMatchObject({ kind: "checked", witnessed: false, cosigners: 0 });
    expect(v.kind === "checked" && v.next.anchor).toBeNull();
    expect(v.kind === "checked" && v.next.keys.logKey).toBe(TRUST.logKey);
  });

  it("an unwitnessed checkpoint must still extend the anchor", async () => {
    const forked = TREE.map((l, i) => (i === 3 ? leaves(1, "fork")[0]! : l));
    red(
      await decide({
        trust: TRUST,
        stored: stored(7),
        note: await note(12, [log], forked),
        proof: proof(7, 12, forked),
      }),
      /does not extend the 7 records/,
    );
  });
});

describe("decide: a different history is red", () => {
  it("a different root at the same size (a fork signed with the real keys)", async () => {
    const forked = TREE.map((l, i) => (i === 5 ? leaves(1, "fork")[0]! : l));
    red(
      await decide({
        trust: TRUST,
        stored: stored(7),
        note: await note(7, [log, w1, w2], forked),
        proof: null,
      }),
      /different history at the same size \(7\)/,
    );
  });

  it("a smaller size (a rollback), even fully cosigned", async () => {
    red(
      await decide({
        trust: TRUST,
        stored: stored(19),
        note: await note(7, [log, w1, w2]),
        proof: null,
      }),
      /went back from 19 to 7 records/,
    );
  });

  it("a larger tree that rewrote an old record, whichever proof the server sends", async () => {
    const forked = TREE.map((l, i) => (i === 2 ? leaves(1, "fork")[0]! : l));
    const n = await note(19, [log, w1, w2], forked);
    for (const p of [proof(7, 19, forked), proof(7, 19), null, { from: 7, to: 19, proof: ["%"] }]) {
      red(await decide({ trust: TRUST, stored: stored(7), note: n, proof: p }), /does not extend/);
    }
  });

  it("a proof for other sizes than asked", async () => {
    red(
      await decide({
        trust: TRUST,
        stored: stored(7),
        note: await note(19, [log, w1, w2]),
        proof: proof(8, 19),
      }),
      /does not extend/,
    );
  });

  it("a bad log signature", async () => {
    const n = parseNote(await note(7, [log, w1, w2]));
    n.signatures[0]!.signature[10]! ^= 1;
    red(
      await decide({ trust: TRUST, stored: stored(7), note: formatNote(n), proof: null }),
      /signatures do not verify \(the signature by hospital.test\/trail does not verify\)/,
    );
  });

  it("a checkpoint signed by another log key, with or without the witnesses", async () => {
    for (const signers of [[otherLog], [otherLog, w1, w2]]) {
      const v = await decide({
        trust: TRUST,
        stored: stored(7),
        note: await note(7, signers),
        proof: null,
      });
      red(
        v,
        signers.length === 1 ? /no signature by a trusted key/ : /not signed by the log's key/,
      );
    }
  });

  it("a bad cosignature by a pinned witness", async () => {
    const n = parseNote(await note(7, [log, w1, w2]));
    n.signatures[2]!.signature[40]! ^= 1;
    red(
      await decide({ trust: TRUST, stored: null, note: formatNote(n), proof: null }),
      /signature by witness-two does not verify/,
    );
  });

  it("a checkpoint of another trail", async () => {
    red(
      await decide({
        trust: TRUST,
        stored: null,
        note: await note(7, [log, w1, w2], TREE, "other-trail"),
        proof: null,
      }),
      /names another trail/,
    );
  });

  it("changed keys: the log key, the witness list or the quorum, before anything is fetched", async () => {
    const n = await note(7, [otherLog, w1, w2]);
    const cases: [HistoryTrust, RegExp][] = [
      [{ ...TRUST, logKey: vkey(otherLog) }, /log's signing key changed/],
      [{ ...TRUST, witnessKeys: [vkey(w1), vkey(w3)] }, /list of witnesses changed/],
      [{ ...TRUST, witnessKeys: [vkey(w1), vkey(w2), vkey(w3)] }, /list of witnesses changed/],
      [{ ...TRUST, quorum: 1 }, /number of witnesses required changed/],
    ];
    for (const [trust, pattern] of cases) {
      red(await decide({ trust, stored: stored(7), note: n, proof: null }), pattern);
    }
    // The witness list is compared as a set: the order on the page does not matter.
    const reordered = { ...TRUST, witnessKeys: [vkey(w2), vkey(w1)] };
    const same = await decide({
      trust: reordered,
      stored: stored(7),
      note: await note(7, [log, w1, w2]),
      proof: null,
    });
    expect(same.kind).toBe("checked");
  });
});

describe("decide: nothing to check is neutral", () => {
  it("an unreadable note or unreadable keys", async () => {
    for (const n of ["<html>proxy error</html>", ""]) {
      const v = await decide({ trust: TRUST, stored: stored(7), note: n, proof: null });
      expect(v.kind).toBe("unavailable");
    }
    const v = await decide({
      trust: { ...TRUST, logKey: "not a key" },
      stored: null,
      note: await note(7, [log]),
      proof: null,
    });
    expect(v.kind).toBe("unavailable");
  });
});

describe("readStored", () => {
  it("takes only a well-formed state", () => {
    const good = stored(7);
    expect(readStored(JSON.stringify(good))).toEqual(good);
    for (const bad of [
      null,
      "",
      "{",
      "[]",
      JSON.stringify({ ...good, v: 2 }),
      JSON.stringify({ ...good, anchor: { size: -1, root: good.anchor!.root } }),
      JSON.stringify({ ...good, anchor: { size: 7, root: "AAAA" } }),
      JSON.stringify({ ...good, keys: { ...good.keys, witnessKeys: [1] } }),
    ]) {
      expect(readStored(bad)).toBeNull();
    }
  });
});

describe("runHistoryCheck", () => {
  function fakeBrowser(routes: Record<string, () => Response | Promise<Response>>) {
    const items = new Map<string, string>();
    const requested: string[] = [];
    const deps = {
      storage: {
        getItem: (k: string) => items.get(k) ?? null,
        setItem: (k: string, v: string) => void items.set(k, v),
      },
      fetch: (async (url: string) => {
        requested.push(url);
        const route = routes[url];
        if (!route) throw new TypeError("Failed to fetch");
        return route();
      }) as typeof fetch,
    };
    return { items, requested, deps };
  }

  it("stores the anchor, fetches the proof it needs, and stores nothing on red", async () => {
    const routes: Record<string, () => Response> = {};
    const b = fakeBrowser(routes);
    let served = await note(7, [log, w1, w2]);
    routes["/checkpoint"] = () => new Response(served);
    expect(await runHistoryCheck(TRUST, b.deps)).toMatchObject({ kind: "checked", size: 7 });
    expect(readStored(b.items.get(storageKey(ORIGIN))!)?.anchor?.size).toBe(7);

    served = await note(19, [log, w1, w2]);
    routes["/api/proofs/consistency?from=7&to=19"] = () => Response.json(proof(7, 19));
    expect(await runHistoryCheck(TRUST, b.deps)).toMatchObject({ kind: "checked", size: 19 });
    expect(b.requested).toContain("/api/proofs/consistency?from=7&to=19");

    served = await note(7, [log, w1, w2]);
    const v = await runHistoryCheck(TRUST, b.deps);
    expect(v.kind).toBe("different");
    expect(readStored(b.items.get(storageKey(ORIGIN))!)?.anchor?.size).toBe(19);
  });

  it("a network failure or a server error is neutral and changes nothing", async () => {
    const b = fakeBrowser({});
    expect(await runHistoryCheck(TRUST, b.deps)).toMatchObject({ kind: "unavailable" });
    const down = fakeBrowser({ "/checkpoint": () => new Response("no", { status: 503 }) });
    expect(await runHistoryCheck(TRUST, down.deps)).toMatchObject({
      kind: "unavailable",
      reason: expect.stringMatching(/HTTP 503/),
    });
    expect(down.items.size).toBe(0);

    const noProof = fakeBrowser({
      "/checkpoint": async () => new Response(await note(19, [log, w1, w2])),
    });
    noProof.deps.storage.setItem(storageKey(ORIGIN), JSON.stringify(stored(7)));
    expect(await runHistoryCheck(TRUST, noProof.deps)).toMatchObject({ kind: "unavailable" });
    expect(readStored(noProof.items.get(storageKey(ORIGIN))!)?.anchor?.size).toBe(7);
  });

  it("changed keys are red even when the server serves no checkpoint", async () => {
    const b = fakeBrowser({ "/checkpoint": () => new Response("no", { status: 503 }) });
    b.deps.storage.setItem(storageKey(ORIGIN), JSON.stringify(stored(7)));
    const v = await runHistoryCheck({ ...TRUST, logKey: vkey(otherLog) }, b.deps);
    expect(v).toMatchObject({
      kind: "different",
      reason: expect.stringMatching(/signing key changed/),
    });
    expect(b.requested).toEqual([]);
  });

  it("a server that reports its own verification failed is red, and nothing is stored", async () => {
    const headers = { [INTEGRITY_HEADER]: "compromised" };
    const b = fakeBrowser({
      "/checkpoint": () => new Response("failed", { status: 503, headers }),
    });
    b.deps.storage.setItem(storageKey(ORIGIN), JSON.stringify(stored(7)));
    expect(await runHistoryCheck(TRUST, b.deps)).toMatchObject({
      kind: "different",
      reason: expect.stringMatching(/failed its verification/),
    });
    expect(readStored(b.items.get(storageKey(ORIGIN))!)?.anchor?.size).toBe(7);
    // The header on another status, or another value, is no such report.
    const busy = fakeBrowser({
      "/checkpoint": () => new Response("busy", { status: 502, headers }),
    });
    expect((await runHistoryCheck(TRUST, busy.deps)).kind).toBe("unavailable");
  });

  it("a refused proof (4xx) for a larger checkpoint is red", async () => {
    const b = fakeBrowser({
      "/checkpoint": async () => new Response(await note(19, [log, w1, w2])),
      "/api/proofs/consistency?from=7&to=19": () => Response.json({}, { status: 400 }),
    });
    b.deps.storage.setItem(storageKey(ORIGIN), JSON.stringify(stored(7)));
    expect((await runHistoryCheck(TRUST, b.deps)).kind).toBe("different");
  });
});
