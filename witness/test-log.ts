import { randomUUID } from "node:crypto";
import { consistencyProof, hashLeaf, rootOf } from "../app/crypto/merkle.server";
import {
  SIG_ED25519,
  formatCheckpoint,
  formatVerifierKey,
  generateSigner,
  signNote,
  type NoteSigner,
} from "../app/crypto/note";

// A log for the witness tests: an Ed25519 log key, and checkpoints of a real tree or of a fork.

export async function createTestLog() {
  const origin = `log.test/${randomUUID()}`;
  const { signer } = await generateSigner(origin, SIG_ED25519);
  const tree = (fork: string) =>
    Array.from({ length: 64 }, (_, i) => hashLeaf(Buffer.from(`${fork} ${i}`)));
  const real = tree("real");

  /** A signed checkpoint note of the first `size` leaves. */
  const checkpoint = (size: number, leaves = real, signers: NoteSigner[] = [signer]) =>
    signNote(
      formatCheckpoint({ origin, size, rootHash: rootOf(leaves.slice(0, size)), extensions: [] }),
      signers,
    );

  /** An add-checkpoint body from `old` to `size`, with the RFC proof unless one is given. */
  async function body(
    old: number,
    size: number,
    options: { leaves?: Buffer[]; proof?: Buffer[]; signers?: NoteSigner[] } = {},
  ) {
    const leaves = options.leaves ?? real;
    const proof =
      options.proof ?? (old > 0 && old < size ? consistencyProof(leaves.slice(0, size), old) : []);
    const lines = proof.map((p) => `${p.toString("base64")}\n`).join("");
    return `old ${old}\n${lines}\n${await checkpoint(size, leaves, options.signers)}`;
  }

  /** A tree that shares the first `keep` leaves with the real one and differs after them. */
  const fork = (keep: number) => [...real.slice(0, keep), ...tree("fork").slice(keep)];

  return { origin, signer, vkey: formatVerifierKey(signer), real, fork, checkpoint, body };
}
