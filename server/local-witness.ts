import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

// A witness (witness/main.ts) run as a child process on 127.0.0.1, for the demo and the
// benchmark: in real use a witness runs on another machine under another party.

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WITNESS_ARGS = ["--import", "tsx", "witness/main.ts"];

export type LocalWitness = {
  vkey: string;
  url: string;
  /** The `VKEY@URL` entry of WITNESSES. */
  entry: string;
  child: ChildProcess;
  /** Stops it (SIGTERM, then SIGKILL after 5 s) and resolves once it has exited. */
  stop: () => Promise<void>;
};

/** `witness trust`: pins the log key `logVkey` for `origin` in the witness's data folder. */
export function trustLog(dir: string, origin: string, logVkey: string): void {
  const trust = spawnSync(
    process.execPath,
    [...WITNESS_ARGS, "trust", "--data", dir, "--origin", origin, "--vkey", logVkey],
    { cwd: PROJECT_ROOT, encoding: "utf8" },
  );
  if (trust.status !== 0) throw new Error(`witness trust failed: ${trust.stderr.trim()}`);
}

/** `witness serve` on `dir`; resolves once it prints its verifier key and URL. */
export async function serveLocalWitness(
  dir: string,
  options: { port?: number; name?: string } = {},
): Promise<LocalWitness> {
  const args = ["serve", "--data", dir, "--port", String(options.port ?? 0), "--host", "127.0.0.1"];
  if (options.name) args.push("--name", options.name);
  const child = spawn(process.execPath, [...WITNESS_ARGS, ...args], {
    cwd: PROJECT_ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
  };
  let out = "";
  try {
    const { vkey, url } = await new Promise<{ vkey: string; url: string }>((resolve, reject) => {
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        out += chunk;
        const vkey = /^vkey (\S+)$/m.exec(out)?.[1];
        const url = /^url (http:\/\/\S+)$/m.exec(out)?.[1];
        if (vkey && url) resolve({ vkey, url });
      });
      child.once("exit", (code) => reject(new Error(`the witness on ${dir} exited (${code})`)));
      child.once("error", reject);
    });
    return { vkey, url, entry: `${vkey}@${url}`, child, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
