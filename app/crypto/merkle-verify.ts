// RFC 9162 consistency proof verification with WebCrypto SHA-256 only, so the patient's browser
// can check the trail without the server's node:crypto tree (merkle.server.ts). Async, because
// crypto.subtle.digest is.

import { consistencySteps } from "./merkle-steps";

/** RFC 9162 interior node hash: SHA-256(0x01 ‖ left ‖ right). */
export async function hashChildren(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  const input = new Uint8Array(1 + left.length + right.length);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", input));
}

/**
 * Verifies a consistency proof between two tree heads (RFC 9162 §2.1.4.2): the tree of `size2`
 * leaves with root `root2` extends the tree of `size1` leaves with root `root1`.
 */
export async function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): Promise<boolean> {
  const steps = consistencySteps(size1, size2, proof, root1, root2);
  let step = steps.next();
  while (!step.done) step = steps.next(await hashChildren(...step.value));
  return step.value;
}
