import type { PublicKey } from "paillier-bigint";
import type { AppContext } from "../context.server";
import {
  encryptCounts,
  findPaillierPublicKey,
  publicKeyJson,
  toHex,
} from "../crypto/paillier.server";
import { signBytes } from "../crypto/signing.server";
import { countsPerDayActionTable, type CountGroup } from "../models/aggregate-counts.server";
import { recordsAtSeqs } from "../models/record.server";
import {
  AGGREGATE_FILE_TYPE,
  aggregateSigningInput,
  counterOrder,
  type AggregateFile,
  type UnsignedAggregateFile,
  type Dimension,
} from "../trail/aggregate-file.server";
import { ACTIONS } from "../trail/actions";
import { checkpointJson, EXPORT_SIGNATURE_ALGORITHM } from "../trail/export-verify.server";
import type { CheckpointInfo } from "../trail/verify.server";
import { actionsByIndex } from "./dashboard.server";
import { openRecords } from "./open-records.server";
import { readVerified } from "./verified-read.server";

// A trail's access counts for a period, encrypted under the audit company's Paillier public
// key, bound to the verified checkpoint they were counted at and signed by the trail
// (docs/decisions/018-paillier-aggregates.md). The trail never holds the private key.

const DAY_MS = 86_400_000;
/** Each day costs (actions + parts of the record) encryptions of ~50 ms: a month at most. */
export const MAX_AGGREGATE_DAYS = 31;

/** Counter files made at once; each holds the CPU for seconds, so more are refused as busy. */
export const MAX_CONCURRENT_AGGREGATES = 2;
let inFlight = 0;

export type Period = { from: string; to: string };
export type PlainCell = { day: string; dimension: Dimension; key: string; count: number };

const dayText = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const dayStart = (day: string) => Date.parse(`${day}T00:00:00Z`);

/** One YYYY-MM-DD query value that is a real date; null otherwise. */
function dayParam(query: URLSearchParams, name: string): string | null {
  const values = query.getAll(name);
  const [value] = values;
  if (values.length !== 1 || !/^\d{4}-\d{2}-\d{2}$/.test(value!)) return null;
  const start = dayStart(value!);
  return Number.isNaN(start) || dayText(start) !== value ? null : value!;
}

/** `from` and `to` (YYYY-MM-DD, UTC, both inclusive), not after today and at most a month. */
export function parsePeriod(
  query: URLSearchParams,
  now: number,
): { ok: true; period: Period } | { ok: false; message: string } {
  const from = dayParam(query, "from");
  const to = dayParam(query, "to");
  if (!from || !to)
    return { ok: false, message: "from and to must each be one date, YYYY-MM-DD (UTC)." };
  if (from > to) return { ok: false, message: "from may not be after to." };
  if (to > dayText(now))
    return { ok: false, message: `to may not be after today, ${dayText(now)} (UTC).` };
  if ((dayStart(to) - dayStart(from)) / DAY_MS + 1 > MAX_AGGREGATE_DAYS) {
    return { ok: false, message: `A period spans at most ${MAX_AGGREGATE_DAYS} days.` };
  }
  return { ok: true, period: { from, to } };
}

/** Names each part-of-the-record blind index from its group's newest record, checked and decrypted. */
function tableNames(ctx: AppContext, groups: CountGroup[], checkpoint: CheckpointInfo) {
  const newest = new Map<string, number>();
  for (const g of groups) {
    const index = g.tableIndex.toString("hex");
    newest.set(index, Math.max(newest.get(index) ?? 0, g.newestSeq));
  }
  const records = openRecords(ctx, recordsAtSeqs(ctx, [...newest.values()]), checkpoint);
  const bySeq = new Map(records.map((r) => [r.seq, r.tableAffected]));
  return new Map([...newest].map(([index, seq]) => [index, bySeq.get(seq)!]));
}

/**
 * The counts of every day of the period by action and by part of the record, at `checkpoint`.
 * Every action and every part seen in the period gets a counter on every day, zero or not, so
 * the counters' layout says nothing about which day saw what.
 */
export function plainCells(
  ctx: AppContext,
  period: Period,
  checkpoint: CheckpointInfo,
): PlainCell[] {
  const fromMs = dayStart(period.from);
  const toMs = dayStart(period.to) + DAY_MS;
  const groups = countsPerDayActionTable(ctx, { fromMs, toMs, treeSize: checkpoint.treeSize });
  const actions = actionsByIndex(ctx);
  const tables = tableNames(ctx, groups, checkpoint);
  const counts = new Map<string, number>();
  const add = (day: string, dimension: Dimension, key: string, n: number) => {
    const id = `${day} ${dimension} ${key}`;
    counts.set(id, (counts.get(id) ?? 0) + n);
  };
  const days = Array.from({ length: (toMs - fromMs) / DAY_MS }, (_, i) =>
    dayText(fromMs + i * DAY_MS),
  );
  const actionKeys = new Set<string>(ACTIONS);
  for (const g of groups) actionKeys.add(actions.get(g.actionIndex.toString("hex")) ?? "other");
  for (const day of days) {
    for (const action of actionKeys) add(day, "action", action, 0);
    for (const table of tables.values()) add(day, "table", table, 0);
  }
  for (const g of groups) {
    const day = dayText(g.day * DAY_MS);
    add(day, "action", actions.get(g.actionIndex.toString("hex")) ?? "other", g.count);
    add(day, "table", tables.get(g.tableIndex.toString("hex"))!, g.count);
  }
  return [...counts]
    .map(([id, count]) => {
      const [day, dimension, key] = id.split(" ") as [string, Dimension, string];
      return { day, dimension, key, count };
    })
    .sort(counterOrder);
}

export type AggregateResult =
  | { ok: true; file: AggregateFile; plain: PlainCell[] }
  | { ok: false; reason: "no_key" | "compromised" | "empty" | "busy" };

/**
 * Verifies the trail, counts the period at the verified checkpoint, encrypts each count under
 * the Paillier public key in KEYS_DIR and signs the whole with the trail's key. Refused as busy
 * while MAX_CONCURRENT_AGGREGATES others are being made.
 */
export async function buildAggregateFile(
  ctx: AppContext,
  viewerId: string,
  period: Period,
): Promise<AggregateResult> {
  const paillier = findPaillierPublicKey(ctx.config.KEYS_DIR);
  if (!paillier) return { ok: false, reason: "no_key" };
  if (inFlight >= MAX_CONCURRENT_AGGREGATES) return { ok: false, reason: "busy" };
  inFlight += 1;
  try {
    return await encryptedFile(ctx, viewerId, period, paillier);
  } finally {
    inFlight -= 1;
  }
}

async function encryptedFile(
  ctx: AppContext,
  viewerId: string,
  period: Period,
  paillier: PublicKey,
): Promise<AggregateResult> {
  const read = await readVerified(ctx, viewerId, (checkpoint) =>
    checkpoint ? { checkpoint, cells: plainCells(ctx, period, checkpoint) } : null,
  );
  if (!read.ok) return { ok: false, reason: "compromised" };
  if (!read.value) return { ok: false, reason: "empty" };
  const { checkpoint, cells } = read.value;
  const ciphertexts = await encryptCounts(
    paillier,
    cells.map((c) => c.count),
  );
  const { type: _type, ...paillierJson } = publicKeyJson(paillier);
  const unsigned: UnsignedAggregateFile = {
    type: AGGREGATE_FILE_TYPE,
    version: 1 as const,
    origin: ctx.config.TRAIL_ORIGIN,
    period,
    computed_at: new Date(ctx.now()).toISOString(),
    paillier: paillierJson,
    checkpoint: checkpointJson(ctx.config.TRAIL_ORIGIN, checkpoint),
    counters: cells.map((c, i) => ({
      day: c.day,
      dimension: c.dimension,
      key: c.key,
      ciphertext: toHex(ciphertexts[i]!),
    })),
  };
  const { keyId, privateKey, publicKey } = ctx.keys.signing;
  const signature = signBytes(privateKey, aggregateSigningInput(unsigned, keyId));
  const file: AggregateFile = {
    ...unsigned,
    signature: {
      algorithm: EXPORT_SIGNATURE_ALGORITHM,
      key_id: keyId,
      public_key: publicKey.export({ type: "spki", format: "pem" }) as string,
      value: signature.toString("base64"),
    },
  };
  return { ok: true, file, plain: cells };
}
