import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { NoteError, SIG_ED25519, formatVerifierKey, parseVerifierKey } from "../app/crypto/note";
import { loadOrCreateWitnessKey } from "./key";
import { createWitnessServer } from "./server";
import { WitnessState } from "./state";

// npm run witness -- <command>: a C2SP tlog-witness for the trail, in its own process.

const USAGE = `usage:
  witness serve --data DIR --port N [--host 127.0.0.1] [--name NAME]
  witness vkey --data DIR [--name NAME]
  witness trust --data DIR --origin ORIGIN --vkey LOG_VKEY
(--name names the witness's key when it is created)`;

class UsageError extends Error {}

const OPTIONS = {
  data: { type: "string" },
  port: { type: "string" },
  host: { type: "string" },
  name: { type: "string" },
  origin: { type: "string" },
  vkey: { type: "string" },
} as const;

type Option = keyof typeof OPTIONS;
const ALLOWED: Record<string, Option[]> = {
  serve: ["data", "port", "host", "name"],
  vkey: ["data", "name"],
  trust: ["data", "origin", "vkey"],
};

function parseCommand(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const [command = "", ...extra] = parsed.positionals;
  const allowed = ALLOWED[command];
  if (!allowed) throw new UsageError(`unknown command "${command}"`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const stray = (Object.keys(parsed.values) as Option[]).find((k) => !allowed.includes(k));
  if (stray) throw new UsageError(`--${stray} does not apply to ${command}`);
  for (const k of allowed.filter((k) => !["host", "name"].includes(k))) {
    if (!parsed.values[k]) throw new UsageError(`${command} needs --${k}`);
  }
  return { command, ...parsed.values, data: parsed.values.data! };
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^[0-9]+$/.test(text) || port > 65535) throw new UsageError(`--port ${text}: not a port`);
  return port;
}

async function run(argv: string[]): Promise<void> {
  const args = parseCommand(argv);
  if (args.command === "trust") {
    const origin = args.origin!;
    if (/[\n\r]/.test(origin)) throw new UsageError("--origin is one line");
    const key = await parseVerifierKey(args.vkey!).catch((error: unknown) => {
      throw new UsageError(`--vkey: ${(error as Error).message}`);
    });
    if (key.type !== SIG_ED25519) throw new UsageError("--vkey: a log key has type 0x01 (Ed25519)");
    const state = WitnessState.open(args.data);
    state.trust(origin, args.vkey!);
    state.close();
    process.stdout.write(`trusted ${args.vkey} for ${origin}\n`);
    return;
  }
  const port = args.command === "serve" ? parsePort(args.port!) : 0;
  const witness = await loadOrCreateWitnessKey(args.data, args.name);
  if (args.name && args.name !== witness.name) {
    throw new UsageError(`--name: the key in ${args.data} is named ${witness.name}`);
  }
  if (args.command === "vkey") {
    process.stdout.write(`${formatVerifierKey(witness)}\n`);
    return;
  }
  const state = WitnessState.open(args.data);
  const server = createWitnessServer(state, witness);
  server.listen(port, args.host ?? "127.0.0.1", () => {
    const { address, port: bound } = server.address() as AddressInfo;
    const host = address.includes(":") ? `[${address}]` : address;
    process.stdout.write(`vkey ${formatVerifierKey(witness)}\nurl http://${host}:${bound}\n`);
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => server.close(() => (state.close(), process.exit(0))));
  }
}

run(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError || error instanceof NoteError) {
    process.stderr.write(`witness: ${error.message}\n${USAGE}\n`);
    process.exit(2);
  }
  process.stderr.write(`witness: ${(error as Error).message}\n`);
  process.exit(1);
});
