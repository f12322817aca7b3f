import type { AppContext } from "../context.server";
import { findRecord, scopeOf, type AuditRecordView } from "../models/record.server";
import { findOwnRecords } from "../models/own-records.server";
import type { User } from "../models/user.server";
import { appendRecords } from "../trail/append.server";
import { TrailCompromisedError } from "../trail/guard.server";
import { TrailBusyError } from "../trail/lease.server";
import type { CheckpointInfo } from "../trail/verify.server";
import {
  ANSWER_MAX,
  ANSWER_PREFIX,
  parseCaseText,
  QUESTION_MAX,
  QUESTION_PREFIX,
  stripLabel,
} from "./case-text";
import { openRecords } from "./open-records.server";
import { CASE_ACTION, isBookkeepingAction } from "./own-actions";
import { admitPerAccount } from "./throttle.server";
import { SELF_SOURCE } from "../trail/self-source";
import { auditView } from "./trail-view.server";
import { readVerified } from "./verified-read.server";

// "Ask why" (docs/decisions/020): a question, its answer and so the case's state are records of
// the trail itself, signed and sealed like every access. A case is derived from them through a
// verified read each time it is shown; nothing else stores it.

export type CaseEntry = { logId: string; seq: number; text: string; at: string; byName: string };

export type CaseView = {
  /** The question's log id. */
  id: string;
  /** The log id of the record asked about. */
  recordLogId: string;
  patientId: string;
  state: "open" | "answered";
  question: CaseEntry;
  answers: CaseEntry[];
};

export type CaseOutcome =
  | { ok: true; logId: string }
  | {
      ok: false;
      status: 400 | 404 | 409 | 429 | 503;
      error: string;
      retryAfterSeconds?: number;
    };

const QUEUE_SIZE = 200;

const entry = (r: AuditRecordView): CaseEntry => ({
  logId: r.logId,
  seq: r.seq,
  text: stripLabel(r.notes),
  at: r.occurredAt,
  byName: r.actorName,
});

/** Only what the trail itself wrote counts: a record is trusted as a case only from its own source. */
const isCaseRecord = (r: AuditRecordView, action: string) =>
  r.sourceId === SELF_SOURCE && r.action === action;

/** The cases of `questions`, each with its answers, read against `checkpoint`. */
function casesOf(
  ctx: AppContext,
  viewer: User,
  checkpoint: CheckpointInfo | null,
  questionRows: ReturnType<typeof findOwnRecords>,
): CaseView[] {
  const scope = scopeOf(viewer);
  const questions = openRecords(ctx, questionRows, checkpoint, scope).filter((q) =>
    isCaseRecord(q, CASE_ACTION.ask),
  );
  const answerRows = findOwnRecords(ctx, SELF_SOURCE, {
    actions: [CASE_ACTION.answer],
    about: questions.map((q) => q.logId),
    patientId: scope ?? undefined,
    sealedUpTo: checkpoint?.treeSize ?? 0,
  });
  const answers = openRecords(ctx, answerRows, checkpoint, scope).filter((a) =>
    isCaseRecord(a, CASE_ACTION.answer),
  );
  return questions.map((q) => {
    // An answer counts only for a question about the same patient.
    const mine = answers.filter((a) => a.tableAffected === q.logId && a.patientId === q.patientId);
    return {
      id: q.logId,
      recordLogId: q.tableAffected,
      patientId: q.patientId,
      state: mine.length > 0 ? "answered" : "open",
      question: entry(q),
      answers: mine.map(entry),
    };
  });
}

/** The cases about one record, oldest first; null when the trail is compromised. */
export async function casesAboutRecord(
  ctx: AppContext,
  viewer: User,
  recordLogId: string,
): Promise<CaseView[] | null> {
  const read = await readVerified(ctx, viewer.id, (checkpoint) => {
    const rows = findOwnRecords(ctx, SELF_SOURCE, {
      actions: [CASE_ACTION.ask],
      about: [recordLogId],
      patientId: scopeOf(viewer) ?? undefined,
      sealedUpTo: checkpoint?.treeSize ?? 0,
    });
    return casesOf(ctx, viewer, checkpoint, rows);
  });
  return read.ok ? read.value : null;
}

async function appendCaseRecord(
  ctx: AppContext,
  input: Parameters<typeof appendRecords>[1][number],
): Promise<CaseOutcome> {
  try {
    const result = await appendRecords(ctx, [input], { triggeredBy: input.actorId });
    return { ok: true, logId: result.records[0]!.logId };
  } catch (error) {
    if (error instanceof TrailBusyError) {
      const retryAfterSeconds = error.retryAfterSeconds;
      return { ok: false, status: 503, error: "The trail is busy. Try again.", retryAfterSeconds };
    }
    if (error instanceof TrailCompromisedError) {
      return { ok: false, status: 503, error: "Data integrity compromised" };
    }
    throw error;
  }
}

const COMPROMISED: CaseOutcome = { ok: false, status: 503, error: "Data integrity compromised" };
const NO_RECORD: CaseOutcome = { ok: false, status: 404, error: "No such record." };

/**
 * A patient asks why about a record about them: appended as a record of the trail, about the
 * same patient, so only they and the auditors read it. One open question per record; throttled
 * per account.
 */
export async function askWhy(
  ctx: AppContext,
  patient: User,
  recordLogId: string,
  rawText: unknown,
): Promise<CaseOutcome> {
  if (patient.role !== "patient") return NO_RECORD;
  const text = parseCaseText(rawText, QUESTION_MAX);
  if (!text.ok) return { ok: false, status: 400, error: text.error };
  const read = await readVerified(ctx, patient.id, (checkpoint) => {
    const row = findRecord(ctx, patient, recordLogId);
    if (!row || row[0] > (checkpoint?.treeSize ?? 0)) return null;
    const record = openRecords(ctx, [row], checkpoint, scopeOf(patient))[0]!;
    const rows = findOwnRecords(ctx, SELF_SOURCE, {
      actions: [CASE_ACTION.ask],
      about: [recordLogId],
      patientId: patient.patientId!,
      sealedUpTo: checkpoint?.treeSize ?? 0,
    });
    return { record, cases: casesOf(ctx, patient, checkpoint, rows) };
  });
  if (!read.ok) return COMPROMISED;
  if (!read.value) return NO_RECORD;
  const { record, cases } = read.value;
  if (isBookkeepingAction(record.action) && record.sourceId === SELF_SOURCE) {
    return { ok: false, status: 400, error: "Questions can be asked about accesses only." };
  }
  if (cases.some((c) => c.state === "open")) {
    return {
      ok: false,
      status: 409,
      error: "You have already asked about this access. An auditor will answer.",
    };
  }
  const admitted = await admitPerAccount(ctx, "question", patient.id);
  if (!admitted.allowed) {
    return {
      ok: false,
      status: 429,
      error: "You have asked many questions today. Try again later.",
      retryAfterSeconds: admitted.retryAfterSeconds,
    };
  }
  return appendCaseRecord(ctx, {
    patientId: record.patientId,
    actorId: patient.id,
    actorName: patient.name,
    action: CASE_ACTION.ask,
    tableAffected: record.logId,
    occurredAt: ctx.now(),
    notes: `${QUESTION_PREFIX}${text.text}`,
    sourceId: SELF_SOURCE,
  });
}

/** An auditor answers an open case; the answer is a record about the case's patient. */
export async function answerCase(
  ctx: AppContext,
  auditor: User,
  caseId: string,
  rawText: unknown,
): Promise<CaseOutcome> {
  if (auditor.role !== "auditor") return { ok: false, status: 404, error: "No such case." };
  const text = parseCaseText(rawText, ANSWER_MAX);
  if (!text.ok) return { ok: false, status: 400, error: text.error };
  const read = await readVerified(ctx, auditor.id, (checkpoint) => {
    const row = findRecord(ctx, auditor, caseId);
    if (!row || row[0] > (checkpoint?.treeSize ?? 0)) return null;
    return casesOf(ctx, auditor, checkpoint, [row])[0] ?? null;
  });
  if (!read.ok) return COMPROMISED;
  const found = read.value;
  if (!found) return { ok: false, status: 404, error: "No such case." };
  if (found.state === "answered") {
    return { ok: false, status: 409, error: "This case has already been answered." };
  }
  return appendCaseRecord(ctx, {
    patientId: found.patientId,
    actorId: auditor.id,
    actorName: auditor.name,
    action: CASE_ACTION.answer,
    tableAffected: found.id,
    occurredAt: ctx.now(),
    notes: `${ANSWER_PREFIX}${text.text}`,
    sourceId: SELF_SOURCE,
  });
}

export type QueueItem = CaseView & { record: AuditRecordView | null };

/**
 * The auditors' queue: the newest questions, open and answered, each with the record asked
 * about. Null when the trail is compromised.
 */
export async function caseQueue(
  ctx: AppContext,
  auditor: User,
): Promise<{ open: QueueItem[]; answered: QueueItem[] } | null> {
  if (auditor.role !== "auditor") return null;
  const read = await readVerified(ctx, auditor.id, (checkpoint) => {
    const rows = findOwnRecords(ctx, SELF_SOURCE, {
      actions: [CASE_ACTION.ask],
      sealedUpTo: checkpoint?.treeSize ?? 0,
      limit: QUEUE_SIZE,
    });
    return casesOf(ctx, auditor, checkpoint, rows).map((c): QueueItem => {
      const row = findRecord(ctx, auditor, c.recordLogId);
      const record = row ? openRecords(ctx, [row], checkpoint, c.patientId)[0]! : null;
      return { ...c, record };
    });
  });
  if (!read.ok) return null;
  const patients = [...new Set(read.value.map((c) => c.patientId))];
  await auditView(ctx, auditor, patients, "viewed the questions in the case queue");
  return {
    open: read.value.filter((c) => c.state === "open").reverse(),
    answered: read.value.filter((c) => c.state === "answered"),
  };
}
