import type Database from "better-sqlite3";
import { missingRecords } from "./classify.server";
import type { Finding } from "./findings";
import type { CheckpointInfo, Witness } from "./verify.server";
import type { HeadRead } from "./witness.server";

// What the database must extend: the head file, the head this server last verified or wrote, and
// the tree heads the witnesses cosigned (docs/decisions/010 and 016).

/**
 * The database against the head kept outside it, and against the head this server itself last
 * verified or wrote (`remembered`, which no file edit reaches). No head, or an unreadable one,
 * fails as soon as the trail has a checkpoint; a head the database has fallen behind names the
 * records cut off; a head that disagrees with the checkpoint of its number means history was
 * rewritten.
 */
export function checkAnchor(
  sqlite: Database.Database,
  newest: CheckpointInfo | null,
  head: HeadRead,
  remembered: Witness | null,
  checkpointAt: (number: number) => CheckpointInfo | null,
): { findings: Finding[]; witness: Witness | null } {
  const findings: Finding[] = [];
  const witness = head.state === "found" ? head.head : null;
  if ((head.state === "missing" || head.state === "unreadable") && newest) {
    const problem = head.state === "missing" ? "is missing" : head.reason;
    findings.push({
      kind: "anchor",
      target: "head",
      ref: head.file,
      detail: `the head file ${problem} while the database holds ${newest.number} checkpoint(s): a rollback or a replaced database cannot be ruled out`,
    });
  }
  const known = [witness, remembered]
    .filter((w): w is Witness => w !== null)
    .sort((a, b) => b.number - a.number);
  const newestNumber = newest?.number ?? 0;
  const ahead = known.find((w) => w.number > newestNumber);
  if (ahead) findings.push(...rolledBack(sqlite, newest, ahead));
  for (const w of known.filter((w) => w.number <= newestNumber)) {
    const seen = checkpointAt(w.number);
    const differs = !seen || seen.treeSize !== w.treeSize || !seen.rootHash.equals(w.rootHash);
    if (differs && !findings.some((f) => f.ref === String(w.number))) {
      findings.push({
        kind: "rollback",
        target: "checkpoint",
        ref: String(w.number),
        detail: `checkpoint #${w.number} differs from the one seen before: history was rewritten`,
      });
    }
  }
  return { findings, witness };
}

/** The database is behind a head seen before: rolled back, and every record cut off named. */
function rolledBack(
  sqlite: Database.Database,
  newest: CheckpointInfo | null,
  seen: Witness,
): Finding[] {
  const findings: Finding[] = [
    {
      kind: "rollback",
      target: "checkpoint",
      ref: String(newest?.number ?? 0),
      detail: `the newest checkpoint is #${newest?.number ?? 0}, older than #${seen.number} seen before: the database was rolled back`,
    },
  ];
  const sealed = newest?.treeSize ?? 0;
  if (sealed < seen.treeSize) findings.push(...cutOff(sqlite, sealed, seen));
  return findings;
}

/** The records after `after` up to a head's size that the database no longer holds. */
function cutOff(sqlite: Database.Database, after: number, seen: Witness): Finding[] {
  const present = new Set(
    sqlite
      .prepare("SELECT seq FROM audit_records WHERE seq > ? AND seq <= ?")
      .pluck()
      .all(after, seen.treeSize) as number[],
  );
  return missingRecords(after + 1, seen.treeSize, seen.lastLogId ?? null, present);
}

/** A tree head a witness cosigned: the database must hold it and extend it. */
export type WitnessedHead = {
  /** The witness's key name. */
  witness: string;
  treeSize: number;
  rootHash: Buffer;
  /** When the witness cosigned it (POSIX seconds). */
  timestamp: number;
  /** Whether the note the witness holds is signed by this trail's note key; null if unchecked. */
  logSigned: boolean | null;
};

/**
 * The database against what the witnesses cosigned: each head must be a prefix of the records
 * (`rootsAt` holds the root the records give at each head's size). A head the database falls
 * short of names the records cut off, unless an earlier finding named them already.
 */
export function checkWitnessed(
  sqlite: Database.Database,
  heads: readonly WitnessedHead[],
  rootsAt: ReadonlyMap<number, Buffer>,
  records: number,
  earlier: readonly Finding[],
): Finding[] {
  const findings: Finding[] = [];
  const named = new Set(earlier.filter((f) => f.kind === "missing").map((f) => f.seq));
  for (const head of heads) {
    const at = `${head.treeSize} records, cosigned at ${new Date(head.timestamp * 1000).toISOString()}`;
    if (head.logSigned === false) {
      findings.push({
        kind: "unknown_key",
        target: "witness",
        ref: head.witness,
        detail: `the checkpoint witness ${head.witness} holds (${at}) is not signed by this trail's note key: the trail's key was replaced`,
      });
    }
    if (head.treeSize > records) {
      findings.push({
        kind: "rollback",
        target: "witness",
        ref: head.witness,
        detail: `witness ${head.witness} cosigned a tree of ${at}; the database holds ${records}: it was rolled back or cut short`,
      });
      const missing = cutOff(sqlite, records, { number: 0, ...head });
      findings.push(...missing.filter((f) => !named.has(f.seq)));
      missing.forEach((f) => named.add(f.seq));
    } else if (head.treeSize > 0 && !rootsAt.get(head.treeSize)?.equals(head.rootHash)) {
      findings.push({
        kind: "rollback",
        target: "witness",
        ref: head.witness,
        detail: `the records do not reproduce the tree of ${at} by witness ${head.witness}: history was rewritten`,
      });
    }
  }
  return findings;
}
