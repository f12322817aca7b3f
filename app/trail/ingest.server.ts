import { z } from "zod";
import type { RecordInput } from "./append.server";
import { ACTIONS } from "./actions";
import { isPurposeCode, UNKNOWN_PURPOSE_ERROR } from "../fhir/purpose-of-use";

export const MAX_BATCH = 1000;
export const MAX_BODY_BYTES = 1024 * 1024;

export { ACTIONS };

/** How far ahead of this server's clock an `occurred_at` may be: a source's clock may run fast. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;

export const FUTURE_ERROR = `must not be more than ${CLOCK_SKEW_MS / 60_000} minutes in the future`;

/** Whether a time (ms since the epoch) lies beyond the allowed clock skew, in the future. */
export function isInFuture(time: number, now = Date.now()): boolean {
  return time > now + CLOCK_SKEW_MS;
}

export const BEFORE_EPOCH_ERROR = "must be 1970-01-01 or later";

/** Times are stored as unsigned milliseconds since 1970: no EHR access happened before. */
export function isBeforeEpoch(time: number): boolean {
  return !(time >= 0);
}

/** One audit event as sources send it (JSON API and NDJSON import alike). */
export const eventSchema = z
  .object({
    patient_id: z.string().trim().min(1).max(64),
    actor_id: z.string().trim().min(1).max(128),
    actor_name: z.string().trim().min(1).max(200),
    action: z.enum(ACTIONS, { error: `must be one of ${ACTIONS.join(", ")}` }),
    table_affected: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, {
      error: "must be lower-case letters, digits and underscores",
    }),
    occurred_at: z.iso
      .datetime({ offset: true, error: "must be an ISO 8601 date-time with a time zone" })
      .refine((v) => !isInFuture(Date.parse(v)), { error: FUTURE_ERROR })
      .refine((v) => !isBeforeEpoch(Date.parse(v)), { error: BEFORE_EPOCH_ERROR }),
    notes: z.string().max(4000).default(""),
    /** Why the record was accessed: an HL7 PurposeOfUse code (TREAT, ETREAT, HPAYMT, ...). */
    purpose_of_use: z.string().refine(isPurposeCode, { error: UNKNOWN_PURPOSE_ERROR }).nullish(),
  })
  .strict();

const batchSchema = z.object({ records: z.array(eventSchema).min(1).max(MAX_BATCH) }).strict();

export type Event = z.output<typeof eventSchema>;

export type ParsedBody =
  { ok: true; events: Event[] } | { ok: false; errors: Record<string, string> };

/** Field errors keyed by their path, e.g. "records.3.action". */
export function fieldErrors(error: z.ZodError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) out[issue.path.join(".") || "body"] ??= issue.message;
  return out;
}

/** A body is one event, or `{ "records": [...] }` with 1 to MAX_BATCH events. */
export function parseBody(body: unknown): ParsedBody {
  const isBatch =
    typeof body === "object" && body !== null && !Array.isArray(body) && "records" in body;
  const result = isBatch ? batchSchema.safeParse(body) : eventSchema.safeParse(body);
  if (!result.success) return { ok: false, errors: fieldErrors(result.error) };
  return { ok: true, events: "records" in result.data ? result.data.records : [result.data] };
}

export function toRecordInput(event: Event, sourceId: string): RecordInput {
  return {
    patientId: event.patient_id,
    actorId: event.actor_id,
    actorName: event.actor_name,
    action: event.action,
    tableAffected: event.table_affected,
    occurredAt: Date.parse(event.occurred_at),
    notes: event.notes,
    sourceId,
    purpose: event.purpose_of_use ?? null,
  };
}
