import { EMPTY_ROOT, verifyConsistency } from "../app/crypto/merkle.server";
import {
  NoteError,
  SIG_ED25519,
  formatSignatureLine,
  fromBase64,
  openNote,
  parseCheckpoint,
  parseNote,
  parseVerifierKey,
  signText,
  type NoteSigner,
} from "../app/crypto/note";
import type { WitnessState } from "./state";

// POST /add-checkpoint of c2sp.org/tlog-witness.

export type Reply = { status: number; body: string; contentType?: string };

const MAX_PROOF_LINES = 63;
const text = (status: number, body: string): Reply => ({ status, body: `${body}\n` });
/** A 409 names the size the witness holds, in the spec's own media type. */
const conflict = (size: number): Reply => ({
  status: 409,
  body: `${size}\n`,
  contentType: "text/x.tlog.size",
});

/** Splits a request body: `old N`, proof lines, an empty line, then the checkpoint note. */
export function parseAddCheckpoint(body: string) {
  const lines = body.split("\n");
  const old = /^old (0|[1-9][0-9]*)$/.exec(lines[0] ?? "");
  if (!old || !Number.isSafeInteger(Number(old[1]))) throw new NoteError("no old size line");
  const blank = lines.indexOf("", 1);
  if (blank < 0) throw new NoteError("no empty line before the checkpoint");
  if (blank - 1 > MAX_PROOF_LINES) throw new NoteError("more than 63 proof lines");
  const proof = lines.slice(1, blank).map((line) => {
    const hash = fromBase64(line);
    if (hash.length !== 32) throw new NoteError("a proof line is a 32-byte hash");
    return Buffer.from(hash);
  });
  const noteText = lines.slice(blank + 1).join("\n");
  const note = parseNote(noteText);
  return { oldSize: Number(old[1]), proof, noteText, note, checkpoint: parseCheckpoint(note.text) };
}

/** Checks a submitted checkpoint against the log's state, stores it and cosigns it. */
export async function addCheckpoint(
  state: WitnessState,
  witness: NoteSigner,
  body: string,
): Promise<Reply> {
  let request: ReturnType<typeof parseAddCheckpoint>;
  try {
    request = parseAddCheckpoint(body);
  } catch (error) {
    if (error instanceof NoteError) return text(400, `malformed request: ${error.message}`);
    throw error;
  }
  const { oldSize, proof, noteText, note, checkpoint } = request;
  const log = state.log(checkpoint.origin);
  if (!log) return text(404, `unknown origin ${checkpoint.origin}`);
  try {
    const key = await parseVerifierKey(log.vkey);
    if (key.type !== SIG_ED25519) throw new NoteError("the pinned key is not a log key");
    await openNote(note, [key]);
  } catch (error) {
    if (error instanceof NoteError)
      return text(403, `not signed by the log's key: ${error.message}`);
    throw error;
  }
  if (oldSize > checkpoint.size) return text(400, "old size above the checkpoint's size");
  const root = Buffer.from(checkpoint.rootHash);
  const timestamp = Math.floor(Date.now() / 1000);

  const decision = state.advance<Reply>(checkpoint.origin, (current) => {
    if (oldSize !== current.size) return { refuse: conflict(current.size) };
    const known = current.root ?? EMPTY_ROOT;
    if (oldSize === checkpoint.size) {
      if (proof.length > 0) return { refuse: text(422, "a proof between equal sizes is empty") };
      if (!root.equals(known)) return { refuse: conflict(current.size) };
    } else if (oldSize === 0) {
      if (proof.length > 0) return { refuse: text(422, "a proof from size 0 is empty") };
    } else if (!verifyConsistency(oldSize, checkpoint.size, proof, known, root)) {
      return { refuse: text(422, "the consistency proof does not verify") };
    }
    return { store: { size: checkpoint.size, root, note: noteText, timestamp } };
  });
  if ("refuse" in decision) return decision.refuse;
  return { status: 200, body: formatSignatureLine(await signText(note.text, witness, timestamp)) };
}

/**
 * GET /checkpoint?origin=ORIGIN: the newest checkpoint this witness cosigned for the log, as the
 * log sent it with the witness's cosignature line added, so anyone can check that a trail still
 * extends it (204 when nothing is cosigned yet, 404 for an unknown origin).
 */
export async function latestCheckpoint(
  state: WitnessState,
  witness: NoteSigner,
  origin: string | null,
): Promise<Reply> {
  if (!origin) return text(400, "give ?origin=");
  const cosigned = state.cosigned(origin);
  if (cosigned === undefined) return text(404, `unknown origin ${origin}`);
  if (cosigned === null) return { status: 204, body: "" };
  const { text: checkpointText } = parseNote(cosigned.note);
  const line = formatSignatureLine(await signText(checkpointText, witness, cosigned.timestamp));
  return { status: 200, body: cosigned.note + line };
}
