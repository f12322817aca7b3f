import type { AppContext } from "../context.server";
import { EMPTY_ROOT } from "../crypto/merkle.server";
import {
  SIG_ED25519,
  formatCheckpoint,
  formatVerifierKey,
  parseSignerKey,
  signNote,
  type NoteSigner,
} from "../crypto/note";
import type { Keys } from "../keys.server";
import { ensureTrailIntact } from "./guard.server";
import type { Finding } from "./verify.server";

export type TreeHead = { treeSize: number; rootHash: Buffer };

/** The head of a checkpoint; a trail with no checkpoint yet is the empty tree. */
export function headOf(checkpoint: TreeHead | null): TreeHead {
  return checkpoint ?? { treeSize: 0, rootHash: EMPTY_ROOT };
}

// The WebCrypto key is imported once per loaded key.
const signers = new WeakMap<Keys["note"], Promise<NoteSigner>>();

/** The log's verifier key, `name+hash+base64(0x01 ‖ public key)`, which witnesses pin. */
export function noteVerifierKey(keys: Keys): string {
  const { name, keyId, publicKey } = keys.note;
  return formatVerifierKey({ name, keyId, type: SIG_ED25519, publicKey });
}

/**
 * A verified checkpoint as a C2SP tlog-checkpoint note, signed with the note key. Ed25519 is
 * deterministic, so one checkpoint always gives the same note: it is built on demand, not stored.
 */
export async function checkpointNote(ctx: AppContext, head: TreeHead): Promise<string> {
  const { note } = ctx.keys;
  if (!signers.has(note)) signers.set(note, parseSignerKey(note.signerKey));
  const text = formatCheckpoint({
    origin: ctx.config.TRAIL_ORIGIN,
    size: head.treeSize,
    rootHash: head.rootHash,
    extensions: [],
  });
  return signNote(text, [await signers.get(note)!]);
}

export type VerifiedHead = { ok: true; head: TreeHead } | { ok: false; findings: Finding[] };

/** The newest checkpoint the guard verified, for the public endpoints; never an unverified one. */
export async function verifiedHead(ctx: AppContext): Promise<VerifiedHead> {
  const status = await ensureTrailIntact(ctx, { viewerId: null });
  if (!status.ok) return { ok: false, findings: status.findings };
  return { ok: true, head: headOf(status.checkpoint) };
}
