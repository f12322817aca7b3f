// C2SP signed notes (c2sp.org/signed-note), checkpoints (c2sp.org/tlog-checkpoint) and Ed25519
// cosignatures (c2sp.org/tlog-cosignature). WebCrypto and TextEncoder only, so the patient's
// browser can run the same code as the server and the witness.

/** Signature type bytes: an Ed25519 note signature, and a timestamped Ed25519 cosignature/v1. */
export const SIG_ED25519 = 0x01;
export const SIG_COSIGNATURE_V1 = 0x04;
export type SignatureType = typeof SIG_ED25519 | typeof SIG_COSIGNATURE_V1;

export class NoteError extends Error {}

/** One signature line: the key name, the key ID and the signature bytes after the key ID. */
export type NoteSignature = { name: string; keyId: number; signature: Uint8Array };
export type Note = { text: string; signatures: NoteSignature[] };
/** A public key as the C2SP verifier key string `name+hash+base64(type ‖ key)` carries it. */
export type VerifierKey = {
  name: string;
  keyId: number;
  type: SignatureType;
  publicKey: Uint8Array;
};
export type NoteSigner = VerifierKey & { privateKey: CryptoKey };
/** A verified signature; a cosignature carries its timestamp (POSIX seconds). */
export type Verified = { key: VerifierKey; timestamp?: number };
export type Checkpoint = {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  extensions: string[];
};

const DASH = "\u2014";
/** The spec asks verifiers to accept at least 16 signatures; witnesses may add a few each. */
const MAX_SIGNATURES = 64;
const ED25519 = { name: "Ed25519" } as const;
// PKCS #8 wrapping of a 32-byte Ed25519 seed (RFC 8410), the only seed import WebCrypto offers.
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

const utf8 = new TextEncoder();
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};

export function toBase64(bytes: Uint8Array): string {
  return btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
}

/** Standard, padded, canonical base64 (RFC 4648 §4); anything else is a NoteError. */
export function fromBase64(text: string): Uint8Array {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
    throw new NoteError("not base64");
  }
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  if (toBase64(bytes) !== text) throw new NoteError("not canonical base64");
  return bytes;
}

/** Decodes a note received as bytes: it must be valid UTF-8. */
export function decodeNoteText(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new NoteError("not UTF-8");
  }
}

function checkKeyName(name: string): void {
  // \s and U+0085 cover the Unicode spaces the spec forbids (Go's unicode.IsSpace).
  if (name === "" || /[\s\u0085+\p{Cc}]/u.test(name)) throw new NoteError(`bad key name: ${name}`);
}

/** The 4-byte key ID: SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4], big-endian. */
export async function keyIdOf(
  name: string,
  type: SignatureType,
  publicKey: Uint8Array,
): Promise<number> {
  const input = concat(utf8.encode(`${name}\n`), Uint8Array.of(type), publicKey);
  return new DataView(await crypto.subtle.digest("SHA-256", input)).getUint32(0);
}

const hex8 = (n: number) => n.toString(16).padStart(8, "0");
const keyType = (type: number): SignatureType => {
  if (type !== SIG_ED25519 && type !== SIG_COSIGNATURE_V1) {
    throw new NoteError(`unsupported signature type ${type}`);
  }
  return type;
};

/** Formats a verifier key: `name+hash+base64(type ‖ public key)`. */
export function formatVerifierKey(key: VerifierKey): string {
  const material = concat(Uint8Array.of(key.type), key.publicKey);
  return `${key.name}+${hex8(key.keyId)}+${toBase64(material)}`;
}

function parseKeyString(text: string, keyBytes: number) {
  const [name = "", hash = "", ...rest] = text.split("+");
  checkKeyName(name);
  if (!/^[0-9a-f]{8}$/.test(hash)) throw new NoteError("a key hash is 8 hex digits");
  const material = fromBase64(rest.join("+"));
  const type = keyType(material[0]!);
  if (material.length !== 1 + keyBytes) throw new NoteError("an Ed25519 key is 32 bytes");
  return { name, keyId: parseInt(hash, 16), type, material: material.subarray(1) };
}

/** Parses a verifier key and checks that its hash is the key ID of its name, type and key. */
export async function parseVerifierKey(vkey: string): Promise<VerifierKey> {
  const { name, keyId, type, material } = parseKeyString(vkey, 32);
  if ((await keyIdOf(name, type, material)) !== keyId) throw new NoteError("key hash mismatch");
  return { name, keyId, type, publicKey: material };
}

async function signerFromSeed(name: string, type: SignatureType, seed: Uint8Array) {
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    concat(PKCS8_PREFIX, seed),
    ED25519,
    true,
    ["sign"],
  );
  const { x } = await crypto.subtle.exportKey("jwk", privateKey);
  const publicKey = fromBase64(x!.replace(/-/g, "+").replace(/_/g, "/") + "=");
  const keyId = await keyIdOf(name, type, publicKey);
  return { name, keyId, type, publicKey, privateKey } satisfies NoteSigner;
}

/** Parses a signer key `PRIVATE+KEY+name+hash+base64(type ‖ seed)` (golang.org/x/mod/sumdb/note). */
export async function parseSignerKey(skey: string): Promise<NoteSigner> {
  if (!skey.startsWith("PRIVATE+KEY+")) throw new NoteError("not a signer key");
  const { name, keyId, type, material } = parseKeyString(skey.slice(12), 32);
  const signer = await signerFromSeed(name, type, material);
  if (signer.keyId !== keyId) throw new NoteError("key hash mismatch");
  return signer;
}

/** A new Ed25519 key pair, and its signer key string to keep secret. */
export async function generateSigner(name: string, type: SignatureType) {
  checkKeyName(name);
  const pair = await crypto.subtle.generateKey(ED25519, true, ["sign", "verify"]);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const signer = await signerFromSeed(name, type, pkcs8.subarray(PKCS8_PREFIX.length));
  const material = concat(Uint8Array.of(type), pkcs8.subarray(PKCS8_PREFIX.length));
  const skey = `PRIVATE+KEY+${name}+${hex8(signer.keyId)}+${toBase64(material)}`;
  return { signer, skey };
}

/** Parses a signed note: text, blank line, signature lines (c2sp.org/signed-note). */
export function parseNote(note: string): Note {
  // The spec forbids ASCII control characters other than newline.
  if ([...note].some((c) => c < " " && c !== "\n")) throw new NoteError("control character");
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new NoteError("no signature block");
  const lines = note.slice(split + 2, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) throw new NoteError("too many signatures");
  const signatures = lines.map((line) => {
    const [dash, name = "", b64 = "", ...extra] = line.split(" ");
    if (dash !== DASH || extra.length > 0) throw new NoteError("malformed signature line");
    checkKeyName(name);
    const bytes = fromBase64(b64);
    if (bytes.length < 5) throw new NoteError("signature too short");
    const keyId = new DataView(bytes.buffer).getUint32(0);
    return { name, keyId, signature: bytes.slice(4) };
  });
  return { text: note.slice(0, split + 1), signatures };
}

export function formatSignatureLine({ name, keyId, signature }: NoteSignature): string {
  const id = new Uint8Array(4);
  new DataView(id.buffer).setUint32(0, keyId);
  return `${DASH} ${name} ${toBase64(concat(id, signature))}\n`;
}

export function formatNote({ text, signatures }: Note): string {
  if (!text.endsWith("\n")) throw new NoteError("note text must end in a newline");
  return `${text}\n${signatures.map(formatSignatureLine).join("")}`;
}

/** The message a cosignature/v1 signs: header, time line, then the checkpoint text. */
export function cosignedMessage(text: string, timestamp: number): string {
  return `cosignature/v1\ntime ${timestamp}\n${text}`;
}

/** Signs a note's text: an Ed25519 note signature, or a cosignature/v1 at `timestamp`. */
export async function signText(
  text: string,
  signer: NoteSigner,
  timestamp = Math.floor(Date.now() / 1000),
): Promise<NoteSignature> {
  const { name, keyId, privateKey } = signer;
  const sign = async (msg: string) =>
    new Uint8Array(await crypto.subtle.sign(ED25519, privateKey, utf8.encode(msg)));
  if (signer.type === SIG_ED25519) return { name, keyId, signature: await sign(text) };
  const time = new Uint8Array(8);
  new DataView(time.buffer).setBigUint64(0, BigInt(timestamp));
  return { name, keyId, signature: concat(time, await sign(cosignedMessage(text, timestamp))) };
}

/** Signs a text with every signer and formats the note. */
export async function signNote(text: string, signers: NoteSigner[]): Promise<string> {
  return formatNote({ text, signatures: await Promise.all(signers.map((s) => signText(text, s))) });
}

/** The timestamp of a cosignature/v1 (8 bytes big-endian before the Ed25519 signature). */
export function cosignatureTimestamp(signature: Uint8Array): number {
  if (signature.length !== 8 + 64) throw new NoteError("not a cosignature/v1");
  const time = new DataView(signature.buffer, signature.byteOffset).getBigUint64(0);
  if (time > BigInt(Number.MAX_SAFE_INTEGER)) throw new NoteError("timestamp out of range");
  return Number(time);
}

async function verifySignature(text: string, key: VerifierKey, sig: Uint8Array) {
  // slice(): WebCrypto takes bytes backed by an ArrayBuffer of their own.
  const raw = key.publicKey.slice();
  const publicKey = await crypto.subtle.importKey("raw", raw, ED25519, false, ["verify"]);
  const check = (s: Uint8Array, msg: string) =>
    crypto.subtle.verify(ED25519, publicKey, s.slice(), utf8.encode(msg));
  if (key.type === SIG_ED25519) return sig.length === 64 && (await check(sig, text)) ? {} : null;
  const timestamp = cosignatureTimestamp(sig);
  return (await check(sig.subarray(8), cosignedMessage(text, timestamp))) ? { timestamp } : null;
}

/**
 * Verifies a note against trusted keys. Signatures by unknown keys (name and key ID) are ignored;
 * a failing signature by a known key, or no verified signature at all, rejects the whole note.
 */
export async function openNote(
  note: string | Note,
  keys: readonly VerifierKey[],
): Promise<{ text: string; verified: Verified[] }> {
  const { text, signatures } = typeof note === "string" ? parseNote(note) : note;
  const verified: Verified[] = [];
  for (const sig of signatures) {
    const key = keys.find((k) => k.name === sig.name && k.keyId === sig.keyId);
    if (!key || verified.some((v) => v.key === key)) continue;
    const ok = await verifySignature(text, key, sig.signature).catch(() => null);
    if (!ok) throw new NoteError(`the signature by ${key.name} does not verify`);
    verified.push({ key, ...ok });
  }
  if (verified.length === 0) throw new NoteError("no signature by a trusted key");
  return { text, verified };
}

/** Formats a checkpoint's note text: origin, tree size, base64 root hash, extension lines. */
export function formatCheckpoint({ origin, size, rootHash, extensions }: Checkpoint): string {
  return `${[origin, String(size), toBase64(rootHash), ...extensions].join("\n")}\n`;
}

/** Parses a checkpoint's note text (c2sp.org/tlog-checkpoint). */
export function parseCheckpoint(text: string): Checkpoint {
  const lines = text.endsWith("\n") ? text.slice(0, -1).split("\n") : [];
  const [origin = "", size = "", root = "", ...extensions] = lines;
  if (lines.length < 3 || lines.some((l) => l === "")) throw new NoteError("not a checkpoint");
  if (!/^(0|[1-9][0-9]*)$/.test(size) || !Number.isSafeInteger(Number(size))) {
    throw new NoteError("bad tree size");
  }
  const rootHash = fromBase64(root);
  if (rootHash.length !== 32) throw new NoteError("a root hash is 32 bytes");
  return { origin, size: Number(size), rootHash, extensions };
}
