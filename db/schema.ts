import { sql } from "drizzle-orm";
import {
  blob,
  index,
  integer,
  primaryKey,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

// Every *_enc column is AES-256-GCM ciphertext bound to its table, column and row id;
// every *_index column is an HMAC-SHA-256 blind index. No column holds PII in the clear.

export const users = sqliteTable("users", {
  id: text("id").primaryKey(),
  usernameIndex: blob("username_index", { mode: "buffer" }).notNull().unique(),
  nameEnc: blob("name_enc", { mode: "buffer" }).notNull(),
  usernameEnc: blob("username_enc", { mode: "buffer" }).notNull(),
  passwordEnc: blob("password_enc", { mode: "buffer" }).notNull(),
  roleEnc: blob("role_enc", { mode: "buffer" }).notNull(),
  /** Sealed for every user ("" for auditors), so its presence does not reveal the role. */
  patientIdEnc: blob("patient_id_enc", { mode: "buffer" }).notNull(),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
  /** RSA signature over the row's canonical encoding: an edited role or swapped field is caught offline. */
  keyId: text("key_id").notNull(),
  signature: blob("signature", { mode: "buffer" }).notNull(),
});

export const invitations = sqliteTable("invitations", {
  id: text("id").primaryKey(),
  /**
   * HMAC over the role and the code: a code only matches the role it was issued for. The role
   * is stored nowhere else, so the used invitation does not reveal its user's role.
   */
  codeHash: blob("code_hash", { mode: "buffer" }).notNull().unique(),
  /** Sealed for every invitation ("" for auditors). */
  patientIdEnc: blob("patient_id_enc", { mode: "buffer" }).notNull(),
  createdAt: integer("created_at").notNull(),
  expiresAt: integer("expires_at").notNull(),
  usedAt: integer("used_at"),
  usedBy: text("used_by").references(() => users.id),
  /**
   * RSA signature over every column above: the code, its role, its patient and its used state
   * are bound together, so moving any of them between rows, or un-using a row, fails the check.
   */
  keyId: text("key_id").notNull().default(""),
  signature: blob("signature", { mode: "buffer" })
    .notNull()
    .default(sql`x''`),
});

export const sessions = sqliteTable(
  "sessions",
  {
    /** SHA-256 of the session id in the cookie; a stolen database holds no live session ids. */
    idHash: blob("id_hash", { mode: "buffer" }).primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    data: text("data")
      .notNull()
      .default(sql`'{}'`),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    /** HMAC over every column above, under a key in KEYS_DIR: an edited row opens no session. */
    mac: blob("mac", { mode: "buffer" })
      .notNull()
      .default(sql`x''`),
  },
  (t) => [index("sessions_expires_at").on(t.expiresAt)],
);

/**
 * The audit trail. Each row is signed (RSA-3072, SHA-512) over its canonical encoding, and the
 * rows in seq order are the leaves of an RFC 9162 Merkle tree sealed by `checkpoints`.
 * See docs/decisions/003-canonical-record-encoding.md.
 */
export const auditRecords = sqliteTable(
  "audit_records",
  {
    seq: integer("seq").primaryKey(),
    logId: text("log_id").notNull(),
    /** The log id of the record at seq - 1: a deleted record is still named by its successor. */
    prevLogId: text("prev_log_id"),
    patientIndex: blob("patient_index", { mode: "buffer" }).notNull(),
    actorIndex: blob("actor_index", { mode: "buffer" }).notNull(),
    actionIndex: blob("action_index", { mode: "buffer" }).notNull(),
    tableIndex: blob("table_index", { mode: "buffer" }).notNull(),
    patientIdEnc: blob("patient_id_enc", { mode: "buffer" }).notNull(),
    actorIdEnc: blob("actor_id_enc", { mode: "buffer" }).notNull(),
    actorNameEnc: blob("actor_name_enc", { mode: "buffer" }).notNull(),
    actionEnc: blob("action_enc", { mode: "buffer" }).notNull(),
    tableAffectedEnc: blob("table_affected_enc", { mode: "buffer" }).notNull(),
    notesEnc: blob("notes_enc", { mode: "buffer" }).notNull(),
    occurredAt: integer("occurred_at").notNull(),
    recordedAt: integer("recorded_at").notNull(),
    sourceId: text("source_id").notNull(),
    keyId: text("key_id").notNull(),
    signature: blob("signature", { mode: "buffer" }).notNull(),
    /**
     * What the source sent beyond these columns (the received FHIR resource, canonical JSON),
     * sealed like every field and covered by the signature (encoding version 2); null otherwise.
     */
    extraEnc: blob("extra_enc", { mode: "buffer" }),
    /**
     * The reason for the access (an HL7 PurposeOfUse code): its blind index and its ciphertext,
     * both covered by the signature (encoding version 3); null when the source gave none, and on
     * records older than version 3, which read as "not given".
     */
    purposeIndex: blob("purpose_index", { mode: "buffer" }),
    purposeEnc: blob("purpose_enc", { mode: "buffer" }),
  },
  (t) => [
    uniqueIndex("audit_records_log_id").on(t.logId),
    index("audit_records_patient_seq").on(t.patientIndex, t.seq),
    index("audit_records_actor_seq").on(t.actorIndex, t.seq),
    index("audit_records_action_seq").on(t.actionIndex, t.seq),
    index("audit_records_table_seq").on(t.tableIndex, t.seq),
    index("audit_records_occurred_at").on(t.occurredAt),
  ],
);

/** Signed tree heads. Every one is kept; `frontier` lets the next append cost O(log n). */
export const checkpoints = sqliteTable("checkpoints", {
  number: integer("number").primaryKey(),
  origin: text("origin").notNull(),
  treeSize: integer("tree_size").notNull(),
  rootHash: blob("root_hash", { mode: "buffer" }).notNull(),
  lastLogId: text("last_log_id"),
  createdAt: integer("created_at").notNull(),
  keyId: text("key_id").notNull(),
  signature: blob("signature", { mode: "buffer" }).notNull(),
  frontier: blob("frontier", { mode: "buffer" }).notNull(),
});

/**
 * Complete subtrees of the Merkle tree from level 6 up (64 leaves and more), written with each
 * append, so an inclusion proof costs O(log n) lookups and at most a few hundred leaves. Not
 * trusted: every proof is checked against the signed checkpoint before it is shown.
 */
export const treeNodes = sqliteTable(
  "tree_nodes",
  {
    level: integer("level").notNull(),
    idx: integer("idx").notNull(),
    hash: blob("hash", { mode: "buffer" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.level, t.idx] })],
);

/**
 * Source systems allowed to append through the API. Only an HMAC of each token is kept (the key
 * is in KEYS_DIR), and each row is signed, so a row written by hand authenticates nothing.
 */
export const sources = sqliteTable("sources", {
  id: text("id").primaryKey(),
  name: text("name").notNull().unique(),
  tokenHash: blob("token_hash", { mode: "buffer" }).notNull().unique(),
  createdAt: integer("created_at").notNull(),
  revokedAt: integer("revoked_at"),
  keyId: text("key_id").notNull().default(""),
  signature: blob("signature", { mode: "buffer" })
    .notNull()
    .default(sql`x''`),
});

/**
 * Who may append now (one row at most): writers from every process take turns, so an append
 * waits for another process's batch instead of failing. A lease expires on its own; an edited
 * row can delay appends for one lease at most and grants nothing.
 */
export const appendLease = sqliteTable("append_lease", {
  id: integer("id").primaryKey(),
  holder: text("holder").notNull(),
  expiresAt: integer("expires_at").notNull(),
});

/** Integrity incidents, one per distinct set of findings; `fingerprint` is keyed so it cannot be pre-empted. */
export const incidents = sqliteTable("incidents", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  fingerprint: blob("fingerprint", { mode: "buffer" }).notNull().unique(),
  detectedAt: integer("detected_at").notNull(),
  triggeredBy: text("triggered_by"),
  findings: text("findings").notNull(),
  notifiedAt: integer("notified_at"),
  delivery: text("delivery"),
});

/**
 * Witnesses' cosignatures of the trail's checkpoints (c2sp.org/tlog-cosignature). A cosignature
 * is self-authenticating: it is checked against the witness key configured in WITNESSES before
 * it is stored and whenever it is read, so the row needs no MAC of its own. An edited or planted
 * row is ignored; a deleted one only makes the trail send that checkpoint again.
 */
export const witnessCosignatures = sqliteTable(
  "witness_cosignatures",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    keyName: text("key_name").notNull(),
    keyId: integer("key_id").notNull(),
    treeSize: integer("tree_size").notNull(),
    rootHash: blob("root_hash", { mode: "buffer" }).notNull(),
    /** Where to find this checkpoint in `checkpoints` (a row counts only if size and root match there). */
    checkpointNumber: integer("checkpoint_number").notNull().default(0),
    /** POSIX seconds, as the witness signed it. */
    timestamp: integer("timestamp").notNull(),
    /** The signature line, `— name base64(key id ‖ timestamp ‖ signature)`, as C2SP appends it. */
    signatureLine: text("signature_line").notNull(),
  },
  (t) => [uniqueIndex("witness_cosignatures_key_size").on(t.keyName, t.keyId, t.treeSize)],
);

/**
 * A patient's choice of e-mail notices of new accesses (docs/decisions/020). The address is
 * sealed like every PII field and used only once confirmed; the confirmation token is stored
 * only as an HMAC, and cleared when used. Each row is signed over every column, and names the
 * trail record of its last change (`trail_log_id`): the trail says what the settings must be,
 * so a row deleted, edited or put back from an older copy is caught instead of silencing notices.
 */
export const noticeSettings = sqliteTable(
  "notice_settings",
  {
    /** The patient's account id. */
    id: text("id").primaryKey(),
    patientIndex: blob("patient_index", { mode: "buffer" }).notNull(),
    /** The confirmed address, sealed; "" sealed when there is none. */
    emailEnc: blob("email_enc", { mode: "buffer" }).notNull(),
    /** An address awaiting confirmation, sealed; "" sealed when there is none. */
    pendingEmailEnc: blob("pending_email_enc", { mode: "buffer" }).notNull(),
    /** HMAC of the pending address's confirmation token; empty when there is none. */
    tokenHash: blob("token_hash", { mode: "buffer" }).notNull(),
    tokenExpiresAt: integer("token_expires_at").notNull(),
    newActors: integer("new_actors").notNull(),
    emergency: integer("emergency").notNull(),
    /** The log id of the trail record of the last change ("" before the first). */
    trailLogId: text("trail_log_id").notNull(),
    updatedAt: integer("updated_at").notNull(),
    keyId: text("key_id").notNull(),
    signature: blob("signature", { mode: "buffer" }).notNull(),
  },
  (t) => [index("notice_settings_token_hash").on(t.tokenHash)],
);
