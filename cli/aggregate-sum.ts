import fs from "node:fs";
import { parseArgs } from "node:util";
import { paillierKeyId, readPaillierPublicKey } from "../app/crypto/paillier.server";
import { sumAggregateFiles } from "../app/services/aggregate-sum.server";
import { UsageError } from "./trail-commands";
import { publicKeysFrom } from "./verify-command";

// The aggregator's command: public keys only. Never import the Paillier private key here.

/**
 * `aggregate sum FILE... [--out F] [--key paillier-public.json] [--public-key PEM ...]`: checks
 * every counter file and writes their sum. Exit 1, and nothing written, when any is refused.
 */
export function sumCommand(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    options: {
      out: { type: "string" },
      key: { type: "string" },
      "public-key": { type: "string", multiple: true },
    },
    allowPositionals: true,
  });
  if (positionals.length === 0)
    throw new UsageError("aggregate sum takes one or more counter files");
  const inputs = positionals.map((name) => {
    if (!fs.existsSync(name)) throw new UsageError(`no such file: ${name}`);
    return { name, bytes: fs.readFileSync(name) };
  });
  const result = sumAggregateFiles(inputs, {
    paillierKeyId: values.key ? paillierKeyId(readPaillierPublicKey(values.key)) : undefined,
    trustedKeys: values["public-key"] ? publicKeysFrom(values["public-key"]) : undefined,
  });
  if (!result.ok) {
    console.error(`Refused; nothing was summed:`);
    for (const problem of result.problems) console.error(`  ${problem}`);
    return 1;
  }
  const sum = result.value;
  const text = `${JSON.stringify(sum, null, 2)}\n`;
  if (values.out) fs.writeFileSync(values.out, text);
  else process.stdout.write(text);
  console.error(
    `Summed ${sum.inputs.length} counter file(s), ${sum.period.from} to ${sum.period.to}, under Paillier key ${sum.paillier.key_id.slice(0, 16)}…${values.out ? ` into ${values.out}` : ""}.`,
  );
  for (const i of sum.inputs) {
    console.error(
      `  ${i.file}: trail ${i.origin}, key ${i.trail_key_id.slice(0, 16)}…, checkpoint #${i.checkpoint.number}`,
    );
  }
  if (!values["public-key"]) {
    console.error("  (trail keys believed as the files name them: pin them with --public-key PEM)");
  }
  return 0;
}
