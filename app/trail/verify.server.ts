import type { KeyObject } from "node:crypto";
import type Database from "better-sqlite3";
import { Frontier } from "../crypto/merkle.server";
import type { LeafHashes } from "./leaf-hashes";
import { leafWorkersFor, rebuildTree, type RebuiltTree, type Steps } from "./tree-pass.server";
import type { LeafWorkers } from "./leaf-chunks.server";
import { checkSignature } from "../crypto/signing.server";
import { checkAnchor, checkWitnessed, type WitnessedHead } from "./anchor-check.server";
import { classifyRecords } from "./classify.server";
import { checkpointSigningInput, type CheckpointBody } from "./encoding.server";
import type { Finding } from "./findings";
import { checkSignedTable } from "./signed-rows.server";
import type { HeadRead } from "./witness.server";

// Verification needs only public keys: it runs in the server before every display decision and
// offline in `npm run cli -- verify`. docs/decisions/005-verification.md explains when each part runs.

export { FINDING_KINDS, FINDING_LABELS, type Finding, type FindingKind } from "./findings";

export type CheckpointInfo = Omit<CheckpointBody, "origin"> & { signature: Buffer };

/** A tree head known to have been good: the trail must never fall behind or diverge from it. */
export type Witness = {
  number: number;
  treeSize: number;
  rootHash: Buffer;
  /** The log id at seq treeSize: names the last record when the tail is cut off. */
  lastLogId?: string | null;
};

export type VerifyReport = {
  ok: boolean;
  records: number;
  users: number;
  sources: number;
  invitations: number;
  checkpoint: CheckpointInfo | null;
  findings: Finding[];
  /** With `keepLeaves`, every record's leaf hash in seq order (when seqs run 1, 2, 3 …). */
  leaves?: LeafHashes | null;
};

export type VerifyOptions = {
  origin: string;
  /** The head kept outside the database; a trail with checkpoints and no head fails. */
  head: HeadRead;
  /** The head this process last verified or wrote itself, when it has one. */
  remembered?: Witness | null;
  /** Tree heads the witnesses cosigned, each of which the records must extend. */
  witnessed?: readonly WitnessedHead[];
  /** Called as rows are checked: (done, total). */
  onProgress?: (done: number, total: number) => void;
  /**
   * Worker threads that read and hash the rows beside the verifying thread, each on its own
   * connection to `file` (verifyTrailAsync only). By default, every core for 20,000 rows or more.
   */
  leafThreads?: number;
  /** Keep every leaf hash in the report (the server's pass: leaf-hashes.ts). */
  keepLeaves?: boolean;
};

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
  const steps = inSnapshot(sqlite, () => verifySteps(sqlite, keys, options, null));
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (step.value) throw new Error("a synchronous pass has nothing to wait for");
  }
}

/**
 * The same pass, giving the event loop back after every chunk of rows: a server verifying a
 * million records goes on serving requests meanwhile. `sqlite` must be a connection of its own
 * (a read transaction stays open across the pauses).
 */
export async function verifyTrailAsync(
  sqlite: Database.Database,
  keys: Map<string, KeyObject>,
  options: VerifyOptions,
): Promise<VerifyReport> {
  // Started before the snapshot, so that they can show theirs came after it with nothing between.
  const workers = leafWorkersFor(sqlite, options.leafThreads);
  try {
    const steps = inSnapshot(sqlite, () => verifySteps(sqlite, keys, options, workers));
    let outcome: { value?: unknown; error?: unknown } = {};
    for (;;) {
      const step = "error" in outcome ? steps.throw(outcome.error) : steps.next(outcome.value);
      if (step.done) return step.value;
      if (!step.value) {
        await new Promise((resolve) => setImmediate(resolve));
        outcome = {};
        continue;
      }
      outcome = await step.value.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
    }
  } finally {
    await workers?.close();
  }
}

function* inSnapshot<T>(sqlite: Database.Database, steps: () => Steps<T>): Steps<T> {
  if (sqlite.inTransaction) return yield* steps();
  sqlite.exec("BEGIN");
  try {
    return yield* steps();
  } finally {
    sqlite.exec("COMMIT");
  }
}

/** The pass, as steps: it yields after each chunk of rows, and returns the report. */
function* verifySteps(
  sqlite: Database.Database,
  keys: Map<string, KeyObject>,
  options: VerifyOptions,
  workers: LeafWorkers | null,
): Steps<VerifyReport> {
  const findings: Finding[] = [];
  const newest = readCheckpoint(sqlite, "ORDER BY number DESC LIMIT 1");
  if (newest) findings.push(...checkCheckpoint(newest, keys, options.origin));
  findings.push(...checkSchema(sqlite));
  const anchor = checkAnchor(sqlite, newest, options.head, options.remembered ?? null, (n) =>
    readCheckpoint(sqlite, "WHERE number = ?", n),
  );
  findings.push(...anchor.findings);
  const witness = anchor.witness;

  const total = (sqlite.prepare("SELECT count(*) AS n FROM audit_records").get() as { n: number })
    .n;
  const witnessed = options.witnessed ?? [];
  // The root the records give at each size an anchor names.
  const anchorSizes = new Set([witness?.treeSize ?? 0, ...witnessed.map((h) => h.treeSize)]);
  const reproduces = (tree: RebuiltTree) =>
    tree.frontier.treeSize === total &&
    tree.wellFormed &&
    tree.keysKnown &&
    (!witness ||
      witness.treeSize === 0 ||
      !!tree.rootsAt.get(witness.treeSize)?.equals(witness.rootHash)) &&
    (newest
      ? tree.frontier.treeSize === newest.treeSize &&
        tree.frontier.root().equals(newest.rootHash) &&
        tree.lastLogId === newest.lastLogId
      : total === 0);
  const tree = yield* rebuildTree(sqlite, total, {
    keys,
    anchorSizes,
    reproduces,
    workers,
    onProgress: options.onProgress,
    keepLeaves: options.keepLeaves,
  });
  const sealed = reproduces(tree);

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
  findings.push(
    ...checkWitnessed(sqlite, witnessed, tree.rootsAt, tree.frontier.treeSize, findings),
  );
  const [users, sources, invitations] = (["users", "sources", "invitations"] as const).map(
    (table) => checkSignedTable(sqlite, keys, table),
  ) as [
    ReturnType<typeof checkSignedTable>,
    ReturnType<typeof checkSignedTable>,
    ReturnType<typeof checkSignedTable>,
  ];
  findings.push(...users.findings, ...sources.findings, ...invitations.findings);
  findings.push(...checkSignedTable(sqlite, keys, "notice_settings").findings);
  return {
    ok: findings.length === 0,
    records: total,
    users: users.count,
    sources: sources.count,
    invitations: invitations.count,
    checkpoint: newest,
    findings,
    leaves: tree.wellFormed ? tree.leaves : null,
  };
}

/** Triggers are never part of the schema: one planted in the file could rewrite records as they are written. */
function checkSchema(sqlite: Database.Database): Finding[] {
  const triggers = sqlite
    .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
    .pluck()
    .all() as string[];
  return triggers.map((name) => ({
    kind: "modified",
    target: "database",
    ref: name,
    detail: `a trigger "${name}" was added to the database file; it can change rows as they are written`,
  }));
}
