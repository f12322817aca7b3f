import fs from "node:fs";
import path from "node:path";
import { generateRandomKeys, PrivateKey, type PublicKey } from "paillier-bigint";
import {
  fromHex,
  PAILLIER_MIN_BITS,
  PAILLIER_PUBLIC_FILE,
  PaillierKeyError,
  paillierKeyId,
  publicKeyFrom,
  publicKeyJson,
  toHex,
} from "./paillier.server";

// The audit company's private Paillier key: made by `aggregate keygen`, read by `aggregate open`
// (and by the demo dashboard when the key happens to sit in KEYS_DIR). Only these import it.

export const PAILLIER_PRIVATE_FILE = "paillier-private.json";

type PrivateJson = {
  type: "paillier-private-key";
  key_id: string;
  n: string;
  g: string;
  lambda: string;
  mu: string;
  p: string;
  q: string;
};

/**
 * Generates a key pair of `bits` (at least 2048) into `dir`: the public file, for the trails
 * and aggregators, apart from the private one (mode 0600). Existing files are never replaced.
 */
export async function generatePaillierKeys(dir: string, bits = PAILLIER_MIN_BITS) {
  if (bits < PAILLIER_MIN_BITS)
    throw new PaillierKeyError(`keys have at least ${PAILLIER_MIN_BITS} bits`);
  const files = [PAILLIER_PUBLIC_FILE, PAILLIER_PRIVATE_FILE].map((f) => path.join(dir, f));
  const present = files.filter((f) => fs.existsSync(f));
  if (present.length)
    throw new PaillierKeyError(`${present.join(" and ")} already exist(s): not replaced`);
  const { publicKey, privateKey } = await generateRandomKeys(bits);
  // p and q are not exposed by the library's types; they make decryption faster (CRT).
  const { _p: p, _q: q } = privateKey as unknown as { _p: bigint; _q: bigint };
  const secret: PrivateJson = {
    type: "paillier-private-key",
    key_id: paillierKeyId(publicKey),
    n: toHex(publicKey.n),
    g: toHex(publicKey.g),
    lambda: toHex(privateKey.lambda),
    mu: toHex(privateKey.mu),
    p: toHex(p),
    q: toHex(q),
  };
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(files[1]!, `${JSON.stringify(secret, null, 2)}\n`, { mode: 0o600, flag: "wx" });
  fs.writeFileSync(files[0]!, `${JSON.stringify(publicKeyJson(publicKey), null, 2)}\n`, {
    mode: 0o644,
    flag: "wx",
  });
  return { keyId: secret.key_id, publicFile: files[0]!, privateFile: files[1]! };
}

/** Reads a private key file and checks it: p·q = n, and it opens what its public key sealed. */
export function readPaillierPrivateKey(file: string): PrivateKey {
  let json: Partial<PrivateJson>;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<PrivateJson>;
  } catch (error) {
    throw new PaillierKeyError(`Cannot read ${file}: ${(error as Error).message}`);
  }
  const corrupt = new PaillierKeyError(`${file} is not a valid Paillier private key`);
  let publicKey: PublicKey;
  try {
    publicKey = publicKeyFrom(json.n, json.g);
  } catch {
    throw corrupt;
  }
  const [lambda, mu, p, q] = [json.lambda, json.mu, json.p, json.q].map(fromHex);
  if (!lambda || !mu || !p || !q || p * q !== publicKey.n) throw corrupt;
  if (json.key_id !== paillierKeyId(publicKey)) throw corrupt;
  const key = new PrivateKey(lambda, mu, publicKey, p, q);
  if (key.decrypt(publicKey.encrypt(42n)) !== 42n) throw corrupt;
  return key;
}

/** The private key in `dir`, or null when it is not there (the usual case on a trail's server). */
export function findPaillierPrivateKey(dir: string): PrivateKey | null {
  const file = path.join(dir, PAILLIER_PRIVATE_FILE);
  return fs.existsSync(file) ? readPaillierPrivateKey(file) : null;
}
