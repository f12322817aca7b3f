import type { KeyObject } from "node:crypto";
import type Database from "better-sqlite3";
import type { Field } from "../crypto/encoding.server";
import { checkSignature, signBytes } from "../crypto/signing.server";
import type { Keys } from "../keys.server";
import { rowSigningInput, SIGNED_ROW_COLUMNS, type SignedTable } from "./encoding.server";
import type { Finding } from "./verify.server";

// Rows that grant a right (accounts, source systems, invitations) are signed with the trail's
// key like records: a row written or edited in the file without that key grants nothing, and
// the offline verifier checks them with the public key alone. docs/decisions/009.

export type RowCheck = "valid" | "mismatch" | "malformed" | "unknown_key";

const TARGETS: Record<SignedTable, Finding["target"]> = {
  users: "user",
  sources: "source",
  invitations: "invitation",
  notice_settings: "notice",
};

const NOUNS: Record<SignedTable, string> = {
  users: "account",
  sources: "source system",
  invitations: "invitation",
  notice_settings: "notice settings",
};

/** Signs a row's values, given in SIGNED_ROW_COLUMNS order without the key id. */
export function signRow(
  keys: Keys,
  table: SignedTable,
  values: readonly Field[],
): { keyId: string; signature: Buffer } {
  const keyId = keys.signing.keyId;
  const signature = signBytes(keys.signing.privateKey, rowSigningInput(table, [...values, keyId]));
  return { keyId, signature };
}

/** Checks a stored row: `values` in SIGNED_ROW_COLUMNS order, the key id last. Never throws. */
export function checkRow(
  trusted: Map<string, KeyObject>,
  table: SignedTable,
  values: readonly unknown[],
  signature: unknown,
): RowCheck {
  const key = trusted.get(String(values[values.length - 1]));
  if (!key) return "unknown_key";
  if (!Buffer.isBuffer(signature)) return "malformed";
  try {
    return checkSignature(key, rowSigningInput(table, values as Field[]), signature);
  } catch {
    // A value of the wrong type or range cannot be what was signed.
    return "mismatch";
  }
}

/** The finding for a row that failed its check, or null for a valid one. */
export function rowFinding(table: SignedTable, id: string, check: RowCheck): Finding | null {
  const base = { target: TARGETS[table], ref: id };
  const noun = NOUNS[table];
  switch (check) {
    case "valid":
      return null;
    case "unknown_key":
      return {
        ...base,
        kind: "unknown_key",
        detail: `the ${noun} row is not signed by a trusted key`,
      };
    case "malformed":
      return {
        ...base,
        kind: "bad_signature",
        detail: `the ${noun} row's signature is not a valid signature`,
      };
    case "mismatch":
      return {
        ...base,
        kind: "modified",
        detail: `the ${noun} row was changed after it was signed`,
      };
  }
}

/** Checks every row of a signed table; a row that fails grants nothing and is named here. */
export function checkSignedTable(
  sqlite: Database.Database,
  trusted: Map<string, KeyObject>,
  table: SignedTable,
): { count: number; findings: Finding[] } {
  const columns = SIGNED_ROW_COLUMNS[table];
  const rows = sqlite
    .prepare(`SELECT ${columns.join(", ")}, signature FROM ${table} ORDER BY id`)
    .raw(true)
    .all() as unknown[][];
  const findings: Finding[] = [];
  for (const row of rows) {
    const check = checkRow(trusted, table, row.slice(0, columns.length), row[columns.length]);
    const finding = rowFinding(table, String(row[0]), check); // the id comes first
    if (finding) findings.push(finding);
  }
  return { count: rows.length, findings };
}
