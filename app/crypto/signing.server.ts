import { constants, createHash, publicDecrypt, sign, type KeyObject } from "node:crypto";

// RSASSA-PKCS1-v1_5 with SHA-512. It is deterministic, and the public key operation recovers
// the signed digest: a verifier can tell a signature that was altered (no valid padding) from
// a record that was altered (a genuine signature over other bytes), and whom it belongs to.
const SHA512_DIGEST_INFO = Buffer.from("3051300d060960864801650304020305000440", "hex");

/** RSA PKCS#1 v1.5 signature with SHA-512 over `data`. */
export function signBytes(privateKey: KeyObject, data: Buffer): Buffer {
  return sign("sha512", data, { key: privateKey, padding: constants.RSA_PKCS1_PADDING });
}

/** SHA-512 of `data`: what a signature over it commits to. */
export function signedDigest(data: Buffer): Buffer {
  return createHash("sha512").update(data).digest();
}

/** The SHA-512 digest a signature commits to, or null when it is no signature by this key. */
export function recoverDigest(publicKey: KeyObject, signature: Buffer): Buffer | null {
  try {
    const recovered = publicDecrypt(
      { key: publicKey, padding: constants.RSA_PKCS1_PADDING },
      signature,
    );
    if (recovered.length !== SHA512_DIGEST_INFO.length + 64) return null;
    if (!recovered.subarray(0, SHA512_DIGEST_INFO.length).equals(SHA512_DIGEST_INFO)) return null;
    return recovered.subarray(SHA512_DIGEST_INFO.length);
  } catch {
    return null;
  }
}

export type SignatureCheck = "valid" | "mismatch" | "malformed";

/** "valid", "mismatch" (a genuine signature over other bytes) or "malformed" (not a signature). */
export function checkSignature(
  publicKey: KeyObject,
  data: Buffer,
  signature: Buffer,
): SignatureCheck {
  const digest = recoverDigest(publicKey, signature);
  if (!digest) return "malformed";
  return digest.equals(signedDigest(data)) ? "valid" : "mismatch";
}
