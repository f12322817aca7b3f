import fs from "node:fs";
import path from "node:path";
import { PublicKey } from "paillier-bigint";
import { encodeFields } from "./encoding.server";
import { sha256 } from "./hashing.server";

// The public half of the audit company's Paillier key: what a trail encrypts its counters under
// and what an aggregator adds them with. Nothing here reads or needs the private key; the
// aggregator's code path is checked not to reach paillier-private.server.ts (aggregate tests).

export const PAILLIER_MIN_BITS = 2048;
export const PAILLIER_PUBLIC_FILE = "paillier-public.json";

export class PaillierKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PaillierKeyError";
  }
}

/** A natural number as lowercase hex without leading zeros: the one spelling files carry. */
export const HEX_NUMBER = /^(0|[1-9a-f][0-9a-f]*)$/;

export const toHex = (n: bigint): string => n.toString(16);

/** Parses `HEX_NUMBER` text; null for anything else. */
export function fromHex(text: unknown): bigint | null {
  return typeof text === "string" && HEX_NUMBER.test(text) ? BigInt(`0x${text}`) : null;
}

/** The key id: SHA-256 over the length-prefixed n and g, in hex. */
export function paillierKeyId(key: PublicKey): string {
  return sha256(encodeFields(["paillier-public-key", toHex(key.n), toHex(key.g)])).toString("hex");
}

export type PaillierPublicJson = {
  type: "paillier-public-key";
  key_id: string;
  n: string;
  g: string;
};

export function publicKeyJson(key: PublicKey): PaillierPublicJson {
  return {
    type: "paillier-public-key",
    key_id: paillierKeyId(key),
    n: toHex(key.n),
    g: toHex(key.g),
  };
}

/** A public key from n and g (hex), refused when shorter than PAILLIER_MIN_BITS or malformed. */
export function publicKeyFrom(nHex: unknown, gHex: unknown): PublicKey {
  const n = fromHex(nHex);
  const g = fromHex(gHex);
  if (n === null || g === null) throw new PaillierKeyError("n and g must be hex numbers");
  if (n.toString(2).length < PAILLIER_MIN_BITS) {
    throw new PaillierKeyError(`the key is shorter than ${PAILLIER_MIN_BITS} bits`);
  }
  if (n % 2n === 0n || g <= 1n || g >= n * n) throw new PaillierKeyError("not a Paillier key");
  return new PublicKey(n, g);
}

/** Reads a public key file; its key_id must match its n and g. */
export function readPaillierPublicKey(file: string): PublicKey {
  let json: Partial<PaillierPublicJson>;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<PaillierPublicJson>;
  } catch (error) {
    throw new PaillierKeyError(`Cannot read ${file}: ${(error as Error).message}`);
  }
  let key: PublicKey;
  try {
    key = publicKeyFrom(json.n, json.g);
  } catch (error) {
    throw new PaillierKeyError(`${file} is not a Paillier public key: ${(error as Error).message}`);
  }
  if (json.type !== "paillier-public-key" || json.key_id !== paillierKeyId(key)) {
    throw new PaillierKeyError(`${file} is corrupt: its key_id does not match its key`);
  }
  return key;
}

/** The public key in `keysDir`, or null when the audit company has not placed one there. */
export function findPaillierPublicKey(keysDir: string): PublicKey | null {
  const file = path.join(keysDir, PAILLIER_PUBLIC_FILE);
  return fs.existsSync(file) ? readPaillierPublicKey(file) : null;
}

/** Whether `c` can be a ciphertext under `key` (0 < c < n², coprime to n). */
export function isCiphertext(key: PublicKey, c: bigint): boolean {
  return c > 0n && c < key._n2 && c % key.n !== 0n;
}

/**
 * Encrypts each count under `key`. One encryption takes tens of milliseconds (a 2048-bit
 * exponent modulo n²), so the event loop gets a turn between them.
 */
export async function encryptCounts(key: PublicKey, counts: readonly number[]): Promise<bigint[]> {
  const out: bigint[] = [];
  for (const count of counts) {
    out.push(key.encrypt(BigInt(count)));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return out;
}
