// The patient's own check of the trail's history, run in the browser after hydration (decision
// record 015). Pure: it takes what the browser stored, the keys the page names, the note from
// GET /checkpoint and the consistency proof, and returns the verdict and the state to store.
// WebCrypto only (note.ts, merkle-verify.ts); no node:* and nothing from *.server.ts.

import { verifyConsistency } from "../crypto/merkle-verify";
import {
  NoteError,
  SIG_COSIGNATURE_V1,
  SIG_ED25519,
  fromBase64,
  openNote,
  parseCheckpoint,
  parseNote,
  parseVerifierKey,
  toBase64,
  type VerifierKey,
} from "../crypto/note";

/** What the page tells the browser to trust: public keys only, no PHI, no secrets. */
/** Set on GET /checkpoint's 503 when the server's own verification of the trail failed. */
export const INTEGRITY_HEADER = "Trail-Integrity";

export type HistoryTrust = {
  /** The trail's origin, the first line of its checkpoints (TRAIL_ORIGIN). */
  origin: string;
  /** The log's note verifier key (`name+hash+base64(0x01 ‖ key)`). */
  logKey: string;
  /** The witnesses' cosignature/v1 verifier keys (WITNESSES), empty when unwitnessed. */
  witnessKeys: string[];
  /** How many of them must cosign (WITNESS_QUORUM); 0 without witnesses. */
  quorum: number;
};

/** The keys as the browser pinned them on its first visit (trust on first use). */
export type PinnedKeys = { logKey: string; witnessKeys: string[]; quorum: number };

/** A checkpoint the browser accepted as the history it must see extended from now on. */
export type Anchor = { size: number; root: string };

/** What the browser keeps in localStorage per trail origin. */
export type StoredHistory = {
  v: 1;
  keys: PinnedKeys;
  /** The newest checkpoint a quorum cosigned (any log-signed one when the trail has no witnesses). */
  anchor: Anchor | null;
};

/** The JSON of GET /api/proofs/consistency, unchecked. */
export type ProofResponse = { from?: unknown; to?: unknown; proof?: unknown };

export type Verdict =
  | {
      kind: "checked";
      size: number;
      root: string;
      /** Verified cosignatures by the pinned witness keys. */
      cosigners: number;
      witnesses: number;
      quorum: number;
      /** A quorum cosigned it, or the trail has no witnesses at all. */
      witnessed: boolean;
      /** The size this browser's stored history had before, null on its first check. */
      previousSize: number | null;
      next: StoredHistory;
    }
  /** Red: the server showed a history that is not the one this browser saw before. */
  | { kind: "different"; reason: string }
  /** Neutral: nothing could be checked this time (network, an unreadable answer, an old browser). */
  | { kind: "unavailable"; reason: string };

export const storageKey = (origin: string) => `ehr-audit-trail:history:${origin}`;

function pinnedKeysOf(trust: HistoryTrust): PinnedKeys {
  return {
    logKey: trust.logKey,
    witnessKeys: [...trust.witnessKeys].sort(),
    quorum: trust.quorum,
  };
}

function isRootHash(text: string): boolean {
  try {
    return fromBase64(text).length === 32;
  } catch {
    return false;
  }
}

/** Reads a stored state; anything malformed counts as never stored. */
export function readStored(text: string | null): StoredHistory | null {
  if (!text) return null;
  try {
    const s = JSON.parse(text) as StoredHistory;
    const keysOk =
      typeof s.keys?.logKey === "string" &&
      Array.isArray(s.keys.witnessKeys) &&
      s.keys.witnessKeys.every((k) => typeof k === "string") &&
      Number.isSafeInteger(s.keys.quorum);
    const anchorOk =
      s.anchor === null ||
      (Number.isSafeInteger(s.anchor?.size) &&
        s.anchor.size >= 0 &&
        typeof s.anchor.root === "string" &&
        isRootHash(s.anchor.root));
    return s.v === 1 && keysOk && anchorOk ? s : null;
  } catch {
    return null;
  }
}

/** Why the pinned keys and the page's keys differ, or null when they are the same. */
function keyChange(pinned: PinnedKeys, now: PinnedKeys): string | null {
  if (pinned.logKey !== now.logKey) return "the log's signing key changed";
  const same =
    pinned.witnessKeys.length === now.witnessKeys.length &&
    pinned.witnessKeys.every((k, i) => k === now.witnessKeys[i]);
  if (!same) return "the list of witnesses changed";
  if (pinned.quorum !== now.quorum) return "the number of witnesses required changed";
  return null;
}

/**
 * Red when the page names other keys than the browser pinned: checked before anything is
 * fetched, so it holds even when the server serves no checkpoint at all.
 */
export function checkKeys(trust: HistoryTrust, stored: StoredHistory | null): Verdict | null {
  const changed = stored ? keyChange(stored.keys, pinnedKeysOf(trust)) : null;
  return changed ? different(`${changed} since this browser first saw this trail.`) : null;
}

/**
 * The consistency proof the browser needs for this note: from its anchor to the note's size, or
 * null when none is needed (first check, same size, or a note it cannot read anyway).
 */
export function proofRange(
  stored: StoredHistory | null,
  note: string,
): { from: number; to: number } | null {
  const anchor = stored?.anchor;
  if (!anchor || anchor.size === 0) return null;
  try {
    const { size } = parseCheckpoint(parseNote(note).text);
    return size > anchor.size ? { from: anchor.size, to: size } : null;
  } catch {
    return null;
  }
}

const different = (reason: string): Verdict => ({ kind: "different", reason });
const unavailable = (reason: string): Verdict => ({ kind: "unavailable", reason });

async function parseKeys(trust: HistoryTrust) {
  const log = await parseVerifierKey(trust.logKey);
  const witnesses = await Promise.all(trust.witnessKeys.map((k) => parseVerifierKey(k)));
  if (log.type !== SIG_ED25519 || witnesses.some((w) => w.type !== SIG_COSIGNATURE_V1)) {
    throw new NoteError("unexpected key type");
  }
  return { log, witnesses };
}

function decodeProof(response: ProofResponse | null, from: number, to: number) {
  if (!response || response.from !== from || response.to !== to) return null;
  if (!Array.isArray(response.proof)) return null;
  try {
    return response.proof.map((p) => fromBase64(String(p)));
  } catch {
    return null;
  }
}

/**
 * The verdict on one fetched checkpoint. Red (`different`) when the pinned keys changed, a
 * signature by a pinned key fails, the log did not sign it, the size went backwards, the root
 * differs at the same size, or the proof does not show that it extends the stored anchor.
 * The anchor advances only to a checkpoint a quorum cosigned.
 */
export async function decide(input: {
  trust: HistoryTrust;
  stored: StoredHistory | null;
  note: string;
  /** The answer to proofRange(stored, note), null when none was needed or fetched. */
  proof: ProofResponse | null;
}): Promise<Verdict> {
  const { trust, stored, note } = input;
  const keys = pinnedKeysOf(trust);
  const changed = checkKeys(trust, stored);
  if (changed) return changed;
  let parsedKeys: { log: VerifierKey; witnesses: VerifierKey[] };
  try {
    parsedKeys = await parseKeys(trust);
  } catch {
    return unavailable("the page named keys this browser cannot read.");
  }
  let parsed;
  try {
    parsed = parseNote(note);
  } catch {
    return unavailable("the server's checkpoint could not be read.");
  }
  let verified;
  try {
    verified = (await openNote(parsed, [parsedKeys.log, ...parsedKeys.witnesses])).verified;
  } catch (error) {
    const why = error instanceof NoteError ? error.message : "a signature could not be checked";
    return different(`the checkpoint's signatures do not verify (${why}).`);
  }
  if (!verified.some((v) => v.key === parsedKeys.log)) {
    return different("the checkpoint is not signed by the log's key.");
  }
  let checkpoint;
  try {
    checkpoint = parseCheckpoint(parsed.text);
  } catch {
    return different("the log signed a note that is not a checkpoint.");
  }
  if (checkpoint.origin !== trust.origin) {
    return different(`the checkpoint names another trail (${checkpoint.origin}).`);
  }
  const cosigners = verified.filter((v) => v.key !== parsedKeys.log).length;
  const witnessed = trust.quorum === 0 || cosigners >= trust.quorum;
  const root = toBase64(checkpoint.rootHash);
  const anchor = stored?.anchor ?? null;

  if (anchor) {
    if (checkpoint.size < anchor.size) {
      return different(
        `the trail went back from ${anchor.size} to ${checkpoint.size} records: records this browser saw are gone.`,
      );
    }
    if (checkpoint.size === anchor.size && root !== anchor.root) {
      return different(`the trail shows a different history at the same size (${anchor.size}).`);
    }
    if (checkpoint.size > anchor.size && anchor.size > 0) {
      const proof = decodeProof(input.proof, anchor.size, checkpoint.size);
      const ok =
        proof !== null &&
        (await verifyConsistency(
          anchor.size,
          checkpoint.size,
          proof,
          fromBase64(anchor.root),
          checkpoint.rootHash,
        ));
      if (!ok) {
        return different(
          `the checkpoint of ${checkpoint.size} records does not extend the ${anchor.size} records this browser saw before.`,
        );
      }
    }
  }
  return {
    kind: "checked",
    size: checkpoint.size,
    root,
    cosigners,
    witnesses: trust.witnessKeys.length,
    quorum: trust.quorum,
    witnessed,
    previousSize: anchor?.size ?? null,
    next: { v: 1, keys, anchor: witnessed ? { size: checkpoint.size, root } : anchor },
  };
}
