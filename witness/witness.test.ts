import fs from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { rootOf } from "../app/crypto/merkle.server";
import {
  SIG_ED25519,
  formatVerifierKey,
  generateSigner,
  openNote,
  parseVerifierKey,
  type NoteSigner,
} from "../app/crypto/note";
import { parseAddCheckpoint } from "./add-checkpoint";
import { loadOrCreateWitnessKey } from "./key";
import { createWitnessServer } from "./server";
import { WitnessState } from "./state";
import { createTestLog } from "./test-log";

let dir: string;
let state: WitnessState;
let witness: NoteSigner;
let url: string;
let close: () => Promise<void>;
let log: Awaited<ReturnType<typeof createTestLog>>;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "witness-"));
  state = WitnessState.open(dir);
  witness = await loadOrCreateWitnessKey(dir, "witness.test/w1");
  log = await createTestLog();
  state.trust(log.origin, log.vkey);
  const server = createWitnessServer(state, witness);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => new Promise((resolve) => server.close(() => resolve()));
});

afterEach(async () => {
  await close();
  state.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const post = async (body: string | Uint8Array, endpoint = "/add-checkpoint") => {
  const bytes = typeof body === "string" ? body : Uint8Array.from(body);
  const response = await fetch(url + endpoint, { method: "POST", body: bytes });
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    text: await response.text(),
  };
};

/** Checks a 200 answer: one cosignature line by the witness's key over the checkpoint. */
async function expectCosigned(answer: { status: number; text: string }, size: number) {
  expect(answer.status, answer.text).toBe(200);
  const witnessKey = await parseVerifierKey(formatVerifierKey(witness));
  const note = (await log.checkpoint(size)) + answer.text;
  const { verified } = await openNote(note, [witnessKey]);
  expect(verified).toHaveLength(1);
  expect(Math.abs(verified[0]!.timestamp! - Date.now() / 1000)).toBeLessThan(60);
}

describe("POST /add-checkpoint", () => {
  it("cosigns the first checkpoint, then each consistent one", async () => {
    await expectCosigned(await post(await log.body(0, 5)), 5);
    await expectCosigned(await post(await log.body(5, 13)), 13);
    await expectCosigned(await post(await log.body(13, 13)), 13);
    await expectCosigned(await post(await log.body(13, 64)), 64);
    expect(state.log(log.origin)).toMatchObject({ size: 64, root: rootOf(log.real) });
  });

  it("answers 409 with the size it holds when old is stale, and for another root at its size", async () => {
    await expectCosigned(await post(await log.body(0, 8)), 8);
    const stale = await post(await log.body(0, 12));
    expect(stale).toEqual({ status: 409, type: "text/x.tlog.size", text: "8\n" });
    expect((await post(await log.body(5, 12))).text).toBe("8\n");
    const forked = await post(await log.body(8, 8, { leaves: log.fork(4) }));
    expect(forked).toEqual({ status: 409, type: "text/x.tlog.size", text: "8\n" });
    expect(state.log(log.origin)).toMatchObject({ size: 8, root: rootOf(log.real.slice(0, 8)) });
  });

  it("answers 422 for a proof that does not verify, and keeps its state", async () => {
    await expectCosigned(await post(await log.body(0, 8)), 8);
    // A fork that rewrote record 3 cannot prove it extends the cosigned size 8.
    const fork = await post(await log.body(8, 12, { leaves: log.fork(3) }));
    expect(fork.status).toBe(422);
    const wrongProof = await post(await log.body(8, 12, { proof: [log.real[0]!] }));
    expect(wrongProof.status).toBe(422);
    expect((await post(await log.body(8, 8, { proof: [log.real[0]!] }))).status).toBe(422);
    const fresh = await createTestLog();
    state.trust(fresh.origin, fresh.vkey);
    expect((await post(await fresh.body(0, 4, { proof: [log.real[0]!] }))).status).toBe(422);
    await expectCosigned(await post(await log.body(8, 12)), 12);
  });

  it("answers 403 for a checkpoint not signed by the pinned key", async () => {
    const impostor = (await generateSigner(log.origin, SIG_ED25519)).signer;
    const answer = await post(await log.body(0, 4, { signers: [impostor] }));
    expect(answer.status).toBe(403);
    // A valid signature by the pinned key does not carry a bad one by the same key.
    const broken = { ...log.signer, privateKey: impostor.privateKey };
    expect((await post(await log.body(0, 4, { signers: [broken] }))).status).toBe(403);
    expect(state.log(log.origin)!.size).toBe(0);
  });

  it("answers 404 for an origin it does not witness", async () => {
    const stranger = await createTestLog();
    const answer = await post(await stranger.body(0, 4));
    expect(answer.status).toBe(404);
    expect(answer.text).toContain(stranger.origin);
  });

  it.each<[string, (body: string) => string | Uint8Array]>([
    ["no old line", (b) => b.replace(/^old 0\n/, "")],
    ["a leading zero", (b) => b.replace(/^old 0/, "old 00")],
    ["old above the size", (b) => b.replace(/^old 0/, "old 5")],
    ["a proof line that is not base64", (b) => b.replace(/^old 0\n/, "old 0\nnot base64\n")],
    ["a short proof hash", (b) => b.replace(/^old 0\n/, "old 0\nAAAA\n")],
    ["64 proof lines", (b) => b.replace(/^old 0\n/, `old 0\n${`${"A".repeat(43)}=\n`.repeat(64)}`)],
    ["no signature", (b) => b.slice(0, b.indexOf("\u2014"))],
    ["a checkpoint of two lines", (b) => b.replace(/\n4\n/, "\n")],
    ["bytes that are not UTF-8", (b) => Buffer.concat([Buffer.from(b), Buffer.from([0xff])])],
    ["an oversize body", (b) => b + "x".repeat(70_000)],
  ])("answers 400 for a body with %s", async (_what, mangle) => {
    const answer = await post(mangle(await log.body(0, 4)));
    expect(answer.status, answer.text).toBe(400);
    expect(state.log(log.origin)!.size).toBe(0);
  });

  it("answers 404 for other paths and 405 for other methods", async () => {
    expect((await post("x", "/elsewhere")).status).toBe(404);
    expect((await fetch(`${url}/add-checkpoint`)).status).toBe(405);
    expect((await post("x", `/checkpoint?origin=${log.origin}`)).status).toBe(405);
  });
});

describe("GET /checkpoint", () => {
  const latest = async (origin: string | null) => {
    const query = origin === null ? "" : `?origin=${encodeURIComponent(origin)}`;
    const response = await fetch(`${url}/checkpoint${query}`);
    return { status: response.status, text: await response.text() };
  };

  it("serves the newest cosigned checkpoint with the very cosignature the log received", async () => {
    expect(await latest(log.origin)).toEqual({ status: 204, text: "" });
    await post(await log.body(0, 5));
    const answer = await post(await log.body(5, 9));
    const served = await latest(log.origin);
    expect(served.status).toBe(200);
    expect(served.text).toBe((await log.checkpoint(9)) + answer.text);
    const witnessKey = await parseVerifierKey(formatVerifierKey(witness));
    const logKey = await parseVerifierKey(log.vkey);
    const { verified } = await openNote(served.text, [witnessKey, logKey]);
    expect(verified.map((v) => v.key.type).sort()).toEqual([SIG_ED25519, 0x04]);
  });

  it("answers 404 for an unknown origin and 400 without one", async () => {
    expect((await latest("example.com/nobody")).status).toBe(404);
    expect((await latest(null)).status).toBe(400);
  });
});

describe("the witness's request and key", () => {
  it("parses the tlog-witness spec's example request", () => {
    const example =
      "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n" +
      "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\n" +
      "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n" +
      "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n" +
      "— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";
    const request = parseAddCheckpoint(example);
    expect(request.oldSize).toBe(20852014);
    expect(request.proof.map((p) => p.toString("base64"))[3]).toBe(
      "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=",
    );
    expect(request.checkpoint).toMatchObject({
      origin: "example.com/behind-the-sofa",
      size: 20852163,
    });
    expect(request.note.signatures).toHaveLength(2);
    expect(example.endsWith(request.noteText)).toBe(true);
  });

  it("keeps its key in a file only its owner can read, and loads the same key again", async () => {
    expect(fs.statSync(path.join(dir, "witness.key")).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateWitnessKey(dir);
    expect(formatVerifierKey(again)).toBe(formatVerifierKey(witness));
    fs.chmodSync(path.join(dir, "witness.key"), 0o644);
    await expect(loadOrCreateWitnessKey(dir)).rejects.toThrow("readable by others");
  });
});
