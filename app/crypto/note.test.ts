import { describe, expect, it } from "vitest";
import {
  NoteError,
  SIG_COSIGNATURE_V1,
  SIG_ED25519,
  cosignatureTimestamp,
  cosignedMessage,
  formatCheckpoint,
  formatNote,
  formatSignatureLine,
  formatVerifierKey,
  fromBase64,
  generateSigner,
  keyIdOf,
  openNote,
  parseCheckpoint,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  signText,
} from "./note";

// c2sp.org/signed-note, the example of the version this repository's spec copy holds.
const QUASIMODO =
  "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n" +
  "— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
// c2sp.org/signed-note, the example (with its verifier key) of the current version.
const FOO_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const FOO_NOTE =
  "This is an example message.\n\n" +
  "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
// golang.org/x/mod/sumdb/note: a signer key, its verifier key, and the notes they sign.
const PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_LINE =
  "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_LINE =
  "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
// c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature.
const SOFA_TEXT =
  "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const SOFA_LOG_LINE =
  "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
const SOFA_WITNESS_LINE =
  "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
// A type 0x04 verifier key of transparency-dev/formats (note/note_cosigv1_test.go).
const REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2";

describe("the specs' examples, byte for byte", () => {
  it("parses the signed-note example and formats it back unchanged", () => {
    const note = parseNote(QUASIMODO);
    expect(note.text).toBe(
      "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n",
    );
    expect(note.signatures).toHaveLength(1);
    expect(note.signatures[0]!.name).toBe("quasimodo.example/salvatore");
    expect(note.signatures[0]!.keyId).toBe(0x367ba04b);
    expect(note.signatures[0]!.signature).toHaveLength(64);
    expect(formatNote(note)).toBe(QUASIMODO);
  });

  it("verifies the current signed-note example against its verifier key", async () => {
    const key = await parseVerifierKey(FOO_VKEY);
    expect(key).toMatchObject({ name: "example.com/foo", keyId: 0x530d903a, type: SIG_ED25519 });
    expect(formatVerifierKey(key)).toBe(FOO_VKEY);
    const opened = await openNote(FOO_NOTE, [key]);
    expect(opened.text).toBe("This is an example message.\n");
    expect(opened.verified.map((v) => v.key.name)).toEqual(["example.com/foo"]);
    await expect(openNote(FOO_NOTE.replace("example", "exemple"), [key])).rejects.toThrow(
      NoteError,
    );
  });

  it("signs Go's example note byte for byte with Go's signer key", async () => {
    const signer = await parseSignerKey(PETER_SKEY);
    expect(formatVerifierKey(signer)).toBe(PETER_VKEY);
    expect(await signNote(GO_TEXT, [signer])).toBe(`${GO_TEXT}\n${PETER_LINE}`);
  });

  it("opens a note signed by two keys with either key, and ignores the unknown one", async () => {
    const [peter, enoch] = await Promise.all([PETER_VKEY, ENOCH_VKEY].map(parseVerifierKey));
    const note = `${GO_TEXT}\n${PETER_LINE}${ENOCH_LINE}`;
    expect((await openNote(note, [peter!, enoch!])).verified).toHaveLength(2);
    expect((await openNote(note, [enoch!])).verified.map((v) => v.key.name)).toEqual(["EnochRoot"]);
    expect(formatNote(parseNote(note))).toBe(note);
  });

  it("parses the tlog-checkpoint example", () => {
    const note = parseNote(`${SOFA_TEXT}\n${SOFA_LOG_LINE}`);
    const checkpoint = parseCheckpoint(note.text);
    expect(checkpoint.origin).toBe("example.com/behind-the-sofa");
    expect(checkpoint.size).toBe(20852163);
    expect(checkpoint.rootHash).toHaveLength(32);
    expect(checkpoint.extensions).toEqual([]);
    expect(formatCheckpoint(checkpoint)).toBe(SOFA_TEXT);
  });

  it("reads the tlog-cosignature example's timestamp and rebuilds its signed message", () => {
    const note = parseNote(`${SOFA_TEXT}\n${SOFA_LOG_LINE}${SOFA_WITNESS_LINE}`);
    const cosig = note.signatures[1]!;
    expect(cosig.name).toBe("witness.example.com/w1");
    expect(cosig.keyId).toBe(0x8d66cf3f);
    expect(cosignatureTimestamp(cosig.signature)).toBe(1679315147);
    expect(cosignedMessage(note.text, 1679315147)).toBe(
      "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n" +
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    );
    expect(formatSignatureLine(cosig)).toBe(SOFA_WITNESS_LINE);
  });

  it("reads transparency-dev's cosignature timestamp and refuses a plain signature", () => {
    const sig = fromBase64(
      "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==",
    );
    expect(cosignatureTimestamp(sig.subarray(4))).toBe(1727964367);
    const plain = parseNote(`${GO_TEXT}\n${PETER_LINE}`).signatures[0]!.signature;
    expect(() => cosignatureTimestamp(plain)).toThrow(NoteError);
  });

  it("parses a type 0x04 verifier key, whose hash covers the cosignature type byte", async () => {
    const key = await parseVerifierKey(REMORA_VKEY);
    expect(key.type).toBe(SIG_COSIGNATURE_V1);
    expect(await keyIdOf(key.name, SIG_ED25519, key.publicKey)).not.toBe(0xda77ade7);
    expect(formatVerifierKey(key)).toBe(REMORA_VKEY);
  });
});

describe("round trips with fresh keys", () => {
  const checkpointText = formatCheckpoint({
    origin: "trail.example/log",
    size: 7,
    rootHash: new Uint8Array(32).fill(7),
    extensions: ["an extension"],
  });

  it("a log signs a checkpoint and a witness cosigns it; each key verifies its own line", async () => {
    const log = await generateSigner("trail.example/log", SIG_ED25519);
    const witness = await generateSigner("witness.example/w1", SIG_COSIGNATURE_V1);
    expect(await parseSignerKey(log.skey)).toMatchObject({ keyId: log.signer.keyId });
    const logKey = await parseVerifierKey(formatVerifierKey(log.signer));
    const witnessKey = await parseVerifierKey(formatVerifierKey(witness.signer));
    const signed = await signNote(checkpointText, [log.signer]);
    const cosig = await signText(checkpointText, witness.signer, 1700000000);
    const note = signed + formatSignatureLine(cosig);

    const opened = await openNote(note, [logKey, witnessKey]);
    expect(opened.verified).toEqual([{ key: logKey }, { key: witnessKey, timestamp: 1700000000 }]);
    expect(parseCheckpoint(opened.text).extensions).toEqual(["an extension"]);
    // The cosignature covers the extension lines, and its timestamp.
    const forged = note.replace("an extension", "an extensioN");
    await expect(openNote(forged, [witnessKey])).rejects.toThrow("does not verify");
    const retimed = { ...cosig, signature: Uint8Array.from(cosig.signature) };
    retimed.signature[7]! ^= 1;
    const retimedNote = signed + formatSignatureLine(retimed);
    await expect(openNote(retimedNote, [witnessKey])).rejects.toThrow("does not verify");
  });

  it("ignores keys that share only a name or only a key ID, and needs one trusted signature", async () => {
    const log = await generateSigner("trail.example/log", SIG_ED25519);
    const other = await generateSigner("trail.example/log", SIG_ED25519);
    const note = await signNote(checkpointText, [log.signer]);
    const renamed = { ...log.signer, name: "trail.example/other" };
    await expect(openNote(note, [other.signer])).rejects.toThrow("no signature by a trusted key");
    await expect(openNote(note, [renamed])).rejects.toThrow("no signature by a trusted key");
    // The same Ed25519 key as a cosigner has another key ID, so it does not verify note signatures.
    const asCosigner = { ...log.signer, type: SIG_COSIGNATURE_V1 } as const;
    const cosignerKey = {
      ...asCosigner,
      keyId: await keyIdOf(asCosigner.name, SIG_COSIGNATURE_V1, asCosigner.publicKey),
    };
    await expect(openNote(note, [cosignerKey])).rejects.toThrow("no signature by a trusted key");
  });
});

describe("malformed input is refused", () => {
  it.each([
    ["no blank line", `${GO_TEXT}${PETER_LINE}`],
    ["no signature", `${GO_TEXT}\n`],
    ["no final newline", `${GO_TEXT}\n${PETER_LINE}`.slice(0, -1)],
    ["a control character", `${GO_TEXT.replace("If", "If\t")}\n${PETER_LINE}`],
    ["a hyphen for the dash", `${GO_TEXT}\n${PETER_LINE.replace("—", "-")}`],
    ["a name with a plus", `${GO_TEXT}\n${PETER_LINE.replace("PeterNeumann", "Peter+Neumann")}`],
    ["two spaces", `${GO_TEXT}\n${PETER_LINE.replace(" x08", "  x08")}`],
    ["non-canonical base64", `${GO_TEXT}\n${PETER_LINE.replace("AM=", "AN=")}`],
    ["a four-byte signature", `${GO_TEXT}\n— PeterNeumann x08gow==\n`],
  ])("a note with %s", (_what, note) => {
    expect(() => parseNote(note)).toThrow(NoteError);
  });

  it.each([
    ["two lines", "origin\n5\n"],
    ["no final newline", "origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="],
    ["a leading zero", "origin\n05\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"],
    ["a sign", "origin\n+5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"],
    ["a short root", "origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n"],
    ["an empty extension", "origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\next\n"],
    ["an empty origin", "\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"],
  ])("a checkpoint with %s", (_what, text) => {
    expect(() => parseCheckpoint(text)).toThrow(NoteError);
  });

  it.each([
    ["a wrong hash", FOO_VKEY.replace("530d903a", "530d903b")],
    ["an upper-case hash", FOO_VKEY.replace("530d903a", "530D903A")],
    ["a space in the name", FOO_VKEY.replace("example.com/foo", "example com")],
    ["an unknown type", "example.com/foo+530d903a+BekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"],
    ["a short key", "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv"],
    ["no hash", "example.com/foo+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"],
  ])("a verifier key with %s", async (_what, vkey) => {
    await expect(parseVerifierKey(vkey)).rejects.toThrow(NoteError);
  });
});
