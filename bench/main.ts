// npm run bench [-- --large]: the figures the design asks for, each as a ratio against a
// baseline measured in the same run, so that a noisy machine does not mislead.
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../app/config.server";
import { createAppContext, type AppContext } from "../app/context.server";
import { parseVerifierKey } from "../app/crypto/note";
import { lastCosignedSize } from "../app/models/cosignature.server";
import type { User } from "../app/models/user.server";
import { viewTrail } from "../app/services/trail-view.server";
import { appendRecords, type RecordInput } from "../app/trail/append.server";
import { recordLeafInput, normalizeRecord } from "../app/trail/encoding.server";
import { RECORD_COLUMNS } from "../app/trail/encoding.server";
import { verifyNow } from "../app/trail/guard.server";
import { createSignerPool, type SignerPool } from "../app/trail/signer-pool.server";
import { noteVerifierKey } from "../app/trail/checkpoint-note.server";
import { startWitnessing, witnessingSettled } from "../app/trail/witnessing.server";
import { serveLocalWitness, trustLog, type LocalWitness } from "../server/local-witness";

const large = process.argv.includes("--large");
const BIG = large ? 1_000_000 : 100_000;
const SMALL = 10_000;
const BATCH = 1000;
const BENCH_PATIENT = "MRN-BENCH-0001";
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "ehr-bench-"));
const keysDir = path.join(work, "keys");

function context(name: string, env: Record<string, string> = {}): AppContext {
  return createAppContext(
    loadConfig({
      NODE_ENV: "production",
      DATABASE_PATH: path.join(work, `${name}.db`),
      KEYS_DIR: keysDir,
      TRAIL_HEAD_PATH: path.join(work, `${name}.head.json`),
      OUTBOX_DIR: path.join(work, "outbox"),
      ...env,
    }),
  );
}

function event(i: number, total: number): RecordInput {
  // The measured patient has the same 200 records in every trail; the rest spread over 5000.
  const step = Math.floor(total / 200);
  const patientId = i % step === 0 ? BENCH_PATIENT : `MRN-${(i * 7919) % 5000}`;
  return {
    patientId,
    actorId: `E${1000 + (i % 300)}`,
    actorName: `Clinician ${i % 300}`,
    action: ["read", "update", "create", "print"][i % 4]!,
    tableAffected: ["medications", "lab_results", "clinical_notes", "imaging"][i % 4]!,
    occurredAt: Date.UTC(2026, 0, 1) + i * 1000,
    notes: "routine access during an inpatient stay",
    sourceId: "bench-ehr",
  };
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

function progress(label: string, done: number, total: number) {
  if (done === total || done % (BATCH * 20) === 0)
    process.stderr.write(`\r  ${label}: ${fmt(done)} / ${fmt(total)}   `);
  if (done === total) process.stderr.write("\n");
}

async function rawSignsPerSecond(pool: SignerPool): Promise<number> {
  const inputs = Array.from({ length: pool.threads * 600 }, () => randomBytes(700));
  await pool.sign(inputs.slice(0, pool.threads * 20)); // warm the workers
  const started = performance.now();
  await pool.sign(inputs);
  return inputs.length / ((performance.now() - started) / 1000);
}

async function build(
  ctx: AppContext,
  total: number,
  pool: SignerPool,
  label: string,
): Promise<number> {
  verifyNow(ctx);
  const started = performance.now();
  for (let i = 0; i < total; i += BATCH) {
    const inputs = Array.from({ length: Math.min(BATCH, total - i) }, (_, j) =>
      event(i + j, total),
    );
    await appendRecords(ctx, inputs, { signer: pool.sign });
    progress(label, i + inputs.length, total);
  }
  return total / ((performance.now() - started) / 1000);
}

/** SHA-256 over the same bytes the verifier hashes (every leaf's input), already in memory. */
function sha256Baseline(ctx: AppContext): { ms: number; bytes: number } {
  const chunks: Buffer[] = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const select = ctx.conn.sqlite
    .prepare(`SELECT ${RECORD_COLUMNS.join(", ")} FROM audit_records ORDER BY seq`)
    .raw(true);
  for (const row of select.iterate()) {
    const leaf = recordLeafInput(normalizeRecord(row as unknown[]));
    pending.push(leaf);
    pendingBytes += leaf.length;
    if (pendingBytes > 8 << 20) {
      chunks.push(Buffer.concat(pending));
      pending = [];
      pendingBytes = 0;
    }
  }
  chunks.push(Buffer.concat(pending));
  const bytes = chunks.reduce((n, c) => n + c.length, 0);
  const started = performance.now();
  const hash = createHash("sha256");
  for (const chunk of chunks) hash.update(chunk);
  hash.digest();
  return { ms: performance.now() - started, bytes };
}

function verifyInChild(ctx: AppContext) {
  ctx.conn.sqlite.pragma("wal_checkpoint(TRUNCATE)");
  const out = execFileSync(
    process.execPath,
    [
      "--import",
      "tsx",
      path.join(root, "bench/verify-child.ts"),
      ctx.config.DATABASE_PATH,
      keysDir,
      ctx.config.TRAIL_ORIGIN,
    ],
    { encoding: "utf8", maxBuffer: 1 << 20 },
  );
  return JSON.parse(out) as { ok: boolean; records: number; ms: number; maxRssKb: number };
}

async function patientViewMs(ctx: AppContext, runs = 60): Promise<number> {
  const patient: User = {
    id: "bench-user",
    name: "Bench Patient",
    username: "bench",
    role: "patient",
    patientId: BENCH_PATIENT,
  };
  verifyNow(ctx);
  await viewTrail(ctx, patient); // warm caches
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const view = await viewTrail(ctx, patient);
    times.push(performance.now() - started);
    if (!view.ok || view.records.length !== 50)
      throw new Error("the bench patient's view is wrong");
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

/**
 * Milliseconds from an append (the API's path: one record, signed in this thread) until a quorum
 * of two local witness processes' cosignatures for it is stored, median over `runs` appends to a
 * trail of `history` records; and, as the baseline, the same appends without witnesses.
 */
async function appendToQuorum(
  runs: number,
  history: number,
  pool: SignerPool,
  keysFrom: AppContext,
) {
  const witnesses: LocalWitness[] = [];
  try {
    const origin = keysFrom.config.TRAIL_ORIGIN;
    const logVkey = noteVerifierKey(keysFrom.keys);
    for (const i of [1, 2]) {
      const dir = path.join(work, `witness-${i}`);
      trustLog(dir, origin, logVkey);
      witnesses.push(await serveLocalWitness(dir, { name: `bench-witness-${i}` }));
    }
    const keys = await Promise.all(witnesses.map((w) => parseVerifierKey(w.vkey)));
    const ctx = context("witnessed", {
      WITNESSES: witnesses.map((w) => w.entry).join(","),
      WITNESS_QUORUM: "2",
    });
    await build(ctx, history, pool, "witnessed trail");
    let next = history;
    const append = async () => {
      const result = await appendRecords(ctx, [event(next++, history + 2 * runs)]);
      return result.checkpoint.treeSize;
    };
    const alone: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      await append();
      alone.push(performance.now() - started);
    }
    const witnessing = await startWitnessing(ctx);
    try {
      // The witnesses first catch up with the history: not measured.
      const head = verifyNow(ctx).checkpoint;
      if (head) witnessing.offer(head);
      await witnessingSettled(ctx);
      const toQuorum: number[] = [];
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        const size = await append();
        while (keys.filter((k) => lastCosignedSize(ctx, k) >= size).length < 2) {
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        toQuorum.push(performance.now() - started);
      }
      return { toQuorum: median(toQuorum), alone: median(alone) };
    } finally {
      await witnessing.stop();
    }
  } finally {
    await Promise.all(witnesses.map((w) => w.stop()));
  }
}

async function main() {
  console.log(
    `EHR audit trail benchmark: ${fmt(BIG)} records (baseline trail ${fmt(SMALL)}), ${os.availableParallelism()} cores`,
  );
  const big = context("big");
  const pool = createSignerPool(big.keys.signing.privateKey);
  try {
    const signs = await rawSignsPerSecond(pool);
    const ingest = await build(big, BIG, pool, "ingest");
    const small = context("small");
    await build(small, SMALL, pool, "baseline trail");

    const sha = sha256Baseline(big);
    const verification = verifyInChild(big);
    if (!verification.ok) throw new Error("the generated trail did not verify");

    const bigView = await patientViewMs(big);
    const smallView = await patientViewMs(small);
    const QUORUM_RUNS = 20;
    const quorum = await appendToQuorum(QUORUM_RUNS, SMALL, pool, big);

    const rows = [
      [
        "ingest",
        `${fmt(ingest)} records/s vs ${fmt(signs)} raw RSA-3072 signs/s on all cores`,
        ingest / signs,
        "≥ 0.8",
      ],
      [
        "full verification",
        `${fmt(verification.ms)} ms vs ${fmt(sha.ms)} ms to SHA-256 the same ${fmt(sha.bytes / 2 ** 20, 1)} MiB`,
        verification.ms / sha.ms,
        "≤ 2",
      ],
      ["verifier peak RSS", `${fmt(verification.maxRssKb / 1024, 1)} MB`, null, "< 256 MB"],
      [
        "patient view latency",
        `${fmt(bigView, 2)} ms with ${fmt(BIG)} records vs ${fmt(smallView, 2)} ms with ${fmt(SMALL)} (median)`,
        bigView / smallView,
        "≤ 1.5",
      ],
      [
        "append → quorum cosignature",
        `${fmt(quorum.toQuorum / 1000, 3)} s with 2 of 2 local witness processes vs ${fmt(quorum.alone, 2)} ms for the append alone (median of ${QUORUM_RUNS})`,
        quorum.toQuorum / quorum.alone,
        "≤ 30 s",
      ],
    ] as const;
    console.log("\n| figure | measured | ratio | goal |\n|---|---|---|---|");
    for (const [name, measured, ratio, goal] of rows) {
      console.log(`| ${name} | ${measured} | ${ratio === null ? "—" : fmt(ratio, 2)} | ${goal} |`);
    }
  } finally {
    await pool.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

await main();
