import { constants, verify, type KeyObject } from "node:crypto";
import { recoverDigest, checkSignature } from "../crypto/signing.server";
import { checkpointSigningInput } from "./encoding.server";
import type { CheckpointInfo } from "./verify.server";

// Checks an export offline with public keys only (docs/decisions/007-exports.md).

export const EXPORT_SIGNATURE_ALGORITHM = "RSASSA-PKCS1-v1_5-SHA512";

/**
 * The closing part of an export, after the signed bytes: a CSV line, or the FHIR
 * `Bundle.signature` and the Bundle's closing brace. The verifier rebuilds it and requires the
 * file to end with exactly these bytes, so nothing after the signed part goes unchecked.
 */
export function exportTrailer(
  format: "csv" | "fhir",
  t: { keyId: string; signature: string; when: string; origin: string },
): string {
  if (format === "csv") {
    const line = { algorithm: EXPORT_SIGNATURE_ALGORITHM, key_id: t.keyId, signature: t.signature };
    return `# export-signature: ${JSON.stringify(line)}\n`;
  }
  const sig = {
    type: [
      {
        system: "urn:iso-astm:E1762-95:2013",
        code: "1.2.840.10065.1.12.1.5",
        display: "Verification Signature",
      },
    ],
    when: t.when,
    who: { display: t.origin },
    sigFormat: "application/octet-stream",
    extension: [{ url: "urn:ehr-audit-trail:key-id", valueString: t.keyId }],
    data: t.signature,
  };
  return `,"signature":${JSON.stringify(sig)}}\n`;
}

export type ExportReport = {
  ok: boolean;
  format: "csv" | "fhir" | "unknown";
  records: number;
  checkpoint: { number: number; treeSize: number } | null;
  problems: string[];
};

/** The checkpoint as exported: everything a verifier needs to check its signature. */
export function checkpointJson(origin: string, c: CheckpointInfo) {
  return {
    origin,
    number: c.number,
    tree_size: c.treeSize,
    root_hash: c.rootHash.toString("hex"),
    last_log_id: c.lastLogId,
    created_at: c.createdAt,
    key_id: c.keyId,
    signature: c.signature.toString("base64"),
  };
}

export type CheckpointJson = ReturnType<typeof checkpointJson>;

/** Parses CSV text (RFC 4180 quoting) into rows of cells. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += c;
  }
  if (cell || row.length) rows.push([...row, cell]);
  return rows;
}

function checkFileSignature(
  keys: Map<string, KeyObject>,
  signed: Buffer,
  keyId: unknown,
  signature: unknown,
  problems: string[],
) {
  const key = typeof keyId === "string" ? keys.get(keyId) : undefined;
  if (!key)
    return problems.push(`the export is signed by an unknown key (${String(keyId).slice(0, 16)})`);
  const valid =
    typeof signature === "string" &&
    verify(
      "sha512",
      signed,
      { key, padding: constants.RSA_PKCS1_PADDING },
      Buffer.from(signature, "base64"),
    );
  if (!valid)
    problems.push(
      "the export's signature does not match its contents: it was changed after it was made",
    );
}

/** Checks a checkpoint as exported against `keys`; appends what is wrong to `problems`. */
export function checkCheckpoint(
  keys: Map<string, KeyObject>,
  cp: CheckpointJson | null,
  problems: string[],
) {
  if (!cp || typeof cp !== "object") return problems.push("the export carries no checkpoint");
  const key = keys.get(cp.key_id);
  if (!key) return problems.push(`checkpoint #${cp.number} is signed by an unknown key`);
  let check: string;
  try {
    check = checkSignature(
      key,
      checkpointSigningInput({
        origin: cp.origin,
        number: cp.number,
        treeSize: cp.tree_size,
        rootHash: Buffer.from(cp.root_hash, "hex"),
        lastLogId: cp.last_log_id,
        createdAt: cp.created_at,
        keyId: cp.key_id,
      }),
      Buffer.from(cp.signature, "base64"),
    );
  } catch {
    check = "malformed";
  }
  if (check !== "valid") problems.push(`checkpoint #${cp.number}: the signature does not match`);
}

function checkRecords(
  keys: Map<string, KeyObject>,
  cp: CheckpointJson | null,
  records: { seq: unknown; keyId: unknown; signature: unknown }[],
  problems: string[],
) {
  const seen = new Set<number>();
  for (const [i, r] of records.entries()) {
    const seq = Number(r.seq);
    const where = `record ${i + 1} (seq ${String(r.seq)})`;
    if (!Number.isSafeInteger(seq) || seq < 1) problems.push(`${where}: no valid seq`);
    else if (cp && seq > cp.tree_size)
      problems.push(`${where}: not sealed by checkpoint #${cp.number}`);
    else if (seen.has(seq)) problems.push(`${where}: appears twice`);
    seen.add(seq);
    const key = typeof r.keyId === "string" ? keys.get(r.keyId) : undefined;
    if (!key) problems.push(`${where}: signed by an unknown key`);
    else if (
      typeof r.signature !== "string" ||
      !recoverDigest(key, Buffer.from(r.signature, "base64"))
    ) {
      problems.push(`${where}: the record signature is not a valid signature`);
    }
  }
}

/** Verifies a CSV or FHIR export: its own signature, its checkpoint, and each record's seq and signature. */
export function verifyExport(file: Buffer, keys: Map<string, KeyObject>): ExportReport {
  const problems: string[] = [];
  const text = file.toString("utf8");
  let format: ExportReport["format"] = "unknown";
  let cp: CheckpointJson | null = null;
  let records: { seq: unknown; keyId: unknown; signature: unknown }[] = [];
  try {
    if (text.startsWith("# ehr-audit-trail export")) {
      format = "csv";
      const marker = "\n# export-signature: ";
      const at = text.lastIndexOf(marker);
      if (at < 0) throw new Error("the export has no signature line");
      const trailer = JSON.parse(text.slice(at + marker.length)) as {
        key_id: string;
        signature: string;
      };
      const line = exportTrailer("csv", {
        keyId: trailer.key_id,
        signature: trailer.signature,
        when: "",
        origin: "",
      });
      if (text.slice(at + 1) !== line) problems.push("the export's signature line was changed");
      checkFileSignature(
        keys,
        Buffer.from(text.slice(0, at + 1), "utf8"),
        trailer.key_id,
        trailer.signature,
        problems,
      );
      const lines = text.slice(0, at + 1).split("\n");
      cp = JSON.parse(lines[1]!.replace(/^# checkpoint: /, "")) as CheckpointJson;
      const rows = parseCsv(lines.slice(2).join("\n"));
      const [header, ...data] = rows;
      const col = (name: string) => header!.indexOf(name);
      records = data.map((r) => ({
        seq: r[col("seq")],
        keyId: r[col("key_id")],
        signature: r[col("signature")],
      }));
    } else if (text.startsWith('{"resourceType":"Bundle"')) {
      format = "fhir";
      const at = text.lastIndexOf(',"signature":');
      if (at < 0) throw new Error("the Bundle has no signature");
      // Only the signed bytes are read: anything after the signature would be unsigned.
      const bundle = JSON.parse(`${text.slice(0, at)}}`) as {
        timestamp?: string;
        meta?: { extension?: { url: string; valueString: string }[] };
        entry?: {
          resource?: {
            extension?: {
              url: string;
              valueInteger?: number;
              valueString?: string;
              valueBase64Binary?: string;
            }[];
          };
        }[];
      };
      const tail = text.slice(at);
      const signature = JSON.parse(tail.slice(',"signature":'.length, tail.lastIndexOf("}"))) as {
        data?: string;
        extension?: { url: string; valueString: string }[];
      };
      const keyId = signature.extension?.find(
        (e) => e.url === "urn:ehr-audit-trail:key-id",
      )?.valueString;
      const cpText = bundle.meta?.extension?.find(
        (e) => e.url === "urn:ehr-audit-trail:checkpoint",
      )?.valueString;
      cp = cpText ? (JSON.parse(cpText) as CheckpointJson) : null;
      const expected = exportTrailer("fhir", {
        keyId: String(keyId),
        signature: String(signature.data),
        when: String(bundle.timestamp),
        origin: String(cp?.origin),
      });
      if (tail !== expected) problems.push("the Bundle's signature element was changed");
      checkFileSignature(
        keys,
        Buffer.from(text.slice(0, at), "utf8"),
        keyId,
        signature.data,
        problems,
      );
      records = (bundle.entry ?? []).map((e) => {
        const ext = (url: string) => e.resource?.extension?.find((x) => x.url === url);
        return {
          seq: ext("urn:ehr-audit-trail:seq")?.valueInteger,
          keyId: ext("urn:ehr-audit-trail:key-id")?.valueString,
          signature: ext("urn:ehr-audit-trail:signature")?.valueBase64Binary,
        };
      });
    } else {
      throw new Error("not an export of this trail (CSV or FHIR Bundle)");
    }
    checkCheckpoint(keys, cp, problems);
    checkRecords(keys, cp, records, problems);
  } catch (error) {
    problems.push(
      error instanceof SyntaxError ? "the export is not well-formed" : (error as Error).message,
    );
  }
  return {
    ok: problems.length === 0,
    format,
    records: records.length,
    checkpoint: cp ? { number: cp.number, treeSize: cp.tree_size } : null,
    problems,
  };
}
