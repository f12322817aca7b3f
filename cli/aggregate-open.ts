import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../app/config.server";
import {
  generatePaillierKeys,
  PAILLIER_PRIVATE_FILE,
  readPaillierPrivateKey,
} from "../app/crypto/paillier-private.server";
import { PAILLIER_MIN_BITS, PAILLIER_PUBLIC_FILE } from "../app/crypto/paillier.server";
import { formatTotals, openAggregate } from "../app/services/aggregate-open.server";
import { UsageError } from "./trail-commands";
import { publicKeysFrom } from "./verify-command";

// The audit company's commands: they alone touch the Paillier private key.

const keysDir = () => loadConfig(process.env).KEYS_DIR;

/** `aggregate keygen [--dir DIR] [--bits N]`: the audit company's key pair, never replaced. */
export async function keygenCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { dir: { type: "string" }, bits: { type: "string" } },
    allowPositionals: true,
  });
  if (positionals.length) throw new UsageError("aggregate keygen takes no arguments");
  const bits = Number(values.bits ?? PAILLIER_MIN_BITS);
  if (!Number.isInteger(bits) || bits < PAILLIER_MIN_BITS || bits > 8192 || bits % 8) {
    throw new UsageError(`--bits must be a multiple of 8 from ${PAILLIER_MIN_BITS} to 8192`);
  }
  const dir = path.resolve(values.dir ?? keysDir());
  const made = await generatePaillierKeys(dir, bits);
  console.log(made.keyId);
  console.error(
    `Paillier key pair (${bits} bits) written: ${made.publicFile} and ${made.privateFile} (mode 0600).\n` +
      `Each trail needs only ${PAILLIER_PUBLIC_FILE} in its KEYS_DIR; keep ${PAILLIER_PRIVATE_FILE} with the audit company.`,
  );
  return 0;
}

/** `aggregate open FILE [--key paillier-private.json] [--public-key PEM ...] [--json]`. */
export function openCommand(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    options: {
      key: { type: "string" },
      "public-key": { type: "string", multiple: true },
      json: { type: "boolean" },
    },
    allowPositionals: true,
  });
  const [file, ...extra] = positionals;
  if (!file || extra.length) throw new UsageError("aggregate open takes one counter or sum file");
  if (!fs.existsSync(file)) throw new UsageError(`no such file: ${file}`);
  const key = readPaillierPrivateKey(values.key ?? path.join(keysDir(), PAILLIER_PRIVATE_FILE));
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    console.error(`${file}: not JSON`);
    return 1;
  }
  const trusted = values["public-key"] ? publicKeysFrom(values["public-key"]) : undefined;
  const opened = openAggregate(json, key, trusted);
  if (!opened.ok) {
    console.error(`Refused; nothing was opened:`);
    for (const problem of opened.problems) console.error(`  ${file}: ${problem}`);
    return 1;
  }
  if (values.json) console.log(JSON.stringify(opened.value, null, 2));
  else console.log(formatTotals(opened.value).join("\n"));
  return 0;
}
