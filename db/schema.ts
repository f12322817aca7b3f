import { sql } from "drizzle-orm";
import { blob, index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

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
  },
  (t) => [index("sessions_expires_at").on(t.expiresAt)],
);

export const loginFailures = sqliteTable(
  "login_failures",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** Blind index of the username tried, or of the client address. */
    subjectIndex: blob("subject_index", { mode: "buffer" }).notNull(),
    kind: text("kind", { enum: ["username", "address"] }).notNull(),
    at: integer("at").notNull(),
  },
  (t) => [index("login_failures_subject_at").on(t.subjectIndex, t.at)],
);
