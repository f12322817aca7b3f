import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach } from "vitest";
import { noteVerifierKey } from "../app/trail/checkpoint-note.server";
import { makeTestContext } from "./context";

// Real witness processes (witness/main.ts) on 127.0.0.1, each with its own data folder, for the
// trail's tests; every one is killed and its folder removed after each test.

const repo = fileURLToPath(new URL("..", import.meta.url));
const witnessArgs = ["--import", "tsx", "witness/main.ts"];

export type WitnessProcess = {
  dir: string;
  vkey: string;
  url: string;
  port: number;
  /** The `VKEY@URL` entry of WITNESSES. */
  entry: string;
  stop: () => Promise<void>;
  /** Starts it again on the same port, from its data folder as it is now. */
  restart: () => Promise<void>;
};

const running = new Set<ChildProcess>();
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all([...running].map(killWitness));
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Stops a witness process at once (SIGKILL), as a crash would. */
export async function killWitness(child: ChildProcess) {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }
  running.delete(child);
}

/** Runs `witness serve` on `dir`; resolves once it prints its verifier key and URL. */
export async function serveWitness(dir: string, port = 0) {
  const child = spawn(
    process.execPath,
    [...witnessArgs, "serve", "--data", dir, "--port", String(port), "--host", "127.0.0.1"],
    { cwd: repo, stdio: ["ignore", "pipe", "pipe"] },
  );
  running.add(child);
  let out = "";
  const printed = await new Promise<{ vkey: string; url: string }>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const vkey = /^vkey (\S+)$/m.exec(out)?.[1];
      const url = /^url (http:\/\/\S+)$/m.exec(out)?.[1];
      if (vkey && url) resolve({ vkey, url });
    });
    child.once("exit", (code) => reject(new Error(`witness exited with ${code}: ${out}`)));
  });
  return { child, ...printed };
}

/** Starts a witness that trusts the log `origin` signed by `logVkey`. */
export async function startWitness(origin: string, logVkey: string): Promise<WitnessProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trail-witness-"));
  dirs.push(dir);
  const trust = spawnSync(
    process.execPath,
    [...witnessArgs, "trust", "--data", dir, "--origin", origin, "--vkey", logVkey],
    { cwd: repo, encoding: "utf8" },
  );
  if (trust.status !== 0) throw new Error(`witness trust failed: ${trust.stderr}`);
  const first = await serveWitness(dir, 0);
  const { vkey, url } = first;
  let child = first.child;
  const port = Number(new URL(url).port);
  const witness: WitnessProcess = {
    dir,
    vkey,
    url,
    port,
    entry: `${vkey}@${url}`,
    stop: () => killWitness(child),
    restart: async () => {
      await killWitness(child);
      ({ child } = await serveWitness(dir, port));
    },
  };
  return witness;
}

/**
 * `count` witness processes that pin the note key every test trail of this worker signs with
 * (makeTestContext shares the keys), and the WITNESSES entry that lists them.
 */
export async function startTrailWitnesses(count = 2) {
  const keysCtx = makeTestContext();
  const logVkey = noteVerifierKey(keysCtx.keys);
  const witnesses = await Promise.all(
    Array.from({ length: count }, () => startWitness(keysCtx.config.TRAIL_ORIGIN, logVkey)),
  );
  return { witnesses, env: { WITNESSES: witnesses.map((w) => w.entry).join(",") } };
}
