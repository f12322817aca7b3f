// RFC 9162 §2.1.4.2, consistency proof verification, written once as steps: the algorithm yields
// each pair of nodes it needs hashed (SHA-256(0x01 ‖ left ‖ right)) and is sent back the hash.
// The server drives it with node:crypto (merkle.server.ts), the patient's browser with WebCrypto,
// whose digest is async (merkle-verify.ts).

export type NodePair = readonly [left: Uint8Array, right: Uint8Array];

const isOdd = (n: number) => n % 2 === 1;
const half = (n: number) => Math.floor(n / 2);

/** Exact for every safe integer (bitwise operators would stop at 2^31). */
function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

/** Constant-length byte comparison of two hashes. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * Whether the tree of `size2` leaves with root `root2` extends the tree of `size1` leaves with
 * root `root1`, by `proof`: yields the node pairs to hash, returns the verdict.
 */
export function* consistencySteps(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): Generator<NodePair, boolean, Uint8Array> {
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
      fr = yield [c, fr];
      sr = yield [c, sr];
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = yield [sr, c];
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && sameBytes(fr, root1) && sameBytes(sr, root2);
}
