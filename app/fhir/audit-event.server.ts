import { z } from "zod";
import type { AuditRecordView } from "../models/record.server";
import type { RecordInput } from "../trail/append.server";
import { ACTIONS, FUTURE_ERROR, isInFuture } from "../trail/ingest.server";

// FHIR R4 AuditEvent <-> an audit record (design.md): action C/R/U/D/E, recorded, period,
// agent.who, entity.what = Patient/<id>, source.observer. The exact action, the part of the
// record and the notes ride in subtype and entity.detail, so a round trip loses nothing.

export const ACTION_SYSTEM = "urn:ehr-audit-trail:action";
export const EXTENSION = {
  seq: "urn:ehr-audit-trail:seq",
  signature: "urn:ehr-audit-trail:signature",
  keyId: "urn:ehr-audit-trail:key-id",
} as const;

type Action = (typeof ACTIONS)[number];
const FHIR_ACTION: Record<Action, "C" | "R" | "U" | "D" | "E"> = {
  create: "C",
  read: "R",
  print: "R",
  copy: "R",
  update: "U",
  delete: "D",
  execute: "E",
  query: "E",
  export: "E",
  login: "E",
  logout: "E",
};
const FROM_FHIR_ACTION: Record<string, Action> = {
  C: "create",
  R: "read",
  U: "update",
  D: "delete",
  E: "execute",
};

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** Patient/<id> when the patient ID is a valid FHIR id; otherwise the ID as an identifier. */
function patientWhat(patientId: string) {
  if (FHIR_ID.test(patientId)) return { reference: `Patient/${patientId}` };
  return { type: "Patient", identifier: { value: patientId } };
}

export type FhirAuditEvent = Record<string, unknown> & { resourceType: "AuditEvent" };

/** A stored record as an R4 AuditEvent, with its seq, signature and key id as extensions. */
export function toAuditEvent(
  record: AuditRecordView,
  seal?: { signature: string },
): FhirAuditEvent {
  return {
    resourceType: "AuditEvent",
    id: record.logId,
    extension: [
      { url: EXTENSION.seq, valueInteger: record.seq },
      { url: EXTENSION.keyId, valueString: record.keyId },
      ...(seal ? [{ url: EXTENSION.signature, valueBase64Binary: seal.signature }] : []),
    ],
    type: {
      system: "http://terminology.hl7.org/CodeSystem/audit-event-type",
      code: "rest",
      display: "RESTful Operation",
    },
    subtype: [{ system: ACTION_SYSTEM, code: record.action }],
    action: FHIR_ACTION[record.action as Action] ?? "E",
    period: { start: record.occurredAt, end: record.occurredAt },
    recorded: record.recordedAt,
    outcome: "0",
    agent: [
      {
        who: { identifier: { value: record.actorId }, display: record.actorName },
        requestor: true,
      },
    ],
    source: { observer: { display: record.sourceId } },
    entity: [
      {
        what: patientWhat(record.patientId),
        detail: [
          { type: "table_affected", valueString: record.tableAffected },
          { type: "notes", valueString: record.notes },
        ],
      },
    ],
  };
}

const coding = z
  .object({ system: z.string().optional(), code: z.string().optional() })
  .passthrough();
const detail = z.object({ type: z.string(), valueString: z.string().optional() }).passthrough();

const auditEventSchema = z
  .object({
    resourceType: z.literal("AuditEvent", { error: 'resourceType must be "AuditEvent"' }),
    action: z.enum(["C", "R", "U", "D", "E"], { error: "must be one of C, R, U, D, E" }).optional(),
    subtype: z.array(coding).optional(),
    period: z
      .object({ start: z.iso.datetime({ offset: true }).optional() })
      .passthrough()
      .optional(),
    recorded: z.iso.datetime({
      offset: true,
      error: "must be an ISO 8601 date-time with a time zone",
    }),
    agent: z
      .array(
        z
          .object({
            who: z
              .object({
                identifier: z.object({ value: z.string().trim().min(1).max(128) }).passthrough(),
                display: z.string().trim().max(200).optional(),
              })
              .passthrough(),
          })
          .passthrough(),
      )
      .min(1, { error: "needs an agent with who.identifier.value" }),
    entity: z
      .array(
        z
          .object({
            what: z
              .object({
                reference: z.string().optional(),
                type: z.string().optional(),
                identifier: z.object({ value: z.string().optional() }).passthrough().optional(),
              })
              .passthrough()
              .optional(),
            detail: z.array(detail).optional(),
          })
          .passthrough(),
      )
      .min(1, { error: "needs an entity whose what is Patient/<id>" }),
  })
  .passthrough();

export type MappedEvent =
  | { ok: true; input: Omit<RecordInput, "sourceId"> }
  | { ok: false; issues: { path: string; message: string }[] };

const PATIENT_REFERENCE = /^Patient\/([A-Za-z0-9\-.]{1,64})$/;

/** An R4 AuditEvent as a record to append, or the issues that stop it. */
export function fromAuditEvent(body: unknown): MappedEvent {
  const parsed = auditEventSchema.safeParse(body);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((i) => ({
        path: ["AuditEvent", ...i.path].join("."),
        message: i.message,
      })),
    };
  }
  const event = parsed.data;
  const issues: { path: string; message: string }[] = [];
  const patientOf = (what: (typeof event.entity)[number]["what"]): string | null => {
    const reference = PATIENT_REFERENCE.exec(what?.reference ?? "");
    if (reference) return reference[1]!;
    const id = what?.type === "Patient" ? what.identifier?.value?.trim() : undefined;
    return id && id.length <= 64 ? id : null;
  };
  const patientEntity = event.entity.findIndex((e) => patientOf(e.what) !== null);
  if (patientEntity < 0)
    issues.push({
      path: "AuditEvent.entity",
      message: "needs an entity whose what is Patient/<id>",
    });
  const subtype = event.subtype?.find((c) => c.system === ACTION_SYSTEM)?.code;
  const action = (ACTIONS as readonly string[]).includes(subtype ?? "")
    ? (subtype as Action)
    : event.action
      ? FROM_FHIR_ACTION[event.action]
      : undefined;
  if (!action)
    issues.push({ path: "AuditEvent.action", message: "needs an action (C, R, U, D or E)" });
  const details = event.entity[Math.max(patientEntity, 0)]?.detail ?? [];
  const table = details.find((d) => d.type === "table_affected")?.valueString ?? "record";
  if (!/^[a-z][a-z0-9_]{0,63}$/.test(table)) {
    issues.push({
      path: "AuditEvent.entity.detail",
      message: "table_affected must be lower-case letters, digits and underscores",
    });
  }
  const occurred = event.period?.start ?? event.recorded;
  if (isInFuture(Date.parse(occurred))) {
    issues.push({ path: "AuditEvent.period.start", message: FUTURE_ERROR });
  }
  if (issues.length || !action || patientEntity < 0) return { ok: false, issues };
  const who = event.agent[0]!.who;
  return {
    ok: true,
    input: {
      patientId: patientOf(event.entity[patientEntity]!.what)!,
      actorId: who.identifier.value,
      actorName: who.display || who.identifier.value,
      action,
      tableAffected: table,
      occurredAt: Date.parse(occurred),
      notes: (details.find((d) => d.type === "notes")?.valueString ?? "").slice(0, 4000),
    },
  };
}

/** An OperationOutcome for errors, as FHIR servers answer. */
export function operationOutcome(code: string, issues: { path?: string; message: string }[]) {
  return {
    resourceType: "OperationOutcome",
    issue: issues.map((i) => ({
      severity: "error",
      code,
      diagnostics: i.message,
      ...(i.path ? { expression: [i.path] } : {}),
    })),
  };
}
