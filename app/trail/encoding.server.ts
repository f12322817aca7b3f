import { encodeFields, type Field } from "../crypto/encoding.server";
import { hashPrefixed } from "../crypto/merkle.server";

// The canonical encodings that are signed and hashed. docs/decisions/003-canonical-record-encoding.md
// specifies them byte for byte; change them only with a new version number.

export const RECORD_COLUMNS = [
  "seq",
  "log_id",
  "prev_log_id",
  "patient_index",
  "actor_index",
  "action_index",
  "table_index",
  "patient_id_enc",
  "actor_id_enc",
  "actor_name_enc",
  "action_enc",
  "table_affected_enc",
  "notes_enc",
  "occurred_at",
  "recorded_at",
  "source_id",
  "key_id",
  "signature",
  "extra_enc",
  "purpose_index",
  "purpose_enc",
] as const;

/** A stored record as raw column values, in RECORD_COLUMNS order. */
export type RawRecord = [
  seq: number,
  logId: string,
  prevLogId: string | null,
  patientIndex: Buffer,
  actorIndex: Buffer,
  actionIndex: Buffer,
  tableIndex: Buffer,
  patientIdEnc: Buffer,
  actorIdEnc: Buffer,
  actorNameEnc: Buffer,
  actionEnc: Buffer,
  tableAffectedEnc: Buffer,
  notesEnc: Buffer,
  occurredAt: number,
  recordedAt: number,
  sourceId: string,
  keyId: string,
  signature: Buffer,
  /** What the source sent beyond the columns (a FHIR resource), sealed; null before version 2. */
  extraEnc: Buffer | null,
  /** The purpose of use's blind index and ciphertext; null before version 3. */
  purposeIndex: Buffer | null,
  purposeEnc: Buffer | null,
];

/** Where each column is in a RawRecord: `row[COL.signature]`, never `row[COL.signature]`. */
export const COL = {
  seq: 0,
  logId: 1,
  prevLogId: 2,
  patientIndex: 3,
  actorIndex: 4,
  actionIndex: 5,
  tableIndex: 6,
  patientIdEnc: 7,
  actorIdEnc: 8,
  actorNameEnc: 9,
  actionEnc: 10,
  tableAffectedEnc: 11,
  notesEnc: 12,
  occurredAt: 13,
  recordedAt: 14,
  sourceId: 15,
  keyId: 16,
  signature: 17,
  extraEnc: 18,
  purposeIndex: 19,
  purposeEnc: 20,
} as const satisfies Record<string, number>;

/**
 * The encoding version of a record: 3 with a purpose of use (either of its columns set), else 1
 * without `extra_enc` and 2 with it. Version 2 appends `extra_enc`; version 3 appends
 * `extra_enc` (or null), `purpose_index` and `purpose_enc`. A row whose added columns are
 * removed, or an older row given them, no longer matches its signature.
 */
const hasPurpose = (row: RawRecord) =>
  row[COL.purposeIndex] !== null || row[COL.purposeEnc] !== null;
const versionOf = (row: RawRecord) => (hasPurpose(row) ? 3 : row[COL.extraEnc] === null ? 1 : 2);
function addedFields(row: RawRecord): Field[] {
  if (hasPurpose(row)) return [row[COL.extraEnc], row[COL.purposeIndex], row[COL.purposeEnc]];
  return row[COL.extraEnc] === null ? [] : [row[COL.extraEnc]];
}

/** The bytes a record's signature covers: every stored column but the signature, `seq` as given. */
export function recordSigningInput(row: RawRecord, seq: number = row[COL.seq]): Buffer {
  return encodeFields([
    "ehr-audit-record",
    versionOf(row),
    seq,
    ...row.slice(1, 17),
    ...addedFields(row),
  ]);
}

/** The bytes of a record's Merkle leaf: the signing input, then the signature. */
export function recordLeafInput(row: RawRecord): Buffer {
  return recordFields(row, 0);
}

function recordFields(row: RawRecord, prefix: number): Buffer {
  return encodeFields(
    [
      "ehr-audit-record",
      versionOf(row),
      ...row.slice(0, 17),
      ...addedFields(row),
      row[COL.signature],
    ],
    prefix,
  );
}

/** RFC 9162 leaf hash of a record: SHA-256(0x00 ‖ leaf input), encoded in place. */
export function recordLeafHash(row: RawRecord): Buffer {
  return hashPrefixed(recordFields(row, 1));
}

export type CheckpointBody = {
  origin: string;
  number: number;
  treeSize: number;
  rootHash: Buffer;
  lastLogId: string | null;
  createdAt: number;
  keyId: string;
};

/** The bytes a checkpoint's signature covers. */
export function checkpointSigningInput(c: CheckpointBody): Buffer {
  return encodeFields([
    "ehr-audit-checkpoint",
    1,
    c.origin,
    c.number,
    c.treeSize,
    c.rootHash,
    c.lastLogId,
    c.createdAt,
    c.keyId,
  ]);
}

/**
 * The rows besides records that grant a right, and the columns each one's signature covers, in
 * order (the signature and nothing else is left out). The key id is always the last column.
 */
export const SIGNED_ROW_COLUMNS = {
  users: [
    "id",
    "username_index",
    "name_enc",
    "username_enc",
    "password_enc",
    "role_enc",
    "patient_id_enc",
    "created_at",
    "updated_at",
    "key_id",
  ],
  sources: ["id", "name", "token_hash", "created_at", "revoked_at", "key_id"],
  invitations: [
    "id",
    "code_hash",
    "patient_id_enc",
    "created_at",
    "expires_at",
    "used_at",
    "used_by",
    "key_id",
  ],
  notice_settings: [
    "id",
    "patient_index",
    "email_enc",
    "pending_email_enc",
    "token_hash",
    "token_expires_at",
    "new_actors",
    "emergency",
    "trail_log_id",
    "updated_at",
    "key_id",
  ],
} as const;
export type SignedTable = keyof typeof SIGNED_ROW_COLUMNS;

const ROW_TAGS: Record<SignedTable, string> = {
  users: "ehr-audit-user",
  sources: "ehr-audit-source",
  invitations: "ehr-audit-invitation",
  notice_settings: "ehr-audit-notice-settings",
};

/** The bytes a signed row's signature covers, from its columns in SIGNED_ROW_COLUMNS order. */
export function rowSigningInput(table: SignedTable, values: readonly Field[]): Buffer {
  return encodeFields([ROW_TAGS[table], 1, ...values]);
}

const INTEGER_COLUMNS = new Set([0, 13, 14]);
const TEXT_COLUMNS = new Set([1, 2, 15, 16]);

function asText(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString("utf8") : value === null ? "" : String(value);
}

/**
 * A stored row with each column coerced to its declared type. SQLite lets an intruder store any
 * type in any column; coercion keeps the checks total, and any changed value still fails them.
 */
export function normalizeRecord(values: readonly unknown[]): RawRecord {
  return values.map((value, i) => {
    if (INTEGER_COLUMNS.has(i))
      return Number.isSafeInteger(value) && (value as number) >= 0 ? value : 0;
    if ((i === COL.prevLogId || i >= COL.extraEnc) && value === null) return null;
    if (TEXT_COLUMNS.has(i)) return asText(value);
    if (Buffer.isBuffer(value)) return value;
    return Buffer.from(asText(value), "utf8");
  }) as RawRecord;
}

// The same leaf bytes, built by SQLite in one blob per row: a full verification then reads one
// value per record instead of eighteen. Tested against recordLeafHash; any row it does not
// reproduce fails the fast pass and is examined column by column.
const sqlBytes = (tag: string, expr: string) =>
  `x'${tag}' || unhex(printf('%08X', length(CAST(${expr} AS BLOB)))) || CAST(${expr} AS BLOB)`;
const sqlText = (expr: string) => sqlBytes("73", expr);
const sqlUint = (expr: string) => `x'75' || unhex(printf('%016X', ${expr}))`;
const SQL_HAS_PURPOSE = "(purpose_index IS NOT NULL OR purpose_enc IS NOT NULL)";
/** A column added by version 3: bytes, or null in a version-3 row; absent from older rows. */
const sqlAdded = (c: string) =>
  `CASE WHEN NOT ${SQL_HAS_PURPOSE} THEN x'' WHEN ${c} IS NULL THEN x'6e' ELSE ${sqlBytes("62", c)} END`;
const SQL_ENCODERS: Partial<Record<(typeof RECORD_COLUMNS)[number], (c: string) => string>> = {
  seq: sqlUint,
  log_id: sqlText,
  prev_log_id: (c) => `CASE WHEN ${c} IS NULL THEN x'6e' ELSE ${sqlText(c)} END`,
  occurred_at: sqlUint,
  recorded_at: sqlUint,
  source_id: sqlText,
  key_id: sqlText,
  extra_enc: (c) =>
    `CASE WHEN ${c} IS NOT NULL THEN ${sqlBytes("62", c)} WHEN ${SQL_HAS_PURPOSE} THEN x'6e' ELSE x'' END`,
  purpose_index: sqlAdded,
  purpose_enc: sqlAdded,
};

const LEAF_ORDER = [
  ...RECORD_COLUMNS.slice(0, 17),
  "extra_enc",
  "purpose_index",
  "purpose_enc",
  "signature",
] as const;
const SQL_VERSION = `CASE WHEN ${SQL_HAS_PURPOSE} THEN 3 WHEN extra_enc IS NULL THEN 1 ELSE 2 END`;

/** SQL for 0x00 ‖ leaf input of a record, as one blob (see recordLeafHash). */
export const SQL_LEAF_WITH_PREFIX = `CAST(x'00' || ${sqlText("'ehr-audit-record'")} || ${sqlUint(SQL_VERSION)} || ${LEAF_ORDER.map(
  (c) => (SQL_ENCODERS[c] ?? ((e: string) => sqlBytes("62", e)))(c),
).join(" || ")} AS BLOB)`;

// The type each column must be stored as. SQLite stores any type in any column, and the SQL leaf
// casts to bytes, so a value re-typed in place (a blind index stored as text, which hides the
// record from its patient's look-up) would otherwise reproduce the same leaf.
const STORED_TYPES: Record<(typeof RECORD_COLUMNS)[number], string[]> = {
  seq: ["integer"],
  log_id: ["text"],
  prev_log_id: ["text", "null"],
  patient_index: ["blob"],
  actor_index: ["blob"],
  action_index: ["blob"],
  table_index: ["blob"],
  patient_id_enc: ["blob"],
  actor_id_enc: ["blob"],
  actor_name_enc: ["blob"],
  action_enc: ["blob"],
  table_affected_enc: ["blob"],
  notes_enc: ["blob"],
  occurred_at: ["integer"],
  recorded_at: ["integer"],
  source_id: ["text"],
  key_id: ["text"],
  signature: ["blob"],
  extra_enc: ["blob", "null"],
  purpose_index: ["blob", "null"],
  purpose_enc: ["blob", "null"],
};

/** SQL that is 1 when every column of a record is stored as its declared type, else 0. */
export const SQL_TYPES_OK = `(${RECORD_COLUMNS.map(
  (c) => `typeof(${c}) IN (${STORED_TYPES[c].map((t) => `'${t}'`).join(", ")})`,
).join(" AND ")})`;
