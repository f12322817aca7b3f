import { z } from "zod";
import type { RecordInput } from "../trail/append.server";
import {
  ACTIONS,
  BEFORE_EPOCH_ERROR,
  FUTURE_ERROR,
  isBeforeEpoch,
  isInFuture,
} from "../trail/ingest.server";
import { canonicalResource } from "./canonical.server";
import { ACTION_SYSTEM, CODE, SYSTEM, hasCode } from "./codes.server";
import { fhirPath, type Issue } from "./outcome.server";
import { isPurposeCode, PURPOSE_SYSTEM, UNKNOWN_PURPOSE_ERROR } from "./purpose-of-use";

// A received R4 AuditEvent as trail records: one per patient it names, as BALP records one
// event per patient. What the columns do not hold is kept whole in `extra`.
// docs/decisions/013-fhir-balp-mapping.md.

type Action = (typeof ACTIONS)[number];

const coding = z
  .object({ system: z.string().optional(), code: z.string().optional() })
  .passthrough();
const reference = z
  .object({
    reference: z.string().optional(),
    type: z.string().optional(),
    display: z.string().optional(),
    identifier: z.object({ value: z.string().optional() }).passthrough().optional(),
  })
  .passthrough();
const concepts = z.array(z.object({ coding: z.array(coding).optional() }).passthrough()).optional();
const detail = z.object({ type: z.string(), valueString: z.string().optional() }).passthrough();

const auditEventSchema = z
  .object({
    resourceType: z.literal("AuditEvent", { error: 'resourceType must be "AuditEvent"' }),
    type: coding.optional(),
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
            type: z
              .object({ coding: z.array(coding).optional() })
              .passthrough()
              .optional(),
            who: reference.optional(),
            name: z.string().optional(),
            requestor: z.boolean().optional(),
            purposeOfUse: concepts,
          })
          .passthrough(),
      )
      .default([]),
    purposeOfEvent: concepts,
    entity: z
      .array(
        z
          .object({
            what: reference.optional(),
            type: coding.optional(),
            role: coding.optional(),
            detail: z.array(detail).optional(),
          })
          .passthrough(),
      )
      .default([]),
  })
  .passthrough();

type Event = z.output<typeof auditEventSchema>;
type Agent = Event["agent"][number];
type Entity = Event["entity"][number];

/** Patients one event may name: each becomes a record of its own, as BALP does. */
export const MAX_PATIENTS = 100;
/** What one event may make the trail store, the resource being kept with every record. */
export const MAX_STORED_BYTES = 8 * 1024 * 1024;

export type MappedEvent =
  { ok: true; inputs: Omit<RecordInput, "sourceId">[] } | { ok: false; issues: Issue[] };

const FHIR_ID = "[A-Za-z0-9\\-.]{1,64}";
/** Patient/<id>, also versioned (…/_history/<v>) or absolute (https://…/Patient/<id>). */
const PATIENT_REFERENCE = new RegExp(
  `^(?:https?://[^\\s]+/)?Patient/(${FHIR_ID})(?:/_history/${FHIR_ID})?$`,
);
const RESOURCE_REFERENCE = new RegExp(
  `^(?:https?://[^\\s]+/)?([A-Z][A-Za-z]{0,63})/${FHIR_ID}(?:/_history/${FHIR_ID})?$`,
);
const TABLE = /^[a-z][a-z0-9_]{0,63}$/;
const HUMAN_REFERENCE = /(^|\/)(Practitioner|PractitionerRole|Patient|RelatedPerson)\//;

const FROM_RESTFUL: Record<string, Action> = {
  read: "read",
  vread: "read",
  "history-instance": "read",
  search: "query",
  "search-type": "query",
  "search-system": "query",
  create: "create",
  update: "update",
  patch: "update",
  delete: "delete",
};
const FROM_FHIR_ACTION: Record<string, Action> = {
  C: "create",
  R: "read",
  U: "update",
  D: "delete",
  E: "execute",
};

const isPatientRole = (e: Entity) => hasCode(e.role, CODE.patientRole);

/** The patient an entity names: by a Patient reference, or an identifier with role Patient. */
function patientOf(e: Entity): string | null {
  const byReference = PATIENT_REFERENCE.exec(e.what?.reference ?? "");
  if (byReference) return byReference[1]!;
  if (!isPatientRole(e) && e.what?.type !== "Patient") return null;
  return e.what?.identifier?.value?.trim() || null;
}

const isHuman = (a: Agent) =>
  (a.type?.coding ?? []).some(
    (c) =>
      hasCode(c, { system: SYSTEM.extraRole, code: "humanuser" }) || hasCode(c, CODE.recipient),
  ) || HUMAN_REFERENCE.test(a.who?.reference ?? "");

/** The actor: the agent marked requestor (a human one first), else the only human, or only, agent. */
function actorIndex(agents: Agent[]): number {
  const requestors = agents.flatMap((a, i) => (a.requestor ? [i] : []));
  if (requestors.length) return requestors.find((i) => isHuman(agents[i]!)) ?? requestors[0]!;
  const humans = agents.flatMap((a, i) => (isHuman(a) ? [i] : []));
  if (humans.length === 1) return humans[0]!;
  return agents.length === 1 && humans.length === 0 ? 0 : -1;
}

function actionOf(event: Event): Action | undefined {
  const codes = event.subtype ?? [];
  const exact = codes.find((c) => c.system === ACTION_SYSTEM)?.code;
  if ((ACTIONS as readonly string[]).includes(exact ?? "")) return exact as Action;
  const restful = codes.find((c) => c.system === SYSTEM.restful)?.code;
  if (restful && FROM_RESTFUL[restful]) return FROM_RESTFUL[restful];
  if (hasCode(event.type, CODE.export)) return "export";
  if (hasCode(event.type, { system: SYSTEM.dcm, code: "110112" })) return "query";
  return event.action ? FROM_FHIR_ACTION[event.action] : undefined;
}

/**
 * Why: the HL7 PurposeOfUse code of `purposeOfEvent`, else of the actor's `purposeOfUse`. Codings
 * of other systems are kept in `extra` only; an unknown v3-ActReason code, or two different
 * ones, stop the event.
 */
function purposeOf(event: Event, actor: number): { code: string | null; issues: Issue[] } {
  const [element, concepts] = event.purposeOfEvent?.length
    ? [["purposeOfEvent"], event.purposeOfEvent]
    : [["agent", actor, "purposeOfUse"], event.agent[actor]?.purposeOfUse ?? []];
  const issues: Issue[] = [];
  const codes = new Set<string>();
  concepts.forEach((concept, i) =>
    (concept.coding ?? []).forEach((c, j) => {
      if (c.system !== PURPOSE_SYSTEM) return;
      if (isPurposeCode(c.code ?? "")) codes.add(c.code!);
      else
        issues.push({
          path: fhirPath([...element, i, "coding", j, "code"]),
          message: UNKNOWN_PURPOSE_ERROR,
        });
    }),
  );
  if (codes.size > 1)
    issues.push({
      path: fhirPath(element),
      message: `names more than one purpose of use (${[...codes].join(", ")}): send one`,
    });
  return { code: issues.length ? null : ([...codes][0] ?? null), issues };
}

const snakeCase = (name: string) => name.replace(/(?<!^)([A-Z])/g, "_$1").toLowerCase();

/** The part of the record: a table_affected detail, else the type of the resource touched. */
function tableOf(event: Event): string {
  const given = event.entity
    .flatMap((e) => e.detail ?? [])
    .find((d) => d.type === "table_affected")?.valueString;
  if (given !== undefined) return given;
  // A bare Patient reference names whom the event is about; typed System Object, what was touched.
  const touched = event.entity
    .filter((e) => (patientOf(e) === null ? !isPatientRole(e) : hasCode(e.type, CODE.systemObject)))
    .map((e) => RESOURCE_REFERENCE.exec(e.what?.reference ?? "")?.[1])
    .find((type) => type !== undefined);
  return touched ? snakeCase(touched) : "record";
}

/** An R4 AuditEvent as the records to append, one per patient, or the issues that stop it. */
export function fromAuditEvent(body: unknown): MappedEvent {
  const parsed = auditEventSchema.safeParse(body);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((i) => ({ path: fhirPath(i.path), message: i.message })),
    };
  }
  const event = parsed.data;
  const issues: Issue[] = [];

  const patients = new Set<string>();
  event.entity.forEach((e, i) => {
    const id = patientOf(e);
    if (id && id.length > 64)
      issues.push({
        path: fhirPath(["entity", i, "what", "identifier", "value"]),
        message: "a patient identifier must be at most 64 characters",
      });
    else if (id) patients.add(id);
  });
  if (patients.size > MAX_PATIENTS)
    issues.push({
      path: "AuditEvent.entity",
      message: `names ${patients.size} patients; at most ${MAX_PATIENTS} per event (send one event per group)`,
    });
  if (patients.size === 0 && issues.length === 0)
    issues.push({
      path: "AuditEvent.entity",
      message:
        "names no patient: no entity is a Patient reference or has role 1 (Patient) with an identifier",
    });

  const actor = actorIndex(event.agent);
  const who = event.agent[actor]?.who;
  const actorId = (who?.identifier?.value || who?.reference || who?.display || "").trim();
  if (actor < 0)
    issues.push({
      path: "AuditEvent.agent",
      message: "no human requestor: mark the agent who acted with requestor: true",
    });
  else if (!actorId || actorId.length > 128)
    issues.push({
      path: fhirPath(["agent", actor, "who"]),
      message: "the requestor needs who.identifier.value (at most 128 characters)",
    });

  const action = actionOf(event);
  if (!action)
    issues.push({ path: "AuditEvent.action", message: "needs an action (C, R, U, D or E)" });
  const table = tableOf(event);
  if (!TABLE.test(table))
    issues.push({
      path: "AuditEvent.entity.detail",
      message: "table_affected must be lower-case letters, digits and underscores",
    });
  const occurred = event.period?.start ?? event.recorded;
  if (isInFuture(Date.parse(occurred)))
    issues.push({ path: "AuditEvent.period.start", message: FUTURE_ERROR });
  if (isBeforeEpoch(Date.parse(occurred)))
    issues.push({ path: "AuditEvent.period.start", message: BEFORE_EPOCH_ERROR });
  const purpose = purposeOf(event, actor);
  issues.push(...purpose.issues);
  if (issues.length || !action) return { ok: false, issues };

  const agent = event.agent[actor]!;
  const notes = event.entity.flatMap((e) => e.detail ?? []).find((d) => d.type === "notes");
  const extra = canonicalResource(body as Record<string, unknown>);
  // Each record keeps the whole resource: bound what one request can make the trail store.
  if (Buffer.byteLength(extra) * patients.size > MAX_STORED_BYTES) {
    return {
      ok: false,
      issues: [
        {
          path: "AuditEvent",
          message: `kept once per patient, this event would take more than ${MAX_STORED_BYTES / 1024 / 1024} MiB: send fewer patients or less detail per event`,
        },
      ],
    };
  }
  return {
    ok: true,
    inputs: [...patients].map((patientId) => ({
      patientId,
      actorId,
      actorName: (who?.display || agent.name || actorId).trim().slice(0, 200),
      action,
      tableAffected: table,
      occurredAt: Date.parse(occurred),
      notes: (notes?.valueString ?? "").slice(0, 4000),
      extra,
      ...(purpose.code ? { purpose: purpose.code } : {}),
    })),
  };
}
