import { eq } from "drizzle-orm";
import { noticeSettings } from "../../db/schema";
import type { AppContext } from "../context.server";
import { decryptField, encryptField } from "../crypto/fields.server";
import { blindIndex, keyedDigest } from "../crypto/hashing.server";
import { checkRow, checkSignedTable, rowFinding, signRow } from "../trail/signed-rows.server";
import type { Finding } from "../trail/verify.server";

// A patient's notice settings (docs/decisions/020). Signed over every column: a row edited in the
// file is refused where it is read and named in an alert. What a deleted or older row cannot
// show by itself, the trail does: see services/notice-settings.server.ts.

type Row = typeof noticeSettings.$inferSelect;

export type NoticeChoices = { newActors: boolean; emergency: boolean };

export type NoticeSettings = {
  userId: string;
  patientId: string;
  /** The confirmed address, or null. */
  email: string | null;
  /** The address awaiting confirmation, or null. */
  pendingEmail: string | null;
  tokenHash: Buffer;
  tokenExpiresAt: number;
  choices: NoticeChoices;
  /** The log id of the trail record of the last change, or "" before the first. */
  trailLogId: string;
  updatedAt: number;
};

/** A settings row that failed its signature or decryption: edited in the database file. */
export class NoticeRowTampered extends Error {
  constructor(public readonly finding: Finding) {
    super(`notice settings ${finding.ref} failed their integrity check`);
    this.name = "NoticeRowTampered";
  }
}

const location = (userId: string, column: string) => ({
  table: "notice_settings",
  column,
  rowId: userId,
});

const signedValues = (row: Omit<Row, "keyId" | "signature">) => [
  row.id,
  row.patientIndex,
  row.emailEnc,
  row.pendingEmailEnc,
  row.tokenHash,
  row.tokenExpiresAt,
  row.newActors,
  row.emergency,
  row.trailLogId,
  row.updatedAt,
];

/** The HMAC of a confirmation token: the token itself is never stored. */
export function confirmationTokenHash(ctx: AppContext, token: string): Buffer {
  return keyedDigest(ctx.keys.blindIndexKey, ["ehr-audit-notice-confirmation", token]);
}

function open(ctx: AppContext, row: Row, patientId: string): NoticeSettings {
  const check = checkRow(
    ctx.keys.trustedPublicKeys,
    "notice_settings",
    [...signedValues(row), row.keyId],
    row.signature,
  );
  const finding = rowFinding("notice_settings", row.id, check);
  if (finding) throw new NoticeRowTampered(finding);
  if (!row.patientIndex.equals(blindIndex(ctx.keys.blindIndexKey, "patient_id", patientId))) {
    throw new NoticeRowTampered({
      kind: "modified",
      target: "notice",
      ref: row.id,
      detail: "the notice settings row belongs to another patient",
    });
  }
  const text = (column: string, sealed: Buffer) => {
    try {
      return decryptField(ctx.keys.fieldKey, sealed, location(row.id, column)) || null;
    } catch {
      throw new NoticeRowTampered({
        kind: "modified",
        target: "notice",
        ref: row.id,
        detail: `the notice settings row's ${column} does not decrypt`,
      });
    }
  };
  return {
    userId: row.id,
    patientId,
    email: text("email", row.emailEnc),
    pendingEmail: text("pending_email", row.pendingEmailEnc),
    tokenHash: row.tokenHash,
    tokenExpiresAt: row.tokenExpiresAt,
    choices: { newActors: row.newActors === 1, emergency: row.emergency === 1 },
    trailLogId: row.trailLogId,
    updatedAt: row.updatedAt,
  };
}

/** A patient account's settings, or null when it has none; NoticeRowTampered when the row fails. */
export function getNoticeSettings(
  ctx: AppContext,
  userId: string,
  patientId: string,
): NoticeSettings | null {
  const row = ctx.conn.db.select().from(noticeSettings).where(eq(noticeSettings.id, userId)).get();
  return row ? open(ctx, row, patientId) : null;
}

/** The id of the account whose pending address awaits this token's HMAC, if any. */
export function findByTokenHash(ctx: AppContext, tokenHash: Buffer): string | null {
  const row = ctx.conn.db
    .select({ id: noticeSettings.id })
    .from(noticeSettings)
    .where(eq(noticeSettings.tokenHash, tokenHash))
    .get();
  return row?.id ?? null;
}

/** Stores a patient's settings, signed. */
export function saveNoticeSettings(ctx: AppContext, settings: NoticeSettings): void {
  const seal = (column: string, value: string | null) =>
    encryptField(ctx.keys.fieldKey, value ?? "", location(settings.userId, column));
  const values = {
    id: settings.userId,
    patientIndex: blindIndex(ctx.keys.blindIndexKey, "patient_id", settings.patientId),
    emailEnc: seal("email", settings.email),
    pendingEmailEnc: seal("pending_email", settings.pendingEmail),
    tokenHash: settings.tokenHash,
    tokenExpiresAt: settings.tokenExpiresAt,
    newActors: settings.choices.newActors ? 1 : 0,
    emergency: settings.choices.emergency ? 1 : 0,
    trailLogId: settings.trailLogId,
    updatedAt: settings.updatedAt,
  };
  const { keyId, signature } = signRow(ctx.keys, "notice_settings", signedValues(values));
  const row = { ...values, keyId, signature };
  ctx.conn.db
    .insert(noticeSettings)
    .values(row)
    .onConflictDoUpdate({ target: noticeSettings.id, set: row })
    .run();
}

/** Removes the rows that fail their signature (a trust reset); returns their ids. */
export function removeTamperedNoticeSettings(ctx: AppContext): string[] {
  const { findings } = checkSignedTable(
    ctx.conn.sqlite,
    ctx.keys.trustedPublicKeys,
    "notice_settings",
  );
  const ids = findings.map((f) => f.ref!);
  for (const id of ids) ctx.conn.db.delete(noticeSettings).where(eq(noticeSettings.id, id)).run();
  return ids;
}
