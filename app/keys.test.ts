import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  KEY_FILES,
  KeyError,
  NOTE_KEY_FILE,
  OPAQUE_SETUP_FILE,
  RETIRED_KEYS_DIR,
  keyIdOf,
  loadOrCreateKeys,
  loadTrustedPublicKeys,
  type Keys,
} from "./keys.server";
import { SIG_ED25519, formatVerifierKey, openNote, parseSignerKey, signNote } from "./crypto/note";

const ORIGIN = "audit.example/trail";

const SECRET_FILES = [
  KEY_FILES.signingPrivate,
  KEY_FILES.field,
  KEY_FILES.blindIndex,
  KEY_FILES.session,
  NOTE_KEY_FILE,
];

let templateRoot: string;
/** A complete key directory, generated once; tests copy it instead of generating again. */
let templateDir: string;
let templateKeys: Keys;
/** A key pair that is not the template's (smaller, so it is quick to generate). */
let otherPair: { privateKey: KeyObject; publicKey: KeyObject };

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keys-test-"));
  tempDirs.push(dir);
  return dir;
}

/** A fresh copy of the template key directory. */
function copyOfTemplate(): string {
  const dir = path.join(tempDir(), "keys");
  fs.cpSync(templateDir, dir, { recursive: true });
  return dir;
}

function snapshot(dir: string): Map<string, { bytes: Buffer; mtimeMs: number }> {
  const files = new Map<string, { bytes: Buffer; mtimeMs: number }>();
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const file = path.join(dir, name);
    const stat = fs.statSync(file);
    if (stat.isFile()) files.set(name, { bytes: fs.readFileSync(file), mtimeMs: stat.mtimeMs });
  }
  return files;
}

function keyErrorOf(fn: () => unknown): KeyError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(KeyError);
    expect((error as Error).name).toBe("KeyError");
    return error as KeyError;
  }
  throw new Error("expected a KeyError, but nothing was thrown");
}

function spkiSha256(key: KeyObject): string {
  return createHash("sha256")
    .update(key.export({ type: "spki", format: "der" }))
    .digest("hex");
}

beforeAll(() => {
  templateRoot = fs.mkdtempSync(path.join(os.tmpdir(), "keys-template-"));
  templateDir = path.join(templateRoot, "keys");
  const result = loadOrCreateKeys(templateDir, ORIGIN);
  expect(result.created).toBe(true);
  templateKeys = result.keys;
  otherPair = generateKeyPairSync("rsa", { modulusLength: 2048 });
});

afterAll(() => {
  fs.rmSync(templateRoot, { recursive: true, force: true });
});

afterEach(() => {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe("loadOrCreateKeys: creating a new key set", () => {
  let root: string;
  let dir: string;
  let result: ReturnType<typeof loadOrCreateKeys>;

  beforeAll(() => {
    // The one other RSA-3072 generation in this file; its directory does not exist yet.
    root = fs.mkdtempSync(path.join(os.tmpdir(), "keys-create-"));
    dir = path.join(root, "nested", "keys");
    result = loadOrCreateKeys(dir, ORIGIN);
  });

  afterAll(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("reports that it created the keys and writes every file", () => {
    expect(result.created).toBe(true);
    expect(fs.readdirSync(dir).sort()).toEqual(
      [...Object.values(KEY_FILES), NOTE_KEY_FILE, OPAQUE_SETUP_FILE].sort(),
    );
  });

  it("makes the secret files readable by the owner only", () => {
    for (const name of SECRET_FILES) {
      const mode = fs.statSync(path.join(dir, name)).mode & 0o777;
      expect({ name, mode: mode.toString(8) }).toEqual({ name, mode: "600" });
    }
    const publicMode = fs.statSync(path.join(dir, KEY_FILES.signingPublic)).mode & 0o777;
    expect(publicMode & 0o022).toBe(0); // nobody else may write it
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
  });

  it("makes an RSA-3072 signing key whose id is the SHA-256 of its SPKI DER", () => {
    const { privateKey, publicKey, keyId } = result.keys.signing;
    expect(privateKey.asymmetricKeyType).toBe("rsa");
    expect(publicKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
    expect(privateKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
    expect(keyId).toMatch(/^[0-9a-f]{64}$/);
    expect(keyId).toBe(spkiSha256(publicKey));
    expect(keyIdOf(publicKey)).toBe(keyId);
    // The id also matches the public key as written to disk.
    const onDisk = createPublicKey(fs.readFileSync(path.join(dir, KEY_FILES.signingPublic)));
    expect(spkiSha256(onDisk)).toBe(keyId);
  });

  it("makes a private and public key that are one pair", () => {
    const { privateKey, publicKey } = result.keys.signing;
    const message = Buffer.from("audit entry");
    const signature = sign("sha256", message, privateKey);
    expect(verify("sha256", message, publicKey, signature)).toBe(true);
    expect(verify("sha256", Buffer.from("audit entrY"), publicKey, signature)).toBe(false);
  });

  it("makes distinct 32-byte symmetric keys and a long session secret", () => {
    const { fieldKey, blindIndexKey, sessionSecret } = result.keys;
    expect(fieldKey.length).toBe(32);
    expect(blindIndexKey.length).toBe(32);
    expect(fieldKey.equals(blindIndexKey)).toBe(false);
    expect(sessionSecret.length).toBeGreaterThanOrEqual(32);
    expect(sessionSecret).toBe(sessionSecret.trim());
    expect(fs.readFileSync(path.join(dir, KEY_FILES.field), "utf8").trim()).toBe(
      fieldKey.toString("base64"),
    );
  });

  it("makes keys different from another key set", () => {
    expect(result.keys.signing.keyId).not.toBe(templateKeys.signing.keyId);
    expect(result.keys.fieldKey.equals(templateKeys.fieldKey)).toBe(false);
    expect(result.keys.blindIndexKey.equals(templateKeys.blindIndexKey)).toBe(false);
    expect(result.keys.sessionSecret).not.toBe(templateKeys.sessionSecret);
  });

  it("trusts exactly the current public key", () => {
    const { trustedPublicKeys, signing } = result.keys;
    expect([...trustedPublicKeys.keys()]).toEqual([signing.keyId]);
    expect(trustedPublicKeys.get(signing.keyId)?.equals(signing.publicKey)).toBe(true);
  });
});

describe("loadOrCreateKeys: loading an existing key set", () => {
  it("returns the same keys and does not rewrite any file", () => {
    const dir = copyOfTemplate();
    const before = snapshot(dir);
    const first = loadOrCreateKeys(dir, ORIGIN);
    const second = loadOrCreateKeys(dir, ORIGIN);
    for (const { created, keys } of [first, second]) {
      expect(created).toBe(false);
      expect(keys.signing.keyId).toBe(templateKeys.signing.keyId);
      expect(keys.signing.publicKey.equals(templateKeys.signing.publicKey)).toBe(true);
      expect(keys.signing.privateKey.equals(templateKeys.signing.privateKey)).toBe(true);
      expect(keys.fieldKey.equals(templateKeys.fieldKey)).toBe(true);
      expect(keys.blindIndexKey.equals(templateKeys.blindIndexKey)).toBe(true);
      expect(keys.sessionSecret).toBe(templateKeys.sessionSecret);
    }
    expect(snapshot(dir)).toEqual(before);
  });

  it("reloads the template directory itself without changing it", () => {
    const before = snapshot(templateDir);
    const { created, keys } = loadOrCreateKeys(templateDir, ORIGIN);
    expect(created).toBe(false);
    expect(keys.signing.keyId).toBe(templateKeys.signing.keyId);
    expect(snapshot(templateDir)).toEqual(before);
  });

  it.each(Object.values(KEY_FILES))(
    "refuses a set missing %s, naming it, and creates nothing",
    (name) => {
      const dir = copyOfTemplate();
      fs.rmSync(path.join(dir, name));
      const before = snapshot(dir);
      const error = keyErrorOf(() => loadOrCreateKeys(dir, ORIGIN));
      expect(error.message).toContain(name);
      expect(error.message).toContain("incomplete");
      // The other files are not named as missing.
      for (const other of Object.values(KEY_FILES))
        if (other !== name) expect(error.message.split("missing")[1]).not.toContain(other);
      expect(snapshot(dir)).toEqual(before);
      expect(fs.existsSync(path.join(dir, name))).toBe(false);
    },
  );

  it("names every missing file", () => {
    const dir = copyOfTemplate();
    fs.rmSync(path.join(dir, KEY_FILES.field));
    fs.rmSync(path.join(dir, KEY_FILES.session));
    const error = keyErrorOf(() => loadOrCreateKeys(dir, ORIGIN));
    expect(error.message).toContain(KEY_FILES.field);
    expect(error.message).toContain(KEY_FILES.session);
    expect(fs.readdirSync(dir).length).toBe(5);
  });

  it("refuses a corrupt private key", () => {
    const dir = copyOfTemplate();
    fs.writeFileSync(
      path.join(dir, KEY_FILES.signingPrivate),
      "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    );
    const error = keyErrorOf(() => loadOrCreateKeys(dir, ORIGIN));
    expect(error.message).toContain(KEY_FILES.signingPrivate);
    expect(error.message).toContain("corrupt");
  });

  it("refuses a private key that is not RSA", () => {
    const dir = copyOfTemplate();
    const { privateKey } = generateKeyPairSync("ed25519");
    fs.writeFileSync(
      path.join(dir, KEY_FILES.signingPrivate),
      privateKey.export({ type: "pkcs8", format: "pem" }),
    );
    const error = keyErrorOf(() => loadOrCreateKeys(dir, ORIGIN));
    expect(error.message).toContain(KEY_FILES.signingPrivate);
    expect(error.message).toContain("RSA");
  });

  it("refuses a corrupt public key", () => {
    const dir = copyOfTemplate();
    const file = path.join(dir, KEY_FILES.signingPublic);
    const pem = fs.readFileSync(file, "utf8");
    // Keep the PEM armour but damage the base64 body.
    fs.writeFileSync(file, pem.replace(/\n[A-Za-z0-9+/]{20}/, "\n!!!!"));
    const error = keyErrorOf(() => loadOrCreateKeys(dir, ORIGIN));
    expect(error.message).toContain(KEY_FILES.signingPublic);
  });

  it("refuses a public key file that is not a key at all", () => {
    const dir = copyOfTemplate();
    fs.writeFileSync(path.join(dir, KEY_FILES.signingPublic), "hello\n");
    const error = keyErrorOf(() => loadOrCreateKeys(dir, ORIGIN));
    expect(error.message).toContain(KEY_FILES.signingPublic);
    expect(error.message).toContain("corrupt");
  });

  it("refuses a public key from another key pair", () => {
    const dir = copyOfTemplate();
    fs.writeFileSync(
      path.join(dir, KEY_FILES.signingPublic),
      otherPair.publicKey.export({ type: "spki", format: "pem" }),
    );
    const error = keyErrorOf(() => loadOrCreateKeys(dir, ORIGIN));
    expect(error.message).toContain("not one key pair");
    expect(error.message).toContain(KEY_FILES.signingPublic);
    expect(error.message).toContain(KEY_FILES.signingPrivate);
  });

  it.each([
    ["a 16-byte", randomBytes(16).toString("base64")],
    ["a 33-byte", randomBytes(33).toString("base64")],
    ["an empty", ""],
  ])("refuses %s field (AES) key", (_label, content) => {
    const dir = copyOfTemplate();
    fs.writeFileSync(path.join(dir, KEY_FILES.field), content + "\n");
    const error = keyErrorOf(() => loadOrCreateKeys(dir, ORIGIN));
    expect(error.message).toContain(KEY_FILES.field);
    expect(error.message).toContain("corrupt");
  });

  it("refuses a blind-index key of the wrong length", () => {
    const dir = copyOfTemplate();
    fs.writeFileSync(path.join(dir, KEY_FILES.blindIndex), randomBytes(31).toString("base64"));
    const error = keyErrorOf(() => loadOrCreateKeys(dir, ORIGIN));
    expect(error.message).toContain(KEY_FILES.blindIndex);
  });

  it("refuses a session secret that is too short", () => {
    const dir = copyOfTemplate();
    fs.writeFileSync(path.join(dir, KEY_FILES.session), "short\n");
    const error = keyErrorOf(() => loadOrCreateKeys(dir, ORIGIN));
    expect(error.message).toContain(KEY_FILES.session);
  });

  it("does not replace a corrupt set with new keys", () => {
    const dir = copyOfTemplate();
    fs.writeFileSync(path.join(dir, KEY_FILES.field), "AAAA\n");
    const before = snapshot(dir);
    keyErrorOf(() => loadOrCreateKeys(dir, ORIGIN));
    expect(snapshot(dir)).toEqual(before);
  });
});

describe("the OPAQUE server setup", () => {
  it("is created alone for a key folder that predates it, and kept from then on", () => {
    const dir = copyOfTemplate();
    fs.rmSync(path.join(dir, OPAQUE_SETUP_FILE));
    const before = snapshot(dir);
    const { created, keys } = loadOrCreateKeys(dir, ORIGIN);
    expect(created).toBe(false);
    expect(keys.opaqueSetup).not.toBe(templateKeys.opaqueSetup);
    const after = snapshot(dir);
    after.delete(OPAQUE_SETUP_FILE);
    expect(after).toEqual(before);
    expect(fs.statSync(path.join(dir, OPAQUE_SETUP_FILE)).mode & 0o777).toBe(0o600);
    expect(loadOrCreateKeys(dir, ORIGIN).keys.opaqueSetup).toBe(keys.opaqueSetup);
  });

  it("refuses a corrupt setup instead of replacing it", () => {
    const dir = copyOfTemplate();
    const file = path.join(dir, OPAQUE_SETUP_FILE);
    fs.writeFileSync(file, "not-a-setup\n");
    expect(keyErrorOf(() => loadOrCreateKeys(dir, ORIGIN)).message).toContain(OPAQUE_SETUP_FILE);
    expect(fs.readFileSync(file, "utf8")).toBe("not-a-setup\n");
  });
});

describe("the note key", () => {
  it("is an Ed25519 signer key named by the origin, which note.ts reads and verifies", async () => {
    const file = fs.readFileSync(path.join(templateDir, NOTE_KEY_FILE), "utf8");
    const signer = await parseSignerKey(file.trim());
    const { note } = templateKeys;
    expect(note.signerKey).toBe(file.trim());
    expect({ name: note.name, keyId: note.keyId }).toEqual({ name: ORIGIN, keyId: signer.keyId });
    expect(note.publicKey.equals(signer.publicKey)).toBe(true);
    const signed = await signNote("a checkpoint\n", [signer]);
    expect((await openNote(signed, [{ ...note, type: SIG_ED25519 }])).text).toBe("a checkpoint\n");
    expect(formatVerifierKey(signer)).toMatch(
      /^audit\.example\/trail\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}$/,
    );
  });

  it("is created alone for a key folder that predates it, leaving the others as they were", () => {
    const dir = copyOfTemplate();
    fs.rmSync(path.join(dir, NOTE_KEY_FILE));
    const before = snapshot(dir);
    const { created, keys } = loadOrCreateKeys(dir, ORIGIN);
    expect(created).toBe(false);
    expect(keys.signing.keyId).toBe(templateKeys.signing.keyId);
    expect(keys.note.publicKey.equals(templateKeys.note.publicKey)).toBe(false);
    const after = snapshot(dir);
    after.delete(NOTE_KEY_FILE);
    expect(after).toEqual(before);
    expect(fs.statSync(path.join(dir, NOTE_KEY_FILE)).mode & 0o777).toBe(0o600);
  });

  it("refuses a note key named for another log, or whose hash does not match", () => {
    const dir = copyOfTemplate();
    expect(keyErrorOf(() => loadOrCreateKeys(dir, "other-log")).message).toContain("TRAIL_ORIGIN");
    const file = path.join(dir, NOTE_KEY_FILE);
    const text = fs.readFileSync(file, "utf8");
    fs.writeFileSync(file, text.replace(/\+([0-9a-f]{8})\+/, "+00000000+"));
    expect(keyErrorOf(() => loadOrCreateKeys(dir, ORIGIN)).message).toContain(NOTE_KEY_FILE);
    fs.writeFileSync(file, "PRIVATE+KEY+x\n");
    expect(keyErrorOf(() => loadOrCreateKeys(dir, ORIGIN)).message).toContain("corrupt");
  });

  it("refuses to create a note key for an origin that cannot name one", () => {
    const dir = copyOfTemplate();
    fs.rmSync(path.join(dir, NOTE_KEY_FILE));
    expect(keyErrorOf(() => loadOrCreateKeys(dir, "two words")).message).toContain("two words");
  });
});

describe("retired public keys", () => {
  function withRetired(): { dir: string; retiredId: string } {
    const dir = copyOfTemplate();
    fs.mkdirSync(path.join(dir, RETIRED_KEYS_DIR));
    fs.writeFileSync(
      path.join(dir, RETIRED_KEYS_DIR, "2024-01-01.pem"),
      otherPair.publicKey.export({ type: "spki", format: "pem" }),
    );
    // Not a .pem file: ignored.
    fs.writeFileSync(path.join(dir, RETIRED_KEYS_DIR, "README.txt"), "old keys\n");
    return { dir, retiredId: keyIdOf(otherPair.publicKey) };
  }

  it("loadTrustedPublicKeys includes the current key and retired/*.pem keys", () => {
    const { dir, retiredId } = withRetired();
    const trusted = loadTrustedPublicKeys(dir);
    expect([...trusted.keys()].sort()).toEqual([templateKeys.signing.keyId, retiredId].sort());
    expect(trusted.get(retiredId)?.equals(otherPair.publicKey)).toBe(true);
    expect(retiredId).toBe(spkiSha256(otherPair.publicKey));
  });

  it("loadOrCreateKeys trusts retired keys but signs with the current one", () => {
    const { dir, retiredId } = withRetired();
    const { keys } = loadOrCreateKeys(dir, ORIGIN);
    expect(keys.signing.keyId).toBe(templateKeys.signing.keyId);
    expect(keys.trustedPublicKeys.size).toBe(2);
    expect(keys.trustedPublicKeys.has(retiredId)).toBe(true);
    expect(keys.trustedPublicKeys.has(templateKeys.signing.keyId)).toBe(true);
  });

  it("refuses a corrupt retired key, naming it", () => {
    const { dir } = withRetired();
    fs.writeFileSync(path.join(dir, RETIRED_KEYS_DIR, "bad.pem"), "junk\n");
    const error = keyErrorOf(() => loadTrustedPublicKeys(dir));
    expect(error.message).toContain("bad.pem");
  });

  it("returns no keys for an empty directory", () => {
    expect(loadTrustedPublicKeys(tempDir()).size).toBe(0);
  });
});

describe("keyIdOf", () => {
  it("is the hex SHA-256 of the SPKI DER and differs between keys", () => {
    const id = keyIdOf(otherPair.publicKey);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(id).toBe(spkiSha256(otherPair.publicKey));
    expect(id).not.toBe(keyIdOf(templateKeys.signing.publicKey));
  });
});
