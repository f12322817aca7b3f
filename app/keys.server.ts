import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
} from "node:crypto";
import type { KeyObject } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { sha256 } from "./crypto/hashing.server";
import { createOpaqueSetup, opaquePublicKey } from "./crypto/opaque.server";
import { SIG_ED25519 } from "./crypto/note";

export type Keys = {
  signing: { privateKey: KeyObject; publicKey: KeyObject; keyId: string };
  /** Every public key a verifier accepts, by key id: the current one and any retired ones. */
  trustedPublicKeys: Map<string, KeyObject>;
  fieldKey: Buffer;
  blindIndexKey: Buffer;
  sessionSecret: string;
  /** HMAC key for session rows, derived from the session secret: it never enters the database. */
  sessionMacKey: Buffer;
  /** The Ed25519 key that signs the C2SP checkpoint notes; its name is the trail's origin. */
  note: NoteKey;
  /** The OPAQUE server setup (OPRF seed and static key pair) that every login record depends on. */
  opaqueSetup: string;
};

/** The note key as note.ts reads it (`signerKey`), and the parts its verifier key is made of. */
export type NoteKey = { signerKey: string; name: string; keyId: number; publicKey: Buffer };

export const KEY_FILES = {
  signingPrivate: "signing-private.pem",
  signingPublic: "signing-public.pem",
  field: "field-aes256.key",
  blindIndex: "blind-index-hmac.key",
  session: "session.secret",
} as const;

/** Kept apart from KEY_FILES: it alone may be created beside existing keys (loadOrCreateKeys). */
export const NOTE_KEY_FILE = "note-ed25519.key";

/** Created beside older keys too, as the note key is; see loadOrCreateKeys and decision record 017. */
export const OPAQUE_SETUP_FILE = "opaque-server-setup.key";

/** Older public keys kept for verification after a rotation live here, one PEM per file. */
export const RETIRED_KEYS_DIR = "retired";

export class KeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyError";
  }
}

/** The key id: SHA-256 over the public key's SubjectPublicKeyInfo DER, in hex. */
export function keyIdOf(publicKey: KeyObject): string {
  return sha256(publicKey.export({ type: "spki", format: "der" })).toString("hex");
}

function readKeyFile(dir: string, name: string): Buffer {
  try {
    return fs.readFileSync(path.join(dir, name));
  } catch (error) {
    throw new KeyError(`Cannot read key file ${path.join(dir, name)}: ${(error as Error).message}`);
  }
}

function readSymmetricKey(dir: string, name: string): Buffer {
  const key = Buffer.from(readKeyFile(dir, name).toString("utf8").trim(), "base64");
  if (key.length !== 32) {
    throw new KeyError(`Key file ${path.join(dir, name)} is corrupt: expected 32 base64 bytes`);
  }
  return key;
}

function parsePublicKey(file: string, pem: Buffer): KeyObject {
  try {
    return createPublicKey(pem);
  } catch {
    throw new KeyError(`Key file ${file} is corrupt: not a PEM public key`);
  }
}

function writeSecret(dir: string, name: string, data: string): void {
  // "wx" refuses to overwrite: keys are never replaced once they exist.
  fs.writeFileSync(path.join(dir, name), data, { mode: 0o600, flag: "wx" });
}

function generateKeys(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 3072,
  });
  writeSecret(
    dir,
    KEY_FILES.signingPrivate,
    privateKey.export({ type: "pkcs8", format: "pem" }) as string,
  );
  fs.writeFileSync(
    path.join(dir, KEY_FILES.signingPublic),
    publicKey.export({ type: "spki", format: "pem" }) as string,
    { mode: 0o644, flag: "wx" },
  );
  writeSecret(dir, KEY_FILES.field, randomBytes(32).toString("base64") + "\n");
  writeSecret(dir, KEY_FILES.blindIndex, randomBytes(32).toString("base64") + "\n");
  writeSecret(dir, KEY_FILES.session, randomBytes(32).toString("base64url") + "\n");
}

// PKCS #8 wrapping of a 32-byte Ed25519 seed (RFC 8410). WebCrypto, which note.ts uses, has no
// synchronous API, and the keys are made and checked synchronously at start: so the signer key is
// encoded here with node:crypto, in the format note.ts's parseSignerKey reads (tested together).
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

function ed25519PublicKeyOf(seed: Buffer): Buffer {
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, seed]);
  const privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  return createPublicKey(privateKey).export({ type: "spki", format: "der" }).subarray(-32);
}

/** The C2SP key ID: SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4], big-endian. */
function noteKeyIdOf(name: string, publicKey: Buffer): number {
  const input = [Buffer.from(`${name}\n`), Buffer.of(SIG_ED25519), publicKey];
  return input
    .reduce((h, part) => h.update(part), createHash("sha256"))
    .digest()
    .readUInt32BE(0);
}

function noteSignerKey(name: string, seed: Buffer): string {
  const keyId = noteKeyIdOf(name, ed25519PublicKeyOf(seed)).toString(16).padStart(8, "0");
  const material = Buffer.concat([Buffer.of(SIG_ED25519), seed]).toString("base64");
  return `PRIVATE+KEY+${name}+${keyId}+${material}`;
}

function generateNoteKey(dir: string, name: string): void {
  if (name === "" || /[\s\u0085+\p{Cc}]/u.test(name)) {
    throw new KeyError(`TRAIL_ORIGIN "${name}" cannot name a note key: no spaces or "+"`);
  }
  const pkcs8 = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "der" });
  writeSecret(dir, NOTE_KEY_FILE, `${noteSignerKey(name, pkcs8.subarray(-32))}\n`);
}

function readNoteKey(dir: string, origin: string): NoteKey {
  const file = path.join(dir, NOTE_KEY_FILE);
  const signerKey = readKeyFile(dir, NOTE_KEY_FILE).toString("utf8").trim();
  const [, name = "", , material = ""] =
    /^PRIVATE\+KEY\+([^+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)$/.exec(signerKey) ?? [];
  const bytes = Buffer.from(material, "base64");
  if (bytes.length !== 33 || bytes[0] !== SIG_ED25519) {
    throw new KeyError(`Key file ${file} is corrupt: not an Ed25519 signer key`);
  }
  const seed = bytes.subarray(1);
  if (noteSignerKey(name, seed) !== signerKey) {
    throw new KeyError(`Key file ${file} is corrupt: its key hash does not match its key`);
  }
  if (name !== origin) {
    throw new KeyError(
      `Key file ${file} names the log "${name}", but TRAIL_ORIGIN is "${origin}": ` +
        "a checkpoint's origin must be its note key's name.",
    );
  }
  const publicKey = ed25519PublicKeyOf(seed);
  return { signerKey, name, keyId: noteKeyIdOf(name, publicKey), publicKey };
}

function readOpaqueSetup(dir: string): string {
  const setup = readKeyFile(dir, OPAQUE_SETUP_FILE).toString("utf8").trim();
  if (opaquePublicKey(setup) === null) {
    throw new KeyError(
      `Key file ${path.join(dir, OPAQUE_SETUP_FILE)} is corrupt: not an OPAQUE server setup`,
    );
  }
  return setup;
}

/** Loads the public keys a verifier trusts: the current one and those in `retired/`. */
export function loadTrustedPublicKeys(dir: string): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  const current = path.join(dir, KEY_FILES.signingPublic);
  const add = (file: string) => {
    const key = parsePublicKey(file, fs.readFileSync(file));
    keys.set(keyIdOf(key), key);
  };
  if (fs.existsSync(current)) add(current);
  const retired = path.join(dir, RETIRED_KEYS_DIR);
  if (fs.existsSync(retired)) {
    for (const name of fs
      .readdirSync(retired)
      .filter((n) => n.endsWith(".pem"))
      .sort()) {
      add(path.join(retired, name));
    }
  }
  return keys;
}

/**
 * Loads the keys from `dir`, creating all of them when none exist yet. A partial set, or a
 * corrupt file, is an error: new keys would make the data sealed under the old ones unreadable.
 * The note key, named `origin`, is the exception (see below).
 */
export function loadOrCreateKeys(
  dir: string,
  origin: string,
): {
  keys: Keys;
  created: boolean;
} {
  const names = Object.values(KEY_FILES);
  const present = names.filter((n) => fs.existsSync(path.join(dir, n)));
  let created = false;
  if (present.length === 0) {
    generateKeys(dir);
    created = true;
  } else if (present.length < names.length) {
    const missing = names.filter((n) => !present.includes(n));
    throw new KeyError(
      `Key directory ${dir} is incomplete: missing ${missing.join(", ")}. ` +
        "Restore them from your backup; new keys are not generated beside existing ones, " +
        "because data sealed under the old keys would become unreadable.",
    );
  }

  // A key folder older than the note key gets one. Nothing is sealed or stored under it (a note
  // is signed on demand from the verified checkpoint), so a new one makes nothing unreadable; and
  // a replaced note key gains an intruder nothing: every witness that pinned the old verifier key
  // refuses notes signed by another.
  if (!fs.existsSync(path.join(dir, NOTE_KEY_FILE))) generateNoteKey(dir, origin);

  // A key folder older than OPAQUE logins gets a setup: no account holds an OPAQUE record yet, and
  // every account moves to one at its next login (decision record 017). Once made it is never
  // replaced: a new setup would make every OPAQUE record useless.
  if (!fs.existsSync(path.join(dir, OPAQUE_SETUP_FILE))) {
    writeSecret(dir, OPAQUE_SETUP_FILE, `${createOpaqueSetup()}\n`);
  }

  const privatePath = path.join(dir, KEY_FILES.signingPrivate);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readKeyFile(dir, KEY_FILES.signingPrivate));
  } catch (error) {
    if (error instanceof KeyError) throw error;
    throw new KeyError(`Key file ${privatePath} is corrupt: not a PEM private key`);
  }
  if (privateKey.asymmetricKeyType !== "rsa") {
    throw new KeyError(`Key file ${privatePath} is not an RSA key`);
  }
  const publicPath = path.join(dir, KEY_FILES.signingPublic);
  const publicKey = parsePublicKey(publicPath, readKeyFile(dir, KEY_FILES.signingPublic));
  const keyId = keyIdOf(publicKey);
  if (keyIdOf(createPublicKey(privateKey)) !== keyId) {
    throw new KeyError(`${privatePath} and ${publicPath} are not one key pair`);
  }
  const sessionSecret = readKeyFile(dir, KEY_FILES.session).toString("utf8").trim();
  if (sessionSecret.length < 32) {
    throw new KeyError(`Key file ${path.join(dir, KEY_FILES.session)} is corrupt: too short`);
  }
  return {
    created,
    keys: {
      signing: { privateKey, publicKey, keyId },
      trustedPublicKeys: loadTrustedPublicKeys(dir),
      fieldKey: readSymmetricKey(dir, KEY_FILES.field),
      blindIndexKey: readSymmetricKey(dir, KEY_FILES.blindIndex),
      sessionSecret,
      sessionMacKey: Buffer.from(
        hkdfSync("sha256", sessionSecret, "", "ehr-audit-session-rows", 32),
      ),
      note: readNoteKey(dir, origin),
      opaqueSetup: readOpaqueSetup(dir),
    },
  };
}
