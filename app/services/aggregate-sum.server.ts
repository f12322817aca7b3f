import type { KeyObject } from "node:crypto";
import type { PublicKey } from "paillier-bigint";
import { z } from "zod";
import { sha256 } from "../crypto/hashing.server";
import { fromHex, toHex } from "../crypto/paillier.server";
import {
  checkAggregateFile,
  counterOrder,
  counterProblems,
  counterSchema,
  paillierKeyOf,
  paillierSchema,
  periodSchema,
  type AggregateFile,
  type Counter,
} from "../trail/aggregate-file.server";

// `aggregate sum`: adds counter files from one or more trails with the Paillier public key
// alone. Whoever runs it learns no count; only the audit company's private key opens the sum.
// This module must never import the private key (checked by the aggregate tests).

export const AGGREGATE_SUM_TYPE = "ehr-audit-trail/aggregate-sum" as const;

const inputSchema = z.strictObject({
  file: z.string(),
  sha256: z.string(),
  origin: z.string(),
  trail_key_id: z.string(),
  period: periodSchema,
  computed_at: z.string(),
  checkpoint: z.strictObject({ number: z.number(), tree_size: z.number(), root_hash: z.string() }),
});

const sumSchema = z.strictObject({
  type: z.literal(AGGREGATE_SUM_TYPE),
  version: z.literal(1),
  period: periodSchema,
  paillier: paillierSchema,
  inputs: z.array(inputSchema).min(1),
  counters: z.array(counterSchema),
});
export type AggregateSum = z.infer<typeof sumSchema>;

export type SumOptions = {
  /** The audit company's key id: every input must be encrypted under it. */
  paillierKeyId?: string;
  /** When given, each input must be signed by one of these trail keys. */
  trustedKeys?: Map<string, KeyObject>;
};

type Input = { name: string; bytes: Buffer };
type Outcome<T> = { ok: true; value: T } | { ok: false; problems: string[] };

function checkInputs(inputs: readonly Input[], options: SumOptions): Outcome<AggregateFile[]> {
  const problems: string[] = [];
  const files: AggregateFile[] = [];
  for (const input of inputs) {
    let json: unknown;
    try {
      json = JSON.parse(input.bytes.toString("utf8"));
    } catch {
      problems.push(`${input.name}: not JSON`);
      continue;
    }
    const checked = checkAggregateFile(json, options.trustedKeys);
    if (!checked.ok) problems.push(...checked.problems.map((p) => `${input.name}: ${p}`));
    else files.push(checked.file);
  }
  const keyId = options.paillierKeyId ?? files[0]?.paillier.key_id;
  files.forEach((f, i) => {
    if (f.paillier.key_id !== keyId) {
      problems.push(
        `${inputs[i]!.name}: encrypted under another Paillier key (${f.paillier.key_id.slice(0, 16)}…)`,
      );
    }
    // The same trail's days twice would count its accesses twice.
    files.slice(0, i).forEach((g, j) => {
      const sameTrail = g.origin === f.origin && g.signature.key_id === f.signature.key_id;
      if (sameTrail && g.period.from <= f.period.to && f.period.from <= g.period.to) {
        problems.push(`${inputs[i]!.name}: overlaps ${inputs[j]!.name}, from the same trail`);
      }
    });
  });
  return problems.length ? { ok: false, problems } : { ok: true, value: files };
}

/** Adds the counters of `files` (already checked, one Paillier key) cell by cell. */
function addCounters(key: PublicKey, files: readonly AggregateFile[]): Counter[] {
  const cells = new Map<string, Counter>();
  for (const c of files.flatMap((f) => f.counters)) {
    const id = `${c.day} ${c.dimension} ${c.key}`;
    const seen = cells.get(id);
    const ciphertext = seen
      ? toHex(key.addition(fromHex(seen.ciphertext)!, fromHex(c.ciphertext)!))
      : c.ciphertext;
    cells.set(id, { ...c, ciphertext });
  }
  return [...cells.values()].sort(counterOrder);
}

/**
 * Checks every input (trail signature, checkpoint, ciphertexts, one Paillier key, no trail's
 * days twice) and adds them. Nothing is summed when any input is refused.
 */
export function sumAggregateFiles(
  inputs: readonly Input[],
  options: SumOptions = {},
): Outcome<AggregateSum> {
  if (inputs.length === 0) return { ok: false, problems: ["no counter files given"] };
  const checked = checkInputs(inputs, options);
  if (!checked.ok) return checked;
  const files = checked.value;
  const problems: string[] = [];
  const key = paillierKeyOf(files[0]!.paillier, problems)!;
  const periods = files.map((f) => f.period);
  return {
    ok: true,
    value: {
      type: AGGREGATE_SUM_TYPE,
      version: 1,
      period: {
        from: periods.map((p) => p.from).sort()[0]!,
        to: periods
          .map((p) => p.to)
          .sort()
          .at(-1)!,
      },
      paillier: files[0]!.paillier,
      inputs: files.map((f, i) => ({
        file: inputs[i]!.name,
        sha256: sha256(inputs[i]!.bytes).toString("hex"),
        origin: f.origin,
        trail_key_id: f.signature.key_id,
        period: f.period,
        computed_at: f.computed_at,
        checkpoint: {
          number: f.checkpoint.number,
          tree_size: f.checkpoint.tree_size,
          root_hash: f.checkpoint.root_hash,
        },
      })),
      counters: addCounters(key, files),
    },
  };
}

/** Checks a sum file's shape, Paillier key and ciphertexts. A sum is not signed: nobody who made it holds a key. */
export function checkSumFile(json: unknown): Outcome<{ sum: AggregateSum; key: PublicKey }> {
  const parsed = sumSchema.safeParse(json);
  if (!parsed.success)
    return { ok: false, problems: ["not a counter file or a sum of counter files"] };
  const problems: string[] = [];
  const key = paillierKeyOf(parsed.data.paillier, problems);
  if (key) problems.push(...counterProblems(parsed.data.counters, parsed.data.period, key));
  return key && !problems.length
    ? { ok: true, value: { sum: parsed.data, key } }
    : { ok: false, problems };
}
