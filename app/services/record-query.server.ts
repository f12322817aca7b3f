import { z } from "zod";
import type { AppContext } from "../context.server";
import { blindIndex } from "../crypto/hashing.server";
import { ACTIONS } from "../trail/ingest.server";
import type { User } from "../models/user.server";

/** Filters of a trail view, as they appear in the URL. */
export type RecordFilters = {
  from?: string;
  to?: string;
  action?: (typeof ACTIONS)[number];
  table?: string;
  actor?: string;
  patient?: string;
};

export type FilterErrors = Partial<Record<keyof RecordFilters | "before", string>>;

const DAY_MS = 86_400_000;
const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { error: "Enter a date as YYYY-MM-DD." })
  .refine(
    (v) =>
      !Number.isNaN(Date.parse(`${v}T00:00:00Z`)) &&
      new Date(`${v}T00:00:00Z`).toISOString().startsWith(v),
    {
      error: "This is not a date.",
    },
  );

const filterSchema = z
  .object({
    from: isoDate.optional(),
    to: isoDate.optional(),
    action: z.enum(ACTIONS, { error: "Choose one of the listed actions." }).optional(),
    table: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,63}$/, { error: "Use lower-case letters, digits and underscores." })
      .optional(),
    actor: z.string().max(128, { error: "Use at most 128 characters." }).optional(),
    patient: z.string().max(64, { error: "Use at most 64 characters." }).optional(),
    before: z
      .string()
      .regex(/^[1-9]\d{0,14}$/, { error: "Not a valid page." })
      .transform(Number)
      .optional(),
  })
  .refine((f) => !f.from || !f.to || f.from <= f.to, {
    path: ["to"],
    error: "The end date is before the start date.",
  });

export type ParsedQuery =
  | { ok: true; filters: RecordFilters; before?: number }
  | { ok: false; filters: RecordFilters; errors: FilterErrors };

/**
 * Reads the filters from a URL's query. Empty values are absent; a patient's `patient` filter is
 * ignored, since a patient's view is always of themselves.
 */
export function parseRecordQuery(params: URLSearchParams, user: User): ParsedQuery {
  const raw: Record<string, string> = {};
  for (const key of ["from", "to", "action", "table", "actor", "patient", "before"]) {
    const value = params.get(key)?.trim();
    if (value) raw[key] = value;
  }
  if (user.role === "patient") delete raw.patient;
  const echo: RecordFilters = { ...raw, action: raw.action as RecordFilters["action"] };
  delete (echo as Record<string, unknown>).before;
  const parsed = filterSchema.safeParse(raw);
  if (!parsed.success) {
    const errors: FilterErrors = {};
    for (const issue of parsed.error.issues)
      errors[issue.path[0] as keyof FilterErrors] ??= issue.message;
    return { ok: false, filters: echo, errors };
  }
  const { before, ...filters } = parsed.data;
  return { ok: true, filters, before };
}

/** The URL query for filters (and a page), for links that keep the view. */
export function filterQuery(
  filters: RecordFilters,
  extra: Record<string, string | number> = {},
): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries({ ...filters, ...extra })) {
    if (value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/**
 * SQL conditions for the filters, over blind indexes and the plaintext occurred_at. The patient
 * condition comes from `scopePatientId` for patients, never from the URL.
 */
export function filterConditions(
  ctx: AppContext,
  filters: RecordFilters,
  scopePatientId: string | null,
): { where: string[]; args: unknown[] } {
  const key = ctx.keys.blindIndexKey;
  const where: string[] = [];
  const args: unknown[] = [];
  const patient = scopePatientId ?? filters.patient;
  if (patient) {
    where.push("patient_index = ?");
    args.push(blindIndex(key, "patient_id", patient));
  }
  if (filters.action) {
    where.push("action_index = ?");
    args.push(blindIndex(key, "action", filters.action));
  }
  if (filters.table) {
    where.push("table_index = ?");
    args.push(blindIndex(key, "table_affected", filters.table));
  }
  if (filters.actor) {
    where.push("actor_index = ?");
    args.push(blindIndex(key, "actor", filters.actor));
  }
  if (filters.from) {
    where.push("occurred_at >= ?");
    args.push(Date.parse(`${filters.from}T00:00:00Z`));
  }
  if (filters.to) {
    where.push("occurred_at < ?");
    args.push(Date.parse(`${filters.to}T00:00:00Z`) + DAY_MS);
  }
  return { where, args };
}
