import { createPublicKey, type KeyObject } from "node:crypto";
import type { PublicKey } from "paillier-bigint";
import { z } from "zod";
import { encodeFields } from "../crypto/encoding.server";
import { fromHex, isCiphertext, paillierKeyId, publicKeyFrom } from "../crypto/paillier.server";
import { checkSignature } from "../crypto/signing.server";
import { keyIdOf } from "../keys.server";
import { checkCheckpoint, EXPORT_SIGNATURE_ALGORITHM } from "./export-verify.server";

// A trail's encrypted counters for a period, as GET /api/aggregates serves them and
// `aggregate sum` reads them (docs/decisions/018-paillier-aggregates.md). Checking one needs
// public keys only: the trail's RSA key and the audit company's Paillier public key.

export const AGGREGATE_FILE_TYPE = "ehr-audit-trail/aggregates" as const;
export const DIMENSIONS = ["action", "table"] as const;
export type Dimension = (typeof DIMENSIONS)[number];

const DAY = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);
const HEX = z.string().regex(/^(0|[1-9a-f][0-9a-f]*)$/);

export const counterSchema = z.strictObject({
  day: DAY,
  dimension: z.enum(DIMENSIONS),
  key: z.string().regex(/^[a-z0-9_]{1,64}$/),
  ciphertext: HEX,
});
export type Counter = z.infer<typeof counterSchema>;
/** What names a counter: its day, dimension and key. */
export type CounterCell = Pick<Counter, "day" | "dimension" | "key">;

export const paillierSchema = z.strictObject({ key_id: z.string(), n: HEX, g: HEX });
export const periodSchema = z.strictObject({ from: DAY, to: DAY });

const checkpointSchema = z.strictObject({
  origin: z.string(),
  number: z.number().int().min(1),
  tree_size: z.number().int().min(1),
  root_hash: z.string().regex(/^[0-9a-f]{64}$/),
  last_log_id: z.string().nullable(),
  created_at: z.number().int().min(0),
  key_id: z.string(),
  signature: z.string(),
});

const fileSchema = z.strictObject({
  type: z.literal(AGGREGATE_FILE_TYPE),
  version: z.literal(1),
  origin: z.string().min(1),
  period: periodSchema,
  computed_at: z.string(),
  paillier: paillierSchema,
  checkpoint: checkpointSchema,
  counters: z.array(counterSchema).min(1),
  signature: z.strictObject({
    algorithm: z.literal(EXPORT_SIGNATURE_ALGORITHM),
    key_id: z.string(),
    public_key: z.string(),
    value: z.string(),
  }),
});
export type AggregateFile = z.infer<typeof fileSchema>;
export type UnsignedAggregateFile = Omit<AggregateFile, "signature">;

/** The canonical, length-prefixed bytes a counter file's signature covers: every field but it. */
export function aggregateSigningInput(f: UnsignedAggregateFile, trailKeyId: string): Buffer {
  const cp = f.checkpoint;
  return encodeFields([
    AGGREGATE_FILE_TYPE,
    f.version,
    f.origin,
    f.period.from,
    f.period.to,
    f.computed_at,
    f.paillier.key_id,
    f.paillier.n,
    f.paillier.g,
    cp.origin,
    cp.number,
    cp.tree_size,
    cp.root_hash,
    cp.last_log_id,
    cp.created_at,
    cp.key_id,
    cp.signature,
    trailKeyId,
    f.counters.length,
    ...f.counters.flatMap((c) => [c.day, c.dimension, c.key, c.ciphertext]),
  ]);
}

/** Orders counters by day, dimension, key: the one order files carry. */
export const counterOrder = (a: CounterCell, b: CounterCell): number =>
  a.day.localeCompare(b.day) ||
  a.dimension.localeCompare(b.dimension) ||
  a.key.localeCompare(b.key);

/**
 * Checks that counters are in order, once each, inside the period, and ciphertexts under `key`.
 * Returns what is wrong.
 */
export function counterProblems(
  counters: readonly Counter[],
  period: { from: string; to: string },
  key: PublicKey,
): string[] {
  const problems: string[] = [];
  if (period.from > period.to) problems.push("the period ends before it begins");
  counters.forEach((c, i) => {
    const where = `counter ${c.day} ${c.dimension} ${c.key}`;
    if (i > 0 && counterOrder(counters[i - 1]!, c) >= 0)
      problems.push(`${where}: out of order or repeated`);
    if (c.day < period.from || c.day > period.to) problems.push(`${where}: outside the period`);
    if (!isCiphertext(key, fromHex(c.ciphertext)!))
      problems.push(`${where}: not a ciphertext under the key`);
  });
  return problems;
}

/** The Paillier public key a file names, checked against its key id; null (with a problem) otherwise. */
export function paillierKeyOf(p: AggregateFile["paillier"], problems: string[]): PublicKey | null {
  try {
    const key = publicKeyFrom(p.n, p.g);
    if (paillierKeyId(key) === p.key_id) return key;
    problems.push("the Paillier key id does not match its key");
  } catch (error) {
    problems.push(`the Paillier key is refused: ${(error as Error).message}`);
  }
  return null;
}

function trailKeyOf(sig: AggregateFile["signature"], trusted: Map<string, KeyObject> | undefined) {
  let key: KeyObject;
  try {
    key = createPublicKey(sig.public_key);
  } catch {
    return { problem: "the trail's public key is not a PEM public key" };
  }
  if (keyIdOf(key) !== sig.key_id) return { problem: "the trail's key id does not match its key" };
  if (trusted && !trusted.has(sig.key_id)) {
    return { problem: `signed by trail key ${sig.key_id.slice(0, 16)}…, which is not one given` };
  }
  return { key };
}

export type CheckedAggregateFile =
  { ok: true; file: AggregateFile; paillier: PublicKey } | { ok: false; problems: string[] };

/**
 * Checks a counter file with public keys only: its shape, the trail's signature over every
 * field, the checkpoint's own signature, and each ciphertext. With `trusted`, the trail's key
 * must be one of those; without, the file's own key is believed and its id is reported.
 */
export function checkAggregateFile(
  json: unknown,
  trusted?: Map<string, KeyObject>,
): CheckedAggregateFile {
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return {
      ok: false,
      problems: [`not a counter file: ${issue.path.join(".") || "the file"}: ${issue.message}`],
    };
  }
  const file = parsed.data;
  const problems: string[] = [];
  const trail = trailKeyOf(file.signature, trusted);
  if (trail.key) {
    const { signature, ...unsigned } = file;
    const input = aggregateSigningInput(unsigned, signature.key_id);
    if (checkSignature(trail.key, input, Buffer.from(signature.value, "base64")) !== "valid") {
      problems.push(
        "the trail's signature does not match: the counters, ciphertexts or checkpoint were changed",
      );
    }
    if (file.checkpoint.origin !== file.origin) problems.push("the checkpoint is of another trail");
    checkCheckpoint(new Map([[signature.key_id, trail.key]]), file.checkpoint, problems);
  } else problems.push(trail.problem);
  const paillier = paillierKeyOf(file.paillier, problems);
  if (paillier) problems.push(...counterProblems(file.counters, file.period, paillier));
  return problems.length || !paillier ? { ok: false, problems } : { ok: true, file, paillier };
}
