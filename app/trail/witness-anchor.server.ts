import type { AppContext } from "../context.server";
import { NoteError, openNote, parseCheckpoint, parseNote, parseVerifierKey } from "../crypto/note";
import type { VerifierKey } from "../crypto/note";
import type { WitnessedHead } from "./anchor-check.server";
import { noteVerifierKey } from "./checkpoint-note.server";
import { parseWitnesses, type ConfiguredWitness } from "./witness-client.server";
import { processWide } from "../process-wide";

// The witnesses as the anchor against rollback (docs/decisions/016): what each one last cosigned
// for this trail, asked of the witness itself (GET /checkpoint) at start and before every full
// pass, and learnt from its answers as the server sends checkpoints. Kept in this process's
// memory only: nothing on the server's disk can lower it.

/** How long a full pass waits for the witnesses' answers; one that is down delays it this much. */
const FETCH_TIMEOUT_MS = 2_000;

export type HeadFetch =
  | { kind: "head"; head: WitnessedHead }
  /** The witness knows the trail but has cosigned nothing yet. */
  | { kind: "none" }
  | { kind: "unavailable"; reason: string };

/**
 * Asks one witness for the newest checkpoint it cosigned for `origin` and checks its cosignature.
 * With `logKey`, also whether the note carries a valid signature by it (false: another key).
 */
export async function fetchWitnessedHead(
  witness: ConfiguredWitness,
  origin: string,
  logKey: VerifierKey | null,
  timeoutMs = FETCH_TIMEOUT_MS,
): Promise<HeadFetch> {
  let status: number;
  let body: string;
  try {
    const response = await fetch(`${witness.url}/checkpoint?origin=${encodeURIComponent(origin)}`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    status = response.status;
    body = await response.text();
  } catch (error) {
    return { kind: "unavailable", reason: (error as Error).message };
  }
  if (status === 204) return { kind: "none" };
  if (status !== 200) return { kind: "unavailable", reason: `HTTP ${status}` };
  try {
    const note = parseNote(body);
    const { verified } = await openNote(note, [witness.key]);
    const checkpoint = parseCheckpoint(note.text);
    if (checkpoint.origin !== origin) throw new NoteError(`origin ${checkpoint.origin}`);
    let logSigned: boolean | null = null;
    if (logKey)
      logSigned = await openNote(note, [logKey]).then(
        () => true,
        () => false,
      );
    return {
      kind: "head",
      head: {
        witness: witness.key.name,
        treeSize: checkpoint.size,
        rootHash: Buffer.from(checkpoint.rootHash),
        timestamp: verified[0]!.timestamp!,
        logSigned,
      },
    };
  } catch (error) {
    if (!(error instanceof NoteError)) throw error;
    return { kind: "unavailable", reason: `its answer does not verify: ${error.message}` };
  }
}

const heads = processWide(
  "witnessed-heads",
  () => new WeakMap<AppContext, Map<string, WitnessedHead>>(),
);

/**
 * Remembers a head a witness cosigned: the larger of it and the one known, and, once seen, that the
 * witness holds a note this trail's key did not sign.
 */
export function rememberWitnessed(ctx: AppContext, head: WitnessedHead): void {
  const known = heads.get(ctx) ?? new Map<string, WitnessedHead>();
  heads.set(ctx, known);
  const before = known.get(head.witness);
  const newest = !before || head.treeSize >= before.treeSize ? head : before;
  const foreign = before?.logSigned === false || head.logSigned === false;
  known.set(head.witness, foreign ? { ...newest, logSigned: false } : newest);
}

/** Every head the witnesses are known to have cosigned for this trail, newest per witness. */
export function witnessedHeads(ctx: AppContext): WitnessedHead[] {
  // In the order of the witnesses' names, so findings read the same on every pass.
  return [...(heads.get(ctx)?.values() ?? [])].sort((a, b) => a.witness.localeCompare(b.witness));
}

const configured = new WeakMap<AppContext, Promise<ConfiguredWitness[]>>();

/** Asks every configured witness for its newest cosigned checkpoint; never throws. */
export async function refreshWitnessedHeads(ctx: AppContext): Promise<void> {
  if (ctx.config.WITNESSES.length === 0) return;
  if (!configured.has(ctx)) configured.set(ctx, parseWitnesses(ctx.config.WITNESSES));
  const witnesses = await configured.get(ctx)!;
  const logKey = await parseVerifierKey(noteVerifierKey(ctx.keys));
  await Promise.all(
    witnesses.map(async (witness) => {
      const fetched = await fetchWitnessedHead(witness, ctx.config.TRAIL_ORIGIN, logKey);
      if (fetched.kind === "head") rememberWitnessed(ctx, fetched.head);
    }),
  );
}
