import type { KeyObject } from "node:crypto";
import type Database from "better-sqlite3";
import { recoverDigest, signedDigest } from "../crypto/signing.server";
import {
  RECORD_COLUMNS,
  COL,
  normalizeRecord,
  recordSigningInput,
  SQL_TYPES_OK,
  type RawRecord,
} from "./encoding.server";
import type { Finding } from "./findings";
import type { CheckpointInfo } from "./verify.server";

// The second pass, run only when the fast pass failed: every row's signature is checked to name
// exactly which records were modified, inserted, reordered or duplicated, or are missing.

const CHUNK = 500;
const MAX_CANDIDATES = 512;
const SELECT_RECORDS = `SELECT ${RECORD_COLUMNS.join(", ")} FROM audit_records WHERE seq > ? ORDER BY seq LIMIT ${CHUNK}`;

function* recordChunks(sqlite: Database.Database): Generator<RawRecord[]> {
  const select = sqlite.prepare(SELECT_RECORDS).raw(true);
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const raw = select.all(after) as unknown[][];
    if (raw.length === 0) return;
    after = raw[raw.length - 1]![0] as number;
    yield raw.map(normalizeRecord);
  }
}

type Mismatch = { row: RawRecord; digest: Buffer };

const MAX_NAMED_MISSING = 1000;

/**
 * Findings for missing seqs `from`…`to`; the last is named by `lastLogId` (its successor's
 * prev_log_id, or the head's). A long run is named up to a cap, then summed up in one finding.
 */
export function missingRecords(
  from: number,
  to: number,
  lastLogId: string | null,
  present: ReadonlySet<number> = new Set(),
): Finding[] {
  const findings: Finding[] = [];
  const finding = (seq: number): Finding => {
    const logId = seq === to ? lastLogId : null;
    return {
      kind: "missing",
      target: "record",
      seq,
      logId,
      detail: `the record is missing${logId ? "" : " (its log id is not recoverable)"}`,
    };
  };
  // Walks at most the cap (plus the records present): a forged head of any size costs the same.
  let seq = from;
  for (; seq < to && findings.length < MAX_NAMED_MISSING; seq++) {
    if (!present.has(seq)) findings.push(finding(seq));
  }
  let presentLater = 0;
  for (const p of present) if (p >= seq && p < to) presentLater++;
  const unnamed = Math.max(0, to - seq - presentLater);
  if (unnamed > 0) {
    findings.push({
      kind: "missing",
      target: "record",
      detail: `${unnamed} more records between seq ${from} and ${to} are missing`,
    });
  }
  if (to >= from && !present.has(to)) findings.push(finding(to));
  return findings;
}

/** Second pass, only when the fast pass failed: names each affected record and what happened to it. */
export function classifyRecords(
  sqlite: Database.Database,
  keys: Map<string, KeyObject>,
  newest: CheckpointInfo | null,
): Finding[] {
  const findings: Finding[] = retypedRecords(sqlite);
  const sealedSize = newest?.treeSize ?? 0;
  const duplicates = new Map<string, number[]>();
  for (const { log_id, seqs } of sqlite
    .prepare(
      "SELECT log_id, group_concat(seq) AS seqs FROM audit_records GROUP BY log_id HAVING count(*) > 1",
    )
    .all() as { log_id: string; seqs: string }[]) {
    duplicates.set(
      log_id,
      seqs
        .split(",")
        .map(Number)
        .sort((a, b) => a - b),
    );
  }
  const mismatches: Mismatch[] = [];
  let expected = 1;
  let pendingGap: { from: number; to: number } | null = null;
  const reportGap = (gap: { from: number; to: number }, lastLogId: string | null) =>
    findings.push(...missingRecords(gap.from, gap.to, lastLogId));

  for (const rows of recordChunks(sqlite)) {
    for (const row of rows) {
      const [seq, logId, , , , , , , , , , , , , , , keyId, signature] = row;
      if (seq > expected) pendingGap = { from: expected, to: seq - 1 };
      expected = Math.max(expected, seq + 1);
      const key = keys.get(keyId);
      let valid = false;
      if (!key) {
        findings.push({
          kind: "unknown_key",
          target: "record",
          seq,
          logId,
          detail: `signed by unknown key ${keyId.slice(0, 16)}`,
        });
      } else {
        const digest = recoverDigest(key, signature);
        valid = digest !== null && digest.equals(signedDigest(recordSigningInput(row)));
        if (!valid) {
          if (seq > sealedSize) {
            findings.push({
              kind: "inserted",
              target: "record",
              seq,
              logId,
              detail: "added after the newest checkpoint, and not validly signed",
            });
          } else if (!digest) {
            findings.push({
              kind: "bad_signature",
              target: "record",
              seq,
              logId,
              detail: "the signature is not a valid signature",
            });
          } else {
            mismatches.push({ row, digest });
          }
        } else if (seq > sealedSize) {
          findings.push({
            kind: "bad_checkpoint",
            target: "record",
            seq,
            logId,
            detail:
              "validly signed but not sealed by the newest checkpoint: checkpoints were removed or rolled back",
          });
        }
      }
      if (pendingGap) {
        reportGap(pendingGap, valid ? row[COL.prevLogId] : null);
        pendingGap = null;
      }
      const copies = duplicates.get(logId);
      if (copies && copies[0] !== seq) {
        findings.push({
          kind: "duplicated",
          target: "record",
          seq,
          logId,
          detail: `a copy of the record at seq ${copies[0]}`,
        });
      }
    }
  }
  if (newest && expected <= newest.treeSize) {
    reportGap({ from: expected, to: newest.treeSize }, newest.lastLogId);
  }

  // A genuine signature over the same record at another position means the record was moved.
  const candidateSeqs = (m: Mismatch) => {
    const seq = m.row[COL.seq];
    const near = [seq - 1, seq + 1, ...(duplicates.get(m.row[COL.logId]) ?? [])];
    return mismatches.length <= MAX_CANDIDATES
      ? [...near, ...mismatches.map((o) => o.row[COL.seq])]
      : near;
  };
  for (const m of mismatches) {
    const [seq, logId] = m.row;
    const signedAt = candidateSeqs(m).find(
      (t) => t !== seq && t > 0 && m.digest.equals(signedDigest(recordSigningInput(m.row, t))),
    );
    if (signedAt !== undefined && duplicates.has(logId)) {
      // Already reported as a duplicate of the copy at its signed position.
    } else if (signedAt !== undefined) {
      findings.push({
        kind: "reordered",
        target: "record",
        seq,
        logId,
        detail: `holds the record signed for seq ${signedAt}`,
      });
    } else {
      findings.push({
        kind: "modified",
        target: "record",
        seq,
        logId,
        detail: "the stored record differs from what was signed",
      });
    }
  }
  // A re-typed record whose bytes also changed is named by what changed; "re-typed" is for the
  // record whose bytes are the same, which nothing else would name.
  const named = new Set(
    findings
      .filter((f) => f.target === "record" && !f.detail.includes("another type"))
      .map((f) => f.seq),
  );
  return findings.filter((f) => !(f.detail.includes("another type") && named.has(f.seq)));
}

/** Records with a column stored as another type than declared: changed in place, in the file. */
function retypedRecords(sqlite: Database.Database): Finding[] {
  const rows = sqlite
    .prepare(`SELECT seq, CAST(log_id AS TEXT) FROM audit_records WHERE NOT ${SQL_TYPES_OK}`)
    .raw(true)
    .all() as [number, string | null][];
  return rows.map(([seq, logId]) => ({
    kind: "modified",
    target: "record",
    seq,
    logId,
    detail: "a column of the record was stored as another type than was written",
  }));
}
