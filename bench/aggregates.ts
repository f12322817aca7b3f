// Paillier aggregates at 1M records: one day's counters (every action, a dozen parts of the
// record) encrypted under a 2048-bit key, two trails' added, the sum decrypted. The baseline is
// what the counters replace: counting the day's 1M records by action and part in plain.
import { generateRandomKeys } from "paillier-bigint";
import { encryptCounts } from "../app/crypto/paillier.server";
import { ACTIONS } from "../app/trail/actions";
import { fmt, log } from "./trail";

const PARTS = [
  "medications",
  "lab_results",
  "allergies",
  "clinical_notes",
  "diagnoses",
  "imaging",
  "vital_signs",
  "billing",
  "demographics",
  "immunizations",
  "procedures",
  "audit_trail",
];

/** 1M records' (action, part) as a day's worth of rows, and their plain count by both. */
function plainCounts(records: number, seed: number) {
  const rows = Array.from({ length: records }, (_, i) => ({
    action: ACTIONS[(i * 7 + seed) % ACTIONS.length]!,
    table: PARTS[(i * 13 + seed) % PARTS.length]!,
  }));
  const started = performance.now();
  const counts = new Map<string, number>();
  for (const r of rows) {
    counts.set(`action ${r.action}`, (counts.get(`action ${r.action}`) ?? 0) + 1);
    counts.set(`table ${r.table}`, (counts.get(`table ${r.table}`) ?? 0) + 1);
  }
  return { counts, ms: performance.now() - started };
}

type Row = { figure: string; measured: string; baseline: string; ratio: number; goal: string };

/** The aggregate figures for `npm run bench`, each against the plain count of 1M records. */
export async function aggregateRows(records = 1_000_000): Promise<Row[]> {
  log(`Paillier aggregates: a day's counters at ${fmt(records)} records`);
  const { publicKey, privateKey } = await generateRandomKeys(2048);
  const a = plainCounts(records, 0);
  const b = plainCounts(records, 5);
  const cells = [...a.counts.keys()];
  let started = performance.now();
  const encryptedA = await encryptCounts(
    publicKey,
    cells.map((c) => a.counts.get(c)!),
  );
  const encryptMs = performance.now() - started;
  const encryptedB = await encryptCounts(
    publicKey,
    cells.map((c) => b.counts.get(c) ?? 0),
  );
  started = performance.now();
  const summed = encryptedA.map((c, i) => publicKey.addition(c, encryptedB[i]!));
  const addMs = performance.now() - started;
  started = performance.now();
  const opened = summed.map((c) => privateKey.decrypt(c));
  const decryptMs = performance.now() - started;
  cells.forEach((cell, i) => {
    if (opened[i] !== BigInt(a.counts.get(cell)! + (b.counts.get(cell) ?? 0))) {
      throw new Error(`the decrypted sum of ${cell} is wrong`);
    }
  });
  const baseline = `${fmt(a.ms, 1)} ms to count ${fmt(records)} records by action and part in plain`;
  const per = (ms: number) => `${fmt(ms, 1)} ms (${fmt(ms / cells.length, 2)} ms a counter)`;
  const row = (figure: string, ms: number) => ({
    figure: `${figure} (${cells.length} counters, 2048-bit Paillier)`,
    measured: per(ms),
    baseline,
    ratio: ms / a.ms,
    goal: "—",
  });
  return [
    row("a day's counters: encrypt", encryptMs),
    row("a day's counters: add two trails'", addMs),
    row("a day's counters: decrypt the sum", decryptMs),
  ];
}
