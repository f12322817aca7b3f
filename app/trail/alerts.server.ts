import fs from "node:fs";
import path from "node:path";
import nodemailer from "nodemailer";
import type { AppContext } from "../context.server";
import { keyedDigest } from "../crypto/hashing.server";
import { FINDING_KINDS, FINDING_LABELS, type Finding } from "./verify.server";

export const ALERT_SUBJECT = "Data integrity compromised";

/** A keyed fingerprint of the findings: the same incident is mailed once, and nobody can pre-empt it. */
export function fingerprintFindings(ctx: AppContext, findings: readonly Finding[]): Buffer {
  const lines = findings
    .map((f) => [f.kind, f.target, f.seq ?? "", f.logId ?? "", f.ref ?? ""].join("|"))
    .sort();
  return keyedDigest(ctx.keys.blindIndexKey, ["ehr-audit-incident", ...lines]);
}

/** Findings grouped by kind, one line each: positions, ids and what was wrong. */
export function formatFindings(findings: readonly Finding[]): string[] {
  const lines: string[] = [];
  for (const kind of FINDING_KINDS) {
    const group = findings.filter((f) => f.kind === kind);
    if (group.length === 0) continue;
    lines.push(`${FINDING_LABELS[kind]} (${group.length}):`);
    for (const f of group) {
      const where = [
        f.seq !== undefined ? `seq ${f.seq}` : null,
        f.logId ? `log id ${f.logId}` : null,
        f.target === "checkpoint" && f.ref ? `checkpoint #${f.ref}` : null,
        f.target !== "checkpoint" && f.ref ? `${f.target} ${f.ref}` : null,
      ]
        .filter(Boolean)
        .join(", ");
      lines.push(`  - ${where || f.target}: ${f.detail}`);
    }
  }
  return lines;
}

/** The alert's text: which checks failed and which records, by id and position only. */
export function alertText(
  findings: readonly Finding[],
  detectedAt: Date,
  triggeredBy: string | null,
): string {
  return [
    "The EHR audit trail failed verification. Views withhold all records until this is resolved.",
    "",
    `Detected at: ${detectedAt.toISOString()}`,
    `Triggered by (user id or source): ${triggeredBy ?? "none, the start-up check"}`,
    `Checks failed: ${FINDING_KINDS.filter((k) => findings.some((f) => f.kind === k))
      .map((k) => FINDING_LABELS[k])
      .join(", ")}`,
    "",
    ...formatFindings(findings),
    "",
    "Run `npm run cli -- verify` on a copy of the database for the full report.",
  ].join("\n");
}

export type Delivery = { via: "smtp"; messageId: string } | { via: "outbox"; file: string };

type AdminMail = {
  /** What the message is, for the log line ("Integrity alert"). */
  label: string;
  subject: string;
  text: string;
  at: Date;
  tag: string;
  headers?: Record<string, string>;
};

/** Mails the admins over SMTP_URL, or writes the message as an .eml file to OUTBOX_DIR. */
export function mailAdmins(ctx: AppContext, mail: AdminMail): Promise<Delivery> {
  const { ADMIN_EMAILS } = ctx.config;
  const to = ADMIN_EMAILS.length > 0 ? ADMIN_EMAILS.join(", ") : "admins@localhost";
  return sendMail(ctx, to, ADMIN_EMAILS.length > 0, mail);
}

/** Mails one person (a patient's notice) the same way as the admins' alerts. */
export function mailTo(ctx: AppContext, to: string, mail: AdminMail): Promise<Delivery> {
  return sendMail(ctx, to, true, mail);
}

async function sendMail(
  ctx: AppContext,
  to: string,
  deliverable: boolean,
  mail: AdminMail,
): Promise<Delivery> {
  const { SMTP_URL, ALERT_FROM, OUTBOX_DIR } = ctx.config;
  const message = {
    from: ALERT_FROM,
    to,
    subject: mail.subject,
    text: mail.text,
    headers: mail.headers ?? {},
  };
  if (SMTP_URL && deliverable) {
    const info = await nodemailer.createTransport(SMTP_URL).sendMail(message);
    return { via: "smtp", messageId: info.messageId };
  }
  const info = await nodemailer
    .createTransport({ streamTransport: true, buffer: true, newline: "unix" })
    .sendMail(message);
  fs.mkdirSync(OUTBOX_DIR, { recursive: true });
  const stamp = mail.at.toISOString().replace(/[:.]/g, "-");
  const file = path.join(OUTBOX_DIR, `${stamp}-${mail.tag}.eml`);
  fs.writeFileSync(file, info.message as Buffer);
  console.warn(`${mail.label} written to ${file}`);
  return { via: "outbox", file };
}

/** Sends the integrity alert to the admins. */
export function sendAlert(
  ctx: AppContext,
  findings: readonly Finding[],
  detectedAt: Date,
  triggeredBy: string | null,
  fingerprint: Buffer,
): Promise<Delivery> {
  return mailAdmins(ctx, {
    label: "Integrity alert",
    subject: `${ALERT_SUBJECT}: ${findings.length} finding(s) in the EHR audit trail`,
    text: alertText(findings, detectedAt, triggeredBy),
    at: detectedAt,
    tag: fingerprint.toString("hex").slice(0, 12),
    headers: { "X-Incident-Fingerprint": fingerprint.toString("hex").slice(0, 32) },
  });
}
