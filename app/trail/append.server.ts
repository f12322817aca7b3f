import type { AppContext } from "../context.server";
import { Frontier, type TreeNode } from "../crypto/merkle.server";
import { STORED_NODE_LEVEL } from "./proof.server";
import { signBytes } from "../crypto/signing.server";
import {
  checkpointSigningInput,
  COL,
  RECORD_COLUMNS,
  recordLeafHash,
  type CheckpointBody,
} from "./encoding.server";
import { assertTrailWritable, noteOwnWrite } from "./guard.server";
import { GroupCommit } from "./group-commit.server";
import { holdsLease, isBusy, releaseLease, takeLease, TrailBusyError } from "./lease.server";
import { processWide } from "../process-wide";
import { extendsHead, sealGroup, SIGN_CHUNK, type SealedGroup } from "./seal.server";

/** One audit event as a source reports it; every text field is encrypted at rest. */
export type RecordInput = {
  patientId: string;
  actorId: string;
  actorName: string;
  action: string;
  tableAffected: string;
  /** When the access happened, in ms since the epoch. */
  occurredAt: number;
  notes: string;
  sourceId: string;
  /**
   * What the source sent that the trail does not map to its own columns (the received FHIR
   * resource, canonical JSON): encrypted and signed with the record, returned on read.
   */
  extra?: string | null;
  /** Why: an HL7 PurposeOfUse code, checked by the caller; absent or null when not given. */
  purpose?: string | null;
};

export type CheckpointSummary = {
  number: number;
  treeSize: number;
  rootHash: string;
  createdAt: string;
  keyId: string;
};

export type AppendResult = {
  records: { logId: string; seq: number }[];
  checkpoint: CheckpointSummary;
};

/**
 * Signs many inputs; the default signs in this thread, a pool signs on every core. An urgent
 * call (a checkpoint, which a commit waits for) must not queue behind other records.
 */
export type Signer = (inputs: Buffer[], options?: { urgent?: boolean }) => Promise<Buffer[]>;

/** Another writer made progress first: start again from its head. */
export class AppendConflict extends Error {}

/** How long an append may wait for its turn in all, longer than a lease a dead holder leaves. */
const APPEND_DEADLINE_MS = 60_000;

type Head = {
  number: number;
  size: number;
  rootHash: Buffer;
  frontier: Frontier;
  lastLogId: string | null;
};

const INSERT_RECORD = `INSERT INTO audit_records (${RECORD_COLUMNS.join(", ")}) VALUES (${RECORD_COLUMNS.map(() => "?").join(", ")})`;
const INSERT_CHECKPOINT =
  "INSERT INTO checkpoints (number, origin, tree_size, root_hash, last_log_id, created_at, key_id, signature, frontier) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";

function readHead(ctx: AppContext): Head {
  const row = ctx.conn.sqlite
    .prepare(
      "SELECT number, tree_size, root_hash, frontier, last_log_id FROM checkpoints ORDER BY number DESC LIMIT 1",
    )
    .get() as
    | {
        number: number;
        tree_size: number;
        root_hash: Buffer;
        frontier: Buffer;
        last_log_id: string | null;
      }
    | undefined;
  if (!row) {
    return {
      number: 0,
      size: 0,
      rootHash: Frontier.empty().root(),
      frontier: Frontier.empty(),
      lastLogId: null,
    };
  }
  const frontier = Frontier.restore(row.tree_size, row.frontier);
  // The stored frontier must fold to the signed root, or the next head would seal a forgery.
  if (!frontier.root().equals(row.root_hash)) {
    throw new Error("the stored tree frontier does not match the newest checkpoint");
  }
  return {
    number: row.number,
    size: row.tree_size,
    rootHash: row.root_hash,
    frontier,
    lastLogId: row.last_log_id,
  };
}

const inlineSigners = new WeakMap<AppContext, Signer>();

/** Signs in this thread; one function per context, so its appends can be grouped. */
export function inlineSigner(ctx: AppContext): Signer {
  let signer = inlineSigners.get(ctx);
  if (!signer) {
    signer = async (inputs) => inputs.map((input) => signBytes(ctx.keys.signing.privateKey, input));
    inlineSigners.set(ctx, signer);
  }
  return signer;
}

async function appendOnce(
  ctx: AppContext,
  inputs: readonly RecordInput[],
  signer: Signer,
  holder: string,
  prepared: Promise<SealedGroup> | null,
): Promise<AppendResult> {
  const head = readHead(ctx);
  // Sealed ahead, while the previous group committed: kept if it extends this very head.
  const ready = await prepared?.catch(() => null);
  const group =
    ready && extendsHead(ready, head) ? ready : await sealGroup(ctx, inputs, signer, head);
  const { rows, signing, recordedAt } = group;
  const prev = group.next.lastLogId;
  // Each chunk is hashed into the tree as its signatures come back, the event loop given back in
  // between: no single task hashes a whole batch.
  const frontier = head.frontier.clone();
  const nodes: TreeNode[] = [];
  const leaves: Buffer[] = [];
  for (const [c, pending] of signing.entries()) {
    if (c > 0) await new Promise((resolve) => setImmediate(resolve));
    for (const [i, signature] of (await pending).entries()) {
      const row = rows[c * SIGN_CHUNK + i]!;
      row[COL.signature] = signature;
      const leaf = recordLeafHash(row);
      leaves.push(leaf);
      for (const node of frontier.append(leaf)) {
        if (node.level >= STORED_NODE_LEVEL) nodes.push(node);
      }
    }
  }
  const body: CheckpointBody = {
    origin: ctx.config.TRAIL_ORIGIN,
    number: head.number + 1,
    treeSize: frontier.treeSize,
    rootHash: frontier.root(),
    lastLogId: prev,
    createdAt: recordedAt,
    keyId: ctx.keys.signing.keyId,
  };
  const [signature] = await signer([checkpointSigningInput(body)], { urgent: true });

  const { sqlite } = ctx.conn;
  const insertRecord = sqlite.prepare(INSERT_RECORD);
  const write = sqlite.transaction(() => {
    // A holder that took longer than its lease may have been overtaken.
    if (!holdsLease(ctx, holder)) throw new AppendConflict("the lease passed to another writer");
    // Writers that ignore the lease (an older build) are still caught here.
    const newest = sqlite.prepare("SELECT max(number) AS n FROM checkpoints").get() as {
      n: number | null;
    };
    if ((newest.n ?? 0) !== head.number) throw new AppendConflict("another writer appended first");
    for (const row of rows) insertRecord.run(...row);
    const insertNode = sqlite.prepare(
      "INSERT OR REPLACE INTO tree_nodes (level, idx, hash) VALUES (?, ?, ?)",
    );
    for (const node of nodes) insertNode.run(node.level, node.index, node.hash);
    sqlite
      .prepare(INSERT_CHECKPOINT)
      .run(
        body.number,
        body.origin,
        body.treeSize,
        body.rootHash,
        body.lastLogId,
        body.createdAt,
        body.keyId,
        signature!,
        frontier.serialize(),
      );
    releaseLease(ctx, holder);
  });
  write.immediate();
  noteOwnWrite(ctx, { ...body, signature: signature! }, leaves);
  return {
    records: rows.map((row) => ({ logId: row[COL.logId], seq: row[COL.seq] })),
    checkpoint: summarizeCheckpoint(body),
  };
}

export function summarizeCheckpoint(body: CheckpointBody): CheckpointSummary {
  return {
    number: body.number,
    treeSize: body.treeSize,
    rootHash: body.rootHash.toString("hex"),
    createdAt: new Date(body.createdAt).toISOString(),
    keyId: body.keyId,
  };
}

/**
 * Appends records in one transaction with the checkpoint that seals them: all or nothing.
 * Refuses while the trail is compromised, so a new head never seals a tampered table. Writers in
 * other processes take turns through the append lease; TrailBusyError when no turn comes in time.
 * Appends that arrive while one is being written are committed together in the next
 * transaction, under one checkpoint (group commit); each resolves once its records are stored.
 * Signing runs in `options.signer`, else the context's pool (the server's), else this thread.
 */
export async function appendRecords(
  ctx: AppContext,
  inputs: readonly RecordInput[],
  options: { signer?: Signer; triggeredBy?: string | null } = {},
): Promise<AppendResult> {
  if (inputs.length === 0) throw new Error("nothing to append");
  const signer = options.signer ?? ctx.signer ?? inlineSigner(ctx);
  let committer = committers.get(ctx);
  if (!committer) {
    committer = new GroupCommit<RecordInput, AppendResult, Promise<SealedGroup>>(
      (all, group, notes, prepared) => {
        // Whose append a refusal's alert names: the first caller that said.
        const triggeredBy = (notes as (string | null)[]).find((n) => n !== null) ?? null;
        return appendUnderLease(ctx, all, group as Signer, triggeredBy, prepared);
      },
      MAX_GROUP_RECORDS,
      // Sealed and signed while the group before commits: after its records, or after the head.
      (all, group, after) => {
        const sealing = (async () =>
          sealGroup(ctx, all, group as Signer, after ? (await after).next : readHead(ctx)))();
        // A commit refused before it looks (a compromised trail) must not leave it unheard.
        sealing.catch(() => undefined);
        return sealing;
      },
    );
    committers.set(ctx, committer);
  }
  // Callers with the same signer share a commit, whoever they are: fifty patients' views, one
  // transaction.
  const { result, offset } = await committer.submit(inputs, signer, options.triggeredBy ?? null);
  return {
    records: result.records.slice(offset, offset + inputs.length),
    checkpoint: result.checkpoint,
  };
}

/**
 * A group grows to about this many records; a single larger append is committed alone. Its
 * insert transaction blocks the thread that serves requests (about 17 µs a record), so groups
 * stay at one API batch.
 */
const MAX_GROUP_RECORDS = 1_000;
const committers = processWide(
  "append-committers",
  () => new WeakMap<AppContext, GroupCommit<RecordInput, AppendResult, Promise<SealedGroup>>>(),
);

async function appendUnderLease(
  ctx: AppContext,
  inputs: readonly RecordInput[],
  signer: Signer,
  triggeredBy: string | null,
  prepared: Promise<SealedGroup> | null,
): Promise<AppendResult> {
  const deadline = performance.now() + APPEND_DEADLINE_MS;
  // First, outside the lease: a file an intruder edited (a trigger on the lease table, say)
  // is a finding and a 503, not a failed write.
  await assertTrailWritable(ctx, triggeredBy);
  for (;;) {
    const holder = await takeLease(ctx, deadline);
    try {
      // Checked under the lease, so the head this append extends is the one verified.
      await assertTrailWritable(ctx, triggeredBy);
      return await appendOnce(ctx, inputs, signer, holder, prepared);
    } catch (error) {
      // The lease lapses on its own: releasing it would wait for the lock once more.
      if (isBusy(error)) throw new TrailBusyError("the database stayed locked", { cause: error });
      giveUp(ctx, holder);
      // A row already where the head says the next one goes: the table is not what the
      // checkpoint seals. The full pass names it and raises the incident.
      if ((error as { code?: string }).code?.startsWith("SQLITE_CONSTRAINT")) {
        await assertTrailWritable(ctx, triggeredBy, true);
      }
      // Another writer made progress, so the trail is alive: take the next turn.
      if (!(error instanceof AppendConflict)) throw error;
      if (performance.now() > deadline) throw new TrailBusyError(error.message, { cause: error });
      prepared = null;
    }
  }
}

/** Releases the lease after a failed attempt; if SQLite is locked, it lapses on its own. */
function giveUp(ctx: AppContext, holder: string): void {
  try {
    releaseLease(ctx, holder);
  } catch (error) {
    if (!isBusy(error)) throw error;
  }
}
