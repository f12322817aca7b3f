import type { KeyObject } from "node:crypto";
import type Database from "better-sqlite3";
import { Frontier, hashPrefixed } from "../crypto/merkle.server";
import { checkSignature, recoverDigest, signedDigest } from "../crypto/signing.server";
import {
  checkpointSigningInput,
  RECORD_COLUMNS,
  SQL_LEAF_WITH_PREFIX,
  normalizeRecord,
  recordSigningInput,
  USER_SIGNED_COLUMNS,
  userSigningInput,
  type CheckpointBody,
  type RawRecord,
} from "./encoding.server";

// Verification needs only public keys: it runs in the server before every display decision and
// offline in `npm run cli -- verify`. docs/decisions/005-verification.md explains when each part runs.

export const FINDING_KINDS = [
  "modified",
  "bad_signature",
  "missing",
  "inserted",
  "duplicated",
  "reordered",
  "bad_checkpoint",
  "unknown_key",
  "rollback",
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export const FINDING_LABELS: Record<FindingKind, string> = {
  modified: "Modified",
  bad_signature: "Bad signature",
  missing: "Missing",
  inserted: "Inserted",
  duplicated: "Duplicated",
  reordered: "Reordered",
  bad_checkpoint: "Bad checkpoint",
  unknown_key: "Unknown key",
  rollback: "Rolled back",
};

/** One thing found wrong. It names positions and ids only, never field contents (no PHI). */
export type Finding = {
  kind: FindingKind;
  target: "record" | "checkpoint" | "user" | "database";
  seq?: number;
  logId?: string | null;
  /** A checkpoint number or a user id. */
  ref?: string;
  detail: string;
};

export type CheckpointInfo = Omit<CheckpointBody, "origin"> & { signature: Buffer };

/** A tree head known to have been good: the trail must never fall behind or diverge from it. */
export type Witness = { number: number; treeSize: number; rootHash: Buffer };

export type VerifyReport = {
  ok: boolean;
  records: number;
  users: number;
  checkpoint: CheckpointInfo | null;
  findings: Finding[];
};

export type VerifyOptions = {
  origin: string;
  witness?: Witness | null;
  /** Called as rows are checked: (done, total). */
  onProgress?: (done: number, total: number) => void;
};

const CHUNK = 500;
const MAX_CANDIDATES = 512;
const SELECT_RECORDS = `SELECT ${RECORD_COLUMNS.join(", ")} FROM audit_records WHERE seq > ? ORDER BY seq LIMIT ${CHUNK}`;
const SELECT_LEAVES = `SELECT seq, log_id, key_id, ${SQL_LEAF_WITH_PREFIX} FROM audit_records WHERE seq > ? ORDER BY seq LIMIT ${CHUNK}`;

/** The fast pass's view of a record: position, ids, and 0x00 ‖ its leaf input. */
type Leaf = [seq: number, logId: unknown, keyId: unknown, prefixedLeaf: Buffer];

function* leafChunks(sqlite: Database.Database): Generator<Leaf[]> {
  const select = sqlite.prepare(SELECT_LEAVES).raw(true);
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const rows = select.all(after) as Leaf[];
    if (rows.length === 0) return;
    after = rows[rows.length - 1]![0];
    yield rows;
  }
}

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

function readCheckpoint(
  sqlite: Database.Database,
  where: string,
  arg?: number,
): (CheckpointInfo & { origin: string; frontier: Buffer }) | null {
  const row = sqlite
    .prepare(
      `SELECT number, origin, tree_size, root_hash, last_log_id, created_at, key_id, signature, frontier FROM checkpoints ${where}`,
    )
    .get(...(arg === undefined ? [] : [arg])) as
    | {
        number: number;
        origin: string;
        tree_size: number;
        root_hash: Buffer;
        last_log_id: string | null;
        created_at: number;
        key_id: string;
        signature: Buffer;
        frontier: Buffer;
      }
    | undefined;
  if (!row) return null;
  // Coerced like records: a value of the wrong type fails the signature instead of the verifier.
  const int = (v: unknown) => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : 0);
  const bytes = (v: unknown) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v ?? ""), "utf8"));
  return {
    number: int(row.number),
    origin: String(row.origin),
    treeSize: int(row.tree_size),
    rootHash: bytes(row.root_hash),
    lastLogId: row.last_log_id === null ? null : String(row.last_log_id),
    createdAt: int(row.created_at),
    keyId: String(row.key_id),
    signature: bytes(row.signature),
    frontier: bytes(row.frontier),
  };
}

function checkCheckpoint(
  cp: NonNullable<ReturnType<typeof readCheckpoint>>,
  keys: Map<string, KeyObject>,
  origin: string,
): Finding[] {
  const ref = String(cp.number);
  const key = keys.get(cp.keyId);
  if (!key) {
    return [
      {
        kind: "unknown_key",
        target: "checkpoint",
        ref,
        detail: `signed by unknown key ${cp.keyId.slice(0, 16)}`,
      },
    ];
  }
  const findings: Finding[] = [];
  if (checkSignature(key, checkpointSigningInput(cp), cp.signature) !== "valid") {
    findings.push({
      kind: "bad_checkpoint",
      target: "checkpoint",
      ref,
      detail: "the signature does not match its contents",
    });
  }
  if (cp.origin !== origin) {
    findings.push({
      kind: "bad_checkpoint",
      target: "checkpoint",
      ref,
      detail: `belongs to another trail ("${cp.origin}")`,
    });
  }
  let frontierOk = false;
  try {
    frontierOk = Frontier.restore(cp.treeSize, cp.frontier).root().equals(cp.rootHash);
  } catch {
    frontierOk = false;
  }
  if (!frontierOk) {
    findings.push({
      kind: "bad_checkpoint",
      target: "checkpoint",
      ref,
      detail: "the stored tree frontier does not match its root",
    });
  }
  return findings;
}

function checkUsers(
  sqlite: Database.Database,
  keys: Map<string, KeyObject>,
): { count: number; findings: Finding[] } {
  const rows = sqlite
    .prepare(`SELECT ${USER_SIGNED_COLUMNS.join(", ")}, signature FROM users ORDER BY id`)
    .raw(true)
    .all() as (string | number | Buffer)[][];
  const findings: Finding[] = [];
  for (const row of rows) {
    const values = row.slice(0, USER_SIGNED_COLUMNS.length);
    const id = String(row[0]);
    const keyId = String(row[USER_SIGNED_COLUMNS.length - 1]);
    const key = keys.get(keyId);
    if (!key) {
      findings.push({
        kind: "unknown_key",
        target: "user",
        ref: id,
        detail: `signed by unknown key ${keyId.slice(0, 16)}`,
      });
      continue;
    }
    let check: ReturnType<typeof checkSignature>;
    try {
      check = checkSignature(
        key,
        userSigningInput(values),
        row[USER_SIGNED_COLUMNS.length] as Buffer,
      );
    } catch {
      // A value of the wrong type or range cannot be what was signed.
      check = "mismatch";
    }
    if (check === "mismatch") {
      findings.push({
        kind: "modified",
        target: "user",
        ref: id,
        detail: "the account row was changed after it was signed",
      });
    } else if (check === "malformed") {
      findings.push({
        kind: "bad_signature",
        target: "user",
        ref: id,
        detail: "the signature is not a valid signature",
      });
    }
  }
  return { count: rows.length, findings };
}

type Mismatch = { row: RawRecord; digest: Buffer };

/** Second pass, only when the fast pass failed: names each affected record and what happened to it. */
function classifyRecords(
  sqlite: Database.Database,
  keys: Map<string, KeyObject>,
  newest: CheckpointInfo | null,
): Finding[] {
  const findings: Finding[] = [];
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
  /** Missing seqs; the last is named by its successor's prev_log_id or the checkpoint's last_log_id. */
  const reportGap = (gap: { from: number; to: number }, lastLogId: string | null) => {
    for (let seq = gap.from; seq <= gap.to; seq++) {
      const logId = seq === gap.to ? lastLogId : null;
      findings.push({
        kind: "missing",
        target: "record",
        seq,
        logId,
        detail: `the record is missing${logId ? "" : " (its log id is not recoverable)"}`,
      });
    }
  };

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
        reportGap(pendingGap, valid ? row[2] : null);
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
    const seq = m.row[0];
    const near = [seq - 1, seq + 1, ...(duplicates.get(m.row[1]) ?? [])];
    return mismatches.length <= MAX_CANDIDATES
      ? [...near, ...mismatches.map((o) => o.row[0])]
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
  return findings;
}

/**
 * Verifies the whole trail: rebuilds the Merkle root from the rows in seq order and compares it
 * with the newest signed checkpoint (and the witness). Only when that fails does it check every
 * row's signature, to name exactly what was modified, inserted, reordered or is missing.
 */
export function verifyTrail(
  sqlite: Database.Database,
  keys: Map<string, KeyObject>,
  options: VerifyOptions,
): VerifyReport {
  // One read transaction: every statement sees the same snapshot, so an append committed by
  // another process half-way through is neither half-seen nor mistaken for an insertion.
  if (sqlite.inTransaction) return verifySnapshot(sqlite, keys, options);
  sqlite.exec("BEGIN");
  try {
    return verifySnapshot(sqlite, keys, options);
  } finally {
    sqlite.exec("COMMIT");
  }
}

function verifySnapshot(
  sqlite: Database.Database,
  keys: Map<string, KeyObject>,
  options: VerifyOptions,
): VerifyReport {
  const findings: Finding[] = [];
  const newest = readCheckpoint(sqlite, "ORDER BY number DESC LIMIT 1");
  if (newest) findings.push(...checkCheckpoint(newest, keys, options.origin));
  const witness = options.witness ?? null;
  if (witness) {
    if (!newest || newest.number < witness.number) {
      findings.push({
        kind: "rollback",
        target: "checkpoint",
        ref: String(newest?.number ?? 0),
        detail: `the newest checkpoint is #${newest?.number ?? 0}, older than #${witness.number} seen before: the database was rolled back`,
      });
    } else {
      const seen = readCheckpoint(sqlite, "WHERE number = ?", witness.number);
      if (!seen || seen.treeSize !== witness.treeSize || !seen.rootHash.equals(witness.rootHash)) {
        findings.push({
          kind: "rollback",
          target: "checkpoint",
          ref: String(witness.number),
          detail: `checkpoint #${witness.number} differs from the one seen before: history was rewritten`,
        });
      }
    }
  }

  const total = (sqlite.prepare("SELECT count(*) AS n FROM audit_records").get() as { n: number })
    .n;
  const frontier = Frontier.empty();
  let expected = 1;
  let contiguous = true;
  let witnessRootOk = !witness || witness.treeSize === 0;
  let lastLogId: string | null = null;
  let keysKnown = true;
  for (const leaves of leafChunks(sqlite)) {
    for (const [seq, logId, keyId, prefixedLeaf] of leaves) {
      if (seq !== expected) contiguous = false;
      expected = seq + 1;
      if (typeof keyId !== "string" || !keys.has(keyId)) keysKnown = false;
      frontier.append(hashPrefixed(prefixedLeaf));
      if (witness && frontier.treeSize === witness.treeSize) {
        witnessRootOk = frontier.root().equals(witness.rootHash);
      }
      lastLogId = typeof logId === "string" ? logId : null;
    }
    options.onProgress?.(frontier.treeSize, total);
  }
  const sealed =
    contiguous &&
    keysKnown &&
    witnessRootOk &&
    (newest
      ? frontier.treeSize === newest.treeSize &&
        frontier.root().equals(newest.rootHash) &&
        lastLogId === newest.lastLogId
      : total === 0);

  if (!sealed) {
    const named = classifyRecords(sqlite, keys, newest);
    findings.push(...named);
    if (named.length === 0 && findings.length === 0) {
      findings.push({
        kind: "bad_checkpoint",
        target: "checkpoint",
        ref: String(newest?.number ?? 0),
        detail: "the records do not reproduce the newest checkpoint's root",
      });
    }
  }
  const users = checkUsers(sqlite, keys);
  findings.push(...users.findings);
  return {
    ok: findings.length === 0,
    records: total,
    users: users.count,
    checkpoint: newest,
    findings,
  };
}
