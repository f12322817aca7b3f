import type { KeyObject } from "node:crypto";
import type { PrivateKey } from "paillier-bigint";
import { fromHex, paillierKeyId } from "../crypto/paillier.server";
import {
  AGGREGATE_FILE_TYPE,
  checkAggregateFile,
  type Counter,
} from "../trail/aggregate-file.server";
import { checkSumFile } from "./aggregate-sum.server";
import type { Period, PlainCell } from "./aggregates.server";

// `aggregate open`: the audit company decrypts a counter file or a sum with its private key.

export type OpenedTotals = {
  kind: "trail" | "sum";
  period: Period;
  paillierKeyId: string;
  trails: {
    origin: string;
    trailKeyId: string;
    checkpoint: number;
    treeSize: number;
    rootHash: string;
  }[];
  cells: PlainCell[];
};

type Outcome = { ok: true; value: OpenedTotals } | { ok: false; problems: string[] };

function decryptCells(key: PrivateKey, counters: readonly Counter[]): PlainCell[] {
  return counters.map((c) => {
    const count = key.decrypt(fromHex(c.ciphertext)!);
    if (count > BigInt(Number.MAX_SAFE_INTEGER))
      throw new Error(`counter ${c.day} ${c.key} is out of range`);
    return { day: c.day, dimension: c.dimension, key: c.key, count: Number(count) };
  });
}

/**
 * Checks a counter file (trail signature and checkpoint, with `trustedKeys` when given) or a
 * sum (shape and ciphertexts), then decrypts every counter with `key`.
 */
export function openAggregate(
  json: unknown,
  key: PrivateKey,
  trustedKeys?: Map<string, KeyObject>,
): Outcome {
  const isTrailFile = (json as { type?: unknown } | null)?.type === AGGREGATE_FILE_TYPE;
  let opened: Omit<OpenedTotals, "cells"> & { counters: Counter[] };
  if (isTrailFile) {
    const checked = checkAggregateFile(json, trustedKeys);
    if (!checked.ok) return checked;
    const f = checked.file;
    opened = {
      kind: "trail",
      period: f.period,
      paillierKeyId: f.paillier.key_id,
      trails: [
        {
          origin: f.origin,
          trailKeyId: f.signature.key_id,
          checkpoint: f.checkpoint.number,
          treeSize: f.checkpoint.tree_size,
          rootHash: f.checkpoint.root_hash,
        },
      ],
      counters: f.counters,
    };
  } else {
    const checked = checkSumFile(json);
    if (!checked.ok) return checked;
    const { sum } = checked.value;
    opened = {
      kind: "sum",
      period: sum.period,
      paillierKeyId: sum.paillier.key_id,
      trails: sum.inputs.map((i) => ({
        origin: i.origin,
        trailKeyId: i.trail_key_id,
        checkpoint: i.checkpoint.number,
        treeSize: i.checkpoint.tree_size,
        rootHash: i.checkpoint.root_hash,
      })),
      counters: sum.counters,
    };
  }
  if (opened.paillierKeyId !== paillierKeyId(key.publicKey)) {
    return { ok: false, problems: ["encrypted under another Paillier key than this private key"] };
  }
  const { counters, ...rest } = opened;
  return { ok: true, value: { ...rest, cells: decryptCells(key, counters) } };
}

/** Totals per action and per part of the record over all days of `cells`. */
export function totalsByKey(cells: readonly PlainCell[]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const c of cells) {
    const id = `${c.dimension} ${c.key}`;
    totals.set(id, (totals.get(id) ?? 0) + c.count);
  }
  return totals;
}

/** The opened totals as the text table `aggregate open` prints. */
export function formatTotals(t: OpenedTotals): string[] {
  const lines = [
    `${t.kind === "sum" ? `Sum of ${t.trails.length} counter file(s)` : "Counter file"}, ${t.period.from} to ${t.period.to} (UTC), Paillier key ${t.paillierKeyId.slice(0, 16)}…`,
    ...t.trails.map(
      (s) =>
        `  trail ${s.origin}, key ${s.trailKeyId.slice(0, 16)}…, checkpoint #${s.checkpoint} (${s.treeSize} records, root ${s.rootHash.slice(0, 16)}…)`,
    ),
  ];
  if (t.kind === "sum") {
    lines.push("  (a sum carries no signature: run aggregate sum again on the inputs to check it)");
  }
  const row = (a: string, b: string, c: string, d: string) =>
    `${a.padEnd(10)}  ${b.padEnd(6)}  ${c.padEnd(24)}  ${d.padStart(9)}`;
  lines.push("", row("day", "by", "value", "accesses"));
  for (const c of t.cells.filter((x) => x.count > 0)) {
    lines.push(row(c.day, c.dimension, c.key, String(c.count)));
  }
  lines.push("", row("total", "by", "value", "accesses"));
  for (const [id, count] of [...totalsByKey(t.cells)].sort()) {
    const [dimension, key] = id.split(" ") as [string, string];
    lines.push(row("", dimension, key, String(count)));
  }
  const all = t.cells.filter((c) => c.dimension === "action").reduce((s, c) => s + c.count, 0);
  lines.push("", `${all} access(es) in all.`);
  return lines;
}
