import { z } from "zod";
import type { RecordFilters } from "../models/record.server";
import type { User } from "../models/user.server";
import { ACTIONS } from "../trail/ingest.server";

export type { RecordFilters };

export type FilterErrors = Partial<Record<keyof RecordFilters | "before", string>>;

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

/** How far back a patient's view reaches when they chose no dates, as national portals do. */
export const DEFAULT_MONTHS = 12;

/** The first day (UTC, YYYY-MM-DD) of the DEFAULT_MONTHS months that end today. */
export function defaultFrom(now: number): string {
  const today = new Date(now);
  const from = new Date(
    Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - DEFAULT_MONTHS, today.getUTCDate()),
  );
  return from.toISOString().slice(0, 10);
}

/**
 * The filters a view applies: a patient who chose no dates sees the last DEFAULT_MONTHS months,
 * and `period` says so; any date they choose replaces it, older or not.
 */
export function withDefaultPeriod(
  filters: RecordFilters,
  user: User,
  now: number,
): { filters: RecordFilters; period: { months: number; since: string } | null } {
  if (user.role !== "patient" || filters.from || filters.to) return { filters, period: null };
  const since = defaultFrom(now);
  return { filters: { ...filters, from: since }, period: { months: DEFAULT_MONTHS, since } };
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
