import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { killWitness, serveWitness } from "../tests/witnesses";
import { createTestLog } from "./test-log";

// The witness as other tools run it: a separate process, killed with SIGKILL between requests.

const repo = fileURLToPath(new URL("..", import.meta.url));
const witnessArgs = ["--import", "tsx", "witness/main.ts"];
let dir: string;

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [...witnessArgs, ...args], { cwd: repo, encoding: "utf8" });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "witness-process-"));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const start = () => serveWitness(dir);

const post = async (url: string, body: string) => {
  const response = await fetch(`${url}/add-checkpoint`, { method: "POST", body });
  return { status: response.status, text: await response.text() };
};

describe("the witness process", () => {
  it("prints its verifier key, pins a log, and refuses bad arguments with exit 2", async () => {
    const vkey = cli("vkey", "--data", dir);
    expect(vkey.status).toBe(0);
    expect(vkey.stdout).toMatch(/^witness-[0-9a-f]{8}\+[0-9a-f]{8}\+\S+\n$/);
    const log = await createTestLog();
    expect(cli("trust", "--data", dir, "--origin", log.origin, "--vkey", log.vkey).status).toBe(0);
    for (const args of [
      ["serve", "--data", dir],
      ["serve", "--data", dir, "--port", "http"],
      ["trust", "--data", dir, "--origin", log.origin, "--vkey", "not-a-key"],
      ["trust", "--data", dir, "--origin", log.origin],
      ["vkey", "--data", dir, "--origin", "x"],
      ["vkey"],
      ["sign", "--data", dir],
    ]) {
      const run = cli(...args);
      expect(run.status, args.join(" ")).toBe(2);
      expect(run.stderr).toContain("usage:");
    }
  });

  it("never cosigns two roots for one size, nor goes back, across kill -9", async () => {
    const log = await createTestLog();
    cli("trust", "--data", dir, "--origin", log.origin, "--vkey", log.vkey);
    for (let size = 4, old = 0; size <= 12; old = size, size += 4) {
      let { url, child } = await start();
      const answer = await post(url, await log.body(old, size));
      expect(answer.status, answer.text).toBe(200);
      await killWitness(child);

      ({ url, child } = await start());
      // A fork at the cosigned size, from either old size, and a step back are all refused.
      const fork = log.fork(size - 1);
      expect(await post(url, await log.body(old, size, { leaves: fork }))).toEqual({
        status: 409,
        text: `${size}\n`,
      });
      expect((await post(url, await log.body(size, size, { leaves: fork }))).status).toBe(409);
      expect((await post(url, await log.body(old, old || 1))).status).toBe(409);
      await killWitness(child);
    }
    expect(await post((await start()).url, await log.body(12, 12))).toMatchObject({ status: 200 });
  });

  it("holds one state or the other when killed while answering", async () => {
    const log = await createTestLog();
    cli("trust", "--data", dir, "--origin", log.origin, "--vkey", log.vkey);
    let { url, child } = await start();
    expect((await post(url, await log.body(0, 8))).status).toBe(200);
    const inFlight = post(url, await log.body(8, 24)).catch(() => null);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await killWitness(child);
    await inFlight;

    ({ url, child } = await start());
    const probe = await post(url, await log.body(0, 40, { leaves: log.fork(0) }));
    expect(probe.status).toBe(409);
    const size = Number(probe.text);
    expect([8, 24]).toContain(size);
    // Whatever it holds is the real tree: the same root again is cosigned, a fork is not.
    expect((await post(url, await log.body(size, size))).status).toBe(200);
    expect((await post(url, await log.body(size, size, { leaves: log.fork(7) }))).status).toBe(409);
    expect((await post(url, await log.body(size, 32))).status).toBe(200);
    await killWitness(child);
  });
});
