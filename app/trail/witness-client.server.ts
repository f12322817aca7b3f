import {
  NoteError,
  formatSignatureLine,
  openNote,
  parseNote,
  parseVerifierKey,
  toBase64,
  type VerifierKey,
} from "../crypto/note";
import type { NewCosignature } from "../models/cosignature.server";
import type { Witness } from "./verify.server";

// One POST /add-checkpoint of c2sp.org/tlog-witness, and what its answer means for the trail.

export type ConfiguredWitness = { key: VerifierKey; url: string };

export type Submission =
  | { kind: "cosigned"; cosignature: NewCosignature }
  /** 409: the witness holds another size; the caller proves consistency from there. */
  | { kind: "conflict"; size: number }
  /** The witness will not cosign this checkpoint: evidence that it does not extend what it saw. */
  | { kind: "refused"; reason: string }
  /** Down, slow, misconfigured or broken: try again later. */
  | { kind: "unavailable"; reason: string };

const REQUEST_TIMEOUT_MS = 10_000;

/** The configured witnesses' keys, checked as note.ts parses them. */
export async function parseWitnesses(
  list: readonly { vkey: string; url: string }[],
): Promise<ConfiguredWitness[]> {
  return Promise.all(list.map(async (w) => ({ key: await parseVerifierKey(w.vkey), url: w.url })));
}

/** The body of an add-checkpoint request: `old N`, the proof lines, an empty line, the note. */
export function addCheckpointBody(oldSize: number, proof: readonly Buffer[], note: string): string {
  return [`old ${oldSize}`, ...proof.map((h) => toBase64(h)), "", note].join("\n");
}

/** Verifies a cosignature returned for `checkpointText` by `key`; null when it does not verify. */
export async function verifyCosignatureLines(
  checkpointText: string,
  lines: string,
  key: VerifierKey,
): Promise<{ line: string; timestamp: number } | null> {
  try {
    const note = parseNote(`${checkpointText}\n${lines}`);
    const { verified } = await openNote(note, [key]);
    const signature = note.signatures.find((s) => s.name === key.name && s.keyId === key.keyId)!;
    const timestamp = verified[0]?.timestamp;
    return timestamp === undefined ? null : { line: formatSignatureLine(signature), timestamp };
  } catch (error) {
    if (error instanceof NoteError) return null;
    throw error;
  }
}

/** Sends one checkpoint note to one witness and classifies the answer. */
export async function submitCheckpoint(
  witness: ConfiguredWitness,
  request: { oldSize: number; proof: readonly Buffer[]; note: string; head: Witness },
  stop: AbortSignal,
): Promise<Submission> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${witness.url}/add-checkpoint`, {
      method: "POST",
      body: addCheckpointBody(request.oldSize, request.proof, request.note),
      signal: AbortSignal.any([stop, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
    });
    text = await response.text();
  } catch (error) {
    return { kind: "unavailable", reason: (error as Error).message };
  }
  const status = response.status;
  if (status === 200) {
    const checkpointText = parseNote(request.note).text;
    const cosigned = await verifyCosignatureLines(checkpointText, text, witness.key);
    if (!cosigned) return { kind: "refused", reason: "its cosignature does not verify" };
    return {
      kind: "cosigned",
      cosignature: {
        keyName: witness.key.name,
        keyId: witness.key.keyId,
        treeSize: request.head.treeSize,
        rootHash: request.head.rootHash,
        checkpointNumber: request.head.number,
        timestamp: cosigned.timestamp,
        signatureLine: cosigned.line,
      },
    };
  }
  if (status === 409 && /^(0|[1-9][0-9]*)\n?$/.test(text)) {
    return { kind: "conflict", size: Number(text.trim()) };
  }
  if (status === 422) return { kind: "refused", reason: "the consistency proof does not verify" };
  // 403: the checkpoint is not signed by the key the witness pinned for this log (a key swap?).
  if (status === 403)
    return { kind: "refused", reason: "the log's signature is not the one it trusts" };
  return { kind: "unavailable", reason: `HTTP ${status}` };
}
