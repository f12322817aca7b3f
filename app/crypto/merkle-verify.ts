// RFC 9162 consistency proof verification with WebCrypto SHA-256 only, so the patient's browser
// can check the trail without the server's node:crypto tree (merkle.server.ts). Async, because
// crypto.subtle.digest is.

const isOdd = (n: number) => n % 2 === 1;
const half = (n: number) => Math.floor(n / 2);

/** Exact for every safe integer (bitwise operators would stop at 2^31). */
function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

/** RFC 9162 interior node hash: SHA-256(0x01 ‖ left ‖ right). */
export async function hashChildren(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  const input = new Uint8Array(1 + left.length + right.length);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", input));
}

/** Constant-length byte comparison of two hashes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
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
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2)) return false;
  if (size1 < 1 || size1 > size2) return false;
  if (proof.some((p) => p.length !== 32) || root1.length !== 32 || root2.length !== 32) {
    return false;
  }
  if (size1 === size2) return proof.length === 0 && sameBytes(root1, root2);
  if (proof.length === 0) return false;
  // A first tree that is a complete subtree is its own first proof node.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = await hashChildren(c, fr);
      sr = await hashChildren(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = await hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && sameBytes(fr, root1) && sameBytes(sr, root2);
}
