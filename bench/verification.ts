// Full verification (the CLI's verify, in its own process) against SHA-256 of the same bytes.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import path from "node:path";
import type { AppContext } from "../app/context.server";
import { recordLeafInput, normalizeRecord, RECORD_COLUMNS } from "../app/trail/encoding.server";
import { KEYS_DIR, ROOT } from "./trail";

/** SHA-256 over the same bytes the verifier hashes (every leaf's input), already in memory. */
export function sha256Baseline(ctx: AppContext): { ms: number; bytes: number } {
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

export function verifyInChild(ctx: AppContext) {
  ctx.conn.sqlite.pragma("wal_checkpoint(TRUNCATE)");
  const out = execFileSync(
    process.execPath,
    [
      "--import",
      "tsx",
      path.join(ROOT, "bench/verify-child.ts"),
      ctx.config.DATABASE_PATH,
      KEYS_DIR,
      ctx.config.TRAIL_ORIGIN,
    ],
    { encoding: "utf8", maxBuffer: 1 << 20 },
  );
  return JSON.parse(out) as { ok: boolean; records: number; ms: number; maxRssKb: number };
}
