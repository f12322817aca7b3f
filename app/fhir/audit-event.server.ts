import type { AuditRecordView } from "../models/record.server";
import type { Action } from "../trail/actions";
import { SELF_SOURCE } from "../trail/self-source";
import { FAILED_LOGIN_NOTES } from "../services/trail-view.server";
import { withoutTrailExtensions } from "./canonical.server";
import {
  ACTION_SYSTEM,
  BALP_PROFILE,
  CODE,
  EXTENSION,
  SOURCE_SYSTEM,
  SYSTEM,
  TABLE_SYSTEM,
  TRAIL_SYSTEM,
  type Coding,
} from "./codes.server";
import { isPurposeCode, PURPOSES, PURPOSE_SYSTEM } from "./purpose-of-use";

// A stored record as an R4 AuditEvent (docs/decisions/013-fhir-balp-mapping.md). A record
// received as FHIR comes back as it was sent (its `extra`), plus the trail's id and seal. Any
// other record is written in IHE BALP's shapes: the user agent as requestor, the system that
// served the data, the patient entity with type/role 1, the data or query entity, and the
// exact action and part of the record, so ingesting it again gives the same record.

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
const RESTFUL: Partial<Record<Action, string>> = {
  create: "create",
  read: "read",
  print: "read",
  copy: "read",
  update: "update",
  delete: "delete",
  query: "search-type",
};
const PROFILE: Partial<Record<Action, string>> = {
  create: BALP_PROFILE.create,
  read: BALP_PROFILE.read,
  print: BALP_PROFILE.read,
  copy: BALP_PROFILE.read,
  update: BALP_PROFILE.update,
  delete: BALP_PROFILE.delete,
  query: BALP_PROFILE.query,
};

export type FhirAuditEvent = Record<string, unknown> & { resourceType: "AuditEvent" };
export type Seal = { signature?: string; origin: string };

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** Patient/<id> when the patient ID is a valid FHIR id; otherwise the ID as an identifier. */
function patientWhat(patientId: string) {
  if (FHIR_ID.test(patientId)) return { reference: `Patient/${patientId}` };
  return { type: "Patient", identifier: { value: patientId } };
}

function trailExtensions(record: AuditRecordView, seal: Seal) {
  return [
    { url: EXTENSION.seq, valueInteger: record.seq },
    { url: EXTENSION.keyId, valueString: record.keyId },
    ...(seal.signature ? [{ url: EXTENSION.signature, valueBase64Binary: seal.signature }] : []),
  ];
}

/** The event a source sent, as it sent it, with the trail's id and seal. */
function asReceived(record: AuditRecordView, extra: string, seal: Seal): FhirAuditEvent {
  const received = JSON.parse(extra) as Record<string, unknown>;
  const theirs = (withoutTrailExtensions(received.extension) ?? []) as unknown[];
  return {
    ...received,
    resourceType: "AuditEvent",
    id: record.logId,
    extension: [...theirs, ...trailExtensions(record, seal)],
  };
}

const concept = (c: Coding) => ({ coding: [c] });

function eventType(action: string): { type: Coding; subtype: Coding[] } {
  const exact = { system: ACTION_SYSTEM, code: action };
  if (action === "login" || action === "logout")
    return { type: CODE.userAuthentication, subtype: [CODE[action], exact] };
  if (action === "export") return { type: CODE.export, subtype: [exact] };
  const restful = RESTFUL[action as Action];
  const interaction = restful ? [{ system: SYSTEM.restful, code: restful, display: restful }] : [];
  return { type: CODE.rest, subtype: [...interaction, exact] };
}

/** The record's purpose of use as `purposeOfEvent`, when the source gave one. */
function purposeOfEvent(purpose: string | null) {
  if (purpose === null || !isPurposeCode(purpose)) return {};
  const display = PURPOSES[purpose].display;
  return { purposeOfEvent: [concept({ system: PURPOSE_SYSTEM, code: purpose, display })] };
}

/** A stored record as an R4 AuditEvent, with its seq, key id and signature as extensions. */
export function toAuditEvent(record: AuditRecordView, seal: Seal): FhirAuditEvent {
  if (record.extra) return asReceived(record, record.extra, seal);
  const action = record.action as Action;
  const self = record.sourceId === SELF_SOURCE;
  // The system that served the data: the trail for its own use, else the reporting source.
  const system = self
    ? { type: "Device", identifier: { system: TRAIL_SYSTEM, value: seal.origin } }
    : { type: "Device", identifier: { system: SOURCE_SYSTEM, value: record.sourceId } };
  const observer = { ...system, display: self ? seal.origin : record.sourceId };
  const hasPatient = record.patientId !== "";
  const profile = hasPatient ? PROFILE[action] : undefined;
  const details = [
    { type: "table_affected", valueString: record.tableAffected },
    ...(record.notes ? [{ type: "notes", valueString: record.notes }] : []),
  ];
  // BALP's query entity names no resource: the search is the patient's records of that table.
  const data =
    action === "query"
      ? {
          type: CODE.systemObject,
          role: CODE.queryRole,
          description: `${record.tableAffected}?patient=${record.patientId}`,
          query: Buffer.from(`${record.tableAffected}?patient=${record.patientId}`).toString(
            "base64",
          ),
        }
      : {
          what: { identifier: { system: TABLE_SYSTEM, value: record.tableAffected } },
          type: CODE.systemObject,
          role: CODE.domainResource,
        };
  // Details go on the patient entity, as BALP's query entity takes none.
  const entity = hasPatient
    ? [
        {
          what: patientWhat(record.patientId),
          type: CODE.person,
          role: CODE.patientRole,
          detail: details,
        },
        data,
      ]
    : [{ ...data, detail: details }];
  // BALP: a query's client is the Source Role ID, a read's client the Destination Role ID.
  const serverRole = RESTFUL[action] === "read" ? CODE.sourceRole : CODE.destinationRole;
  const failed = action === "login" && self && record.notes === FAILED_LOGIN_NOTES;
  return {
    resourceType: "AuditEvent",
    id: record.logId,
    ...(profile ? { meta: { profile: [profile] } } : {}),
    extension: trailExtensions(record, seal),
    ...eventType(action),
    action: FHIR_ACTION[action] ?? "E",
    period: { start: record.occurredAt, end: record.occurredAt },
    recorded: record.recordedAt,
    outcome: failed ? "4" : "0",
    ...purposeOfEvent(record.purpose),
    agent: [
      {
        type: concept(CODE.recipient),
        who: { identifier: { value: record.actorId }, display: record.actorName },
        name: record.actorName,
        requestor: true,
      },
      { type: concept(serverRole), who: observer, requestor: false },
    ],
    source: { observer, type: [CODE.applicationServer] },
    entity,
  };
}

export { fromAuditEvent, type MappedEvent } from "./ingest.server";
export { operationOutcome } from "./outcome.server";
export { ACTION_SYSTEM, EXTENSION } from "./codes.server";
