import { describe, expect, test } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { findRecord, listRecords, type RecordPage } from "../models/record.server";
import { openRecords } from "./open-records.server";
import type { User } from "../models/user.server";
import { appendRecords, type RecordInput } from "../trail/append.server";
import { verifyNow } from "../trail/guard.server";
import {
  defaultFrom,
  filterQuery,
  parseRecordQuery,
  withDefaultPeriod,
  type RecordFilters,
} from "./record-query.server";
import { patient, auditor } from "../../tests/users";

const params = (query: Record<string, string>) => new URLSearchParams(query);

describe("parseRecordQuery", () => {
  test("empty parameters are no filters", () => {
    expect(parseRecordQuery(params({}), auditor)).toEqual({
      ok: true,
      filters: {},
      before: undefined,
    });
  });

  test("blank values count as absent", () => {
    const parsed = parseRecordQuery(
      params({ from: "", to: "  ", action: "", table: "", actor: " ", patient: "", before: "" }),
      auditor,
    );
    expect(parsed).toEqual({ ok: true, filters: {}, before: undefined });
  });

  test("reads every valid filter, trimmed, and the page as a number", () => {
    const parsed = parseRecordQuery(
      params({
        from: "2026-10-01",
        to: "2026-10-31",
        action: "print",
        table: "lab_results",
        actor: " E1001 ",
        patient: "MRN-100234",
        before: "1234",
      }),
      auditor,
    );
    expect(parsed).toEqual({
      ok: true,
      filters: {
        from: "2026-10-01",
        to: "2026-10-31",
        action: "print",
        table: "lab_results",
        actor: "E1001",
        patient: "MRN-100234",
      },
      before: 1234,
    });
  });

  test("a single day is a valid range", () => {
    const parsed = parseRecordQuery(params({ from: "2026-02-28", to: "2026-02-28" }), auditor);
    expect(parsed).toMatchObject({ ok: true, filters: { from: "2026-02-28", to: "2026-02-28" } });
  });

  test.each([
    [{ from: "2026-13-45" }, "from"],
    [{ from: "yesterday" }, "from"],
    [{ from: "2026-02-30" }, "from"],
    [{ to: "2026-1-5" }, "to"],
    [{ from: "2026-10-05", to: "2026-10-04" }, "to"],
    [{ action: "teleport" }, "action"],
    [{ table: "Bad Table" }, "table"],
    [{ table: "1st_table" }, "table"],
    [{ actor: "x".repeat(129) }, "actor"],
    [{ patient: "x".repeat(65) }, "patient"],
    [{ before: "abc" }, "before"],
    [{ before: "-5" }, "before"],
  ] as [Record<string, string>, string][])("%o is refused with an error on %s", (query, key) => {
    const parsed = parseRecordQuery(params(query), auditor);
    if (parsed.ok) throw new Error(`expected ${JSON.stringify(query)} to be refused`);
    expect(Object.keys(parsed.errors)).toEqual([key]);
    expect(parsed.errors[key as keyof typeof parsed.errors]).toEqual(expect.any(String));
  });

  test("a refused query echoes the filters as given, so the form can show them", () => {
    const parsed = parseRecordQuery(
      params({ from: "yesterday", action: "teleport", table: "notes", before: "abc" }),
      auditor,
    );
    expect(parsed.ok).toBe(false);
    expect(parsed.filters).toEqual({ from: "yesterday", action: "teleport", table: "notes" });
    if (!parsed.ok) expect(Object.keys(parsed.errors).sort()).toEqual(["action", "before", "from"]);
  });

  test("a patient's patient filter is ignored, an auditor's is kept", () => {
    const query = params({ patient: "MRN-2", action: "read" });
    const own = parseRecordQuery(query, patient("MRN-1"));
    expect(own).toEqual({ ok: true, filters: { action: "read" }, before: undefined });
    expect(parseRecordQuery(query, auditor)).toEqual({
      ok: true,
      filters: { patient: "MRN-2", action: "read" },
      before: undefined,
    });
  });

  test("a patient's overlong patient filter is ignored rather than refused", () => {
    const parsed = parseRecordQuery(params({ patient: "x".repeat(100) }), patient("MRN-1"));
    expect(parsed).toEqual({ ok: true, filters: {}, before: undefined });
  });
});

describe("the default period", () => {
  const now = Date.UTC(2026, 10, 25, 8, 30);

  test("starts on the same day twelve months ago (UTC), and is a valid filter", () => {
    expect(defaultFrom(now)).toBe("2025-11-25");
    expect(defaultFrom(Date.UTC(2026, 0, 1, 0, 0))).toBe("2025-01-01");
    // 29 February has no match a year later or earlier: the next day is taken.
    expect(defaultFrom(Date.UTC(2028, 1, 29, 23, 59))).toBe("2027-03-01");
    expect(parseRecordQuery(params({ from: defaultFrom(now) }), auditor)).toMatchObject({
      ok: true,
    });
  });

  test("applies to a patient who chose no dates, and says so", () => {
    expect(withDefaultPeriod({ action: "read" }, patient("MRN-1"), now)).toEqual({
      filters: { action: "read", from: "2025-11-25" },
      period: { months: 12, since: "2025-11-25" },
    });
  });

  test.each([
    ["a start date, even an older one", { from: "2019-01-01" }],
    ["an end date alone", { to: "2020-06-30" }],
  ])("gives way to %s", (_, filters: RecordFilters) => {
    expect(withDefaultPeriod(filters, patient("MRN-1"), now)).toEqual({ filters, period: null });
  });

  test("does not apply to auditors, who query the whole trail", () => {
    expect(withDefaultPeriod({}, auditor, now)).toEqual({ filters: {}, period: null });
  });
});

describe("filterQuery", () => {
  test("no filters is no query", () => {
    expect(filterQuery({})).toBe("");
    expect(filterQuery({ table: "", actor: undefined })).toBe("");
  });

  test("omits empty values and appends extras", () => {
    const query = filterQuery({ action: "read", table: "", actor: undefined }, { before: 17 });
    expect(query).toBe("?action=read&before=17");
  });

  test("round-trips through parseRecordQuery, encoding what needs encoding", () => {
    const filters: RecordFilters = {
      from: "2026-10-01",
      to: "2026-10-02",
      action: "copy",
      table: "notes",
      actor: "Dr. A & B=C?#",
      patient: "MRN 7/8",
    };
    const query = filterQuery(filters, { before: 99 });
    expect(query.startsWith("?")).toBe(true);
    expect(query).not.toMatch(/[ #]/);
    expect(parseRecordQuery(new URLSearchParams(query.slice(1)), auditor)).toEqual({
      ok: true,
      filters,
      before: 99,
    });
  });
});

// A small trail over three patients, three actors, several actions, tables and days, with
// accesses on both sides of a midnight (UTC).
const DAY = (d: number, h = 10, m = 0, s = 0, ms = 0) => Date.UTC(2026, 9, d, h, m, s, ms);
const PLAN: [patient: string, actor: string, action: string, table: string, at: number][] = [
  ["MRN-1", "dr-a", "read", "lab_results", DAY(1, 9)],
  ["MRN-2", "dr-a", "read", "lab_results", DAY(1, 9, 5)],
  ["MRN-3", "dr-b", "update", "medications", DAY(1, 14)],
  ["MRN-1", "dr-b", "print", "notes", DAY(2, 8)],
  ["MRN-2", "dr-c", "read", "allergies", DAY(2, 11)],
  ["MRN-1", "dr-a", "update", "medications", DAY(2, 16)],
  ["MRN-3", "dr-a", "read", "lab_results", DAY(3, 0, 0, 0, 0)],
  ["MRN-2", "dr-b", "copy", "notes", DAY(3, 12)],
  ["MRN-1", "dr-c", "read", "allergies", DAY(3, 23, 59, 59, 999)],
  ["MRN-2", "dr-a", "read", "medications", DAY(4, 0, 0, 0, 0)],
  ["MRN-3", "dr-c", "delete", "notes", DAY(4, 9)],
  ["MRN-1", "dr-a", "read", "lab_results", DAY(4, 10)],
  ["MRN-2", "dr-b", "update", "lab_results", DAY(4, 13)],
  ["MRN-1", "dr-b", "read", "medications", DAY(5, 7)],
  ["MRN-3", "dr-a", "print", "allergies", DAY(5, 8)],
  ["MRN-1", "dr-c", "create", "notes", DAY(5, 9)],
  ["MRN-2", "dr-a", "read", "notes", DAY(5, 17)],
  ["MRN-1", "dr-a", "read", "lab_results", DAY(6, 10)],
  ["MRN-3", "dr-b", "read", "medications", DAY(6, 11)],
  ["MRN-2", "dr-c", "update", "allergies", DAY(6, 12)],
  // Out of time order on purpose: the trail is ordered by seq, not by occurred_at.
  ["MRN-1", "dr-b", "read", "notes", DAY(2, 9)],
];

type Appended = RecordInput & { seq: number; logId: string };

async function buildTrail(): Promise<{ ctx: TestContext; records: Appended[] }> {
  const ctx = makeTestContext();
  const inputs: RecordInput[] = PLAN.map(([patientId, actorId, action, tableAffected, at], i) => ({
    patientId,
    actorId,
    actorName: `Dr. ${actorId.slice(3).toUpperCase()}`,
    action,
    tableAffected,
    occurredAt: at,
    notes: `access ${i}`,
    sourceId: "test-ehr",
  }));
  const records: Appended[] = [];
  for (let i = 0; i < inputs.length; i += 6) {
    const batch = inputs.slice(i, i + 6);
    const result = await appendRecords(ctx, batch);
    records.push(...batch.map((input, j) => ({ ...input, ...result.records[j]! })));
  }
  expect(verifyNow(ctx).ok).toBe(true);
  return { ctx, records };
}

/** What a filter must select, newest (highest seq) first, computed independently of SQL. */
function expected(records: Appended[], filters: RecordFilters, scope?: string): Appended[] {
  const start = filters.from ? Date.parse(`${filters.from}T00:00:00Z`) : -Infinity;
  const end = filters.to ? Date.parse(`${filters.to}T23:59:59.999Z`) : Infinity;
  const patientId = scope ?? filters.patient;
  return records
    .filter(
      (r) =>
        (!patientId || r.patientId === patientId) &&
        (!filters.action || r.action === filters.action) &&
        (!filters.table || r.tableAffected === filters.table) &&
        (!filters.actor || r.actorId === filters.actor) &&
        r.occurredAt >= start &&
        r.occurredAt <= end,
    )
    .sort((a, b) => b.seq - a.seq);
}

function open(ctx: TestContext, page: RecordPage) {
  return openRecords(ctx, page.records, verifyNow(ctx).checkpoint).map((r) => ({
    seq: r.seq,
    logId: r.logId,
    patientId: r.patientId,
    actorId: r.actorId,
    action: r.action,
    tableAffected: r.tableAffected,
    occurredAt: Date.parse(r.occurredAt),
    notes: r.notes,
  }));
}

const summary = (records: Appended[]) =>
  records.map((r) => ({
    seq: r.seq,
    logId: r.logId,
    patientId: r.patientId,
    actorId: r.actorId,
    action: r.action,
    tableAffected: r.tableAffected,
    occurredAt: r.occurredAt,
    notes: r.notes,
  }));

/** Every page of a view, following nextBefore. */
function allPages(ctx: TestContext, viewer: User, filters: RecordFilters, limit: number) {
  const pages: RecordPage[] = [];
  let before: number | undefined;
  for (let guard = 0; guard < 100; guard++) {
    const page = listRecords(ctx, viewer, filters, {
      sealedUpTo: Number.MAX_SAFE_INTEGER,
      limit,
      before,
    });
    pages.push(page);
    if (page.nextBefore === null) return pages;
    before = page.nextBefore;
  }
  throw new Error("paging did not end");
}

const FILTERS: RecordFilters[] = [
  {},
  { patient: "MRN-2" },
  { action: "read" },
  { table: "notes" },
  { actor: "dr-a" },
  { from: "2026-10-03" },
  { to: "2026-10-03" },
  { from: "2026-10-03", to: "2026-10-03" },
  { from: "2026-10-04", to: "2026-10-05", action: "read" },
  { patient: "MRN-1", actor: "dr-b", table: "notes" },
  { action: "delete", patient: "MRN-1" },
  { from: "2026-11-01" },
];

describe("listRecords over a real trail", () => {
  test("returns exactly the matching records, newest first, for an auditor", async () => {
    const { ctx, records } = await buildTrail();
    for (const filters of FILTERS) {
      const page = listRecords(ctx, auditor, filters, {
        sealedUpTo: Number.MAX_SAFE_INTEGER,
        limit: 100,
      });
      expect(page.nextBefore, JSON.stringify(filters)).toBeNull();
      expect(open(ctx, page), JSON.stringify(filters)).toEqual(summary(expected(records, filters)));
    }
  });

  test("the filters used in the plan do select something, so the comparison means something", async () => {
    const { records } = await buildTrail();
    const sizes = FILTERS.map((f) => expected(records, f).length);
    expect(sizes.at(-1)).toBe(0);
    expect(sizes.at(-2)).toBe(0);
    for (const size of sizes.slice(0, -2)) expect(size).toBeGreaterThan(0);
    expect(sizes[0]).toBe(PLAN.length);
  });

  test("the end date includes its whole UTC day and nothing of the next", async () => {
    const { ctx, records } = await buildTrail();
    const atEdges = (filters: RecordFilters) =>
      open(
        ctx,
        listRecords(ctx, auditor, filters, { sealedUpTo: Number.MAX_SAFE_INTEGER, limit: 100 }),
      ).map((r) => r.occurredAt);
    const upTo3 = atEdges({ to: "2026-10-03" });
    expect(upTo3).toContain(DAY(3, 23, 59, 59, 999));
    expect(upTo3).toContain(DAY(3, 0));
    expect(upTo3).not.toContain(DAY(4, 0));
    expect(Math.max(...upTo3)).toBe(DAY(3, 23, 59, 59, 999));
    const only3 = atEdges({ from: "2026-10-03", to: "2026-10-03" });
    expect(only3.sort()).toEqual(
      records
        .filter((r) => r.occurredAt >= DAY(3, 0) && r.occurredAt < DAY(4, 0))
        .map((r) => r.occurredAt)
        .sort(),
    );
    expect(only3).toHaveLength(3);
    const from4 = atEdges({ from: "2026-10-04" });
    expect(from4).toContain(DAY(4, 0));
    expect(from4).not.toContain(DAY(3, 23, 59, 59, 999));
  });

  test.each([1, 2, 3, 7, 21, 50])(
    "pages of %i follow nextBefore without gaps or duplicates",
    async (limit) => {
      const { ctx, records } = await buildTrail();
      for (const filters of [{}, { action: "read" }, { patient: "MRN-1" }] as RecordFilters[]) {
        const pages = allPages(ctx, auditor, filters, limit);
        const want = expected(records, filters).map((r) => r.seq);
        const seqs = pages.flatMap((p) => p.records.map((r) => r[0]));
        expect(seqs).toEqual(want);
        expect(pages).toHaveLength(Math.max(1, Math.ceil(want.length / limit)));
        for (const [i, page] of pages.entries()) {
          expect(page.records.length).toBeLessThanOrEqual(limit);
          if (i < pages.length - 1) {
            expect(page.records).toHaveLength(limit);
            expect(page.nextBefore).toBe(page.records.at(-1)![0]);
          } else {
            expect(page.nextBefore).toBeNull();
          }
        }
      }
    },
  );

  test("a page that ends exactly with the last match has no next page", async () => {
    const { ctx, records } = await buildTrail();
    const matches = expected(records, { patient: "MRN-3" }).length;
    const page = listRecords(
      ctx,
      auditor,
      { patient: "MRN-3" },
      { sealedUpTo: Number.MAX_SAFE_INTEGER, limit: matches },
    );
    expect(page.records).toHaveLength(matches);
    expect(page.nextBefore).toBeNull();
    const shorter = listRecords(
      ctx,
      auditor,
      { patient: "MRN-3" },
      { sealedUpTo: Number.MAX_SAFE_INTEGER, limit: matches - 1 },
    );
    expect(shorter.nextBefore).toBe(shorter.records.at(-1)![0]);
  });

  test("before starts below the given seq", async () => {
    const { ctx, records } = await buildTrail();
    const page = listRecords(
      ctx,
      auditor,
      {},
      { sealedUpTo: Number.MAX_SAFE_INTEGER, limit: 4, before: 10 },
    );
    expect(page.records.map((r) => r[0])).toEqual([9, 8, 7, 6]);
    expect(page.nextBefore).toBe(6);
    const last = listRecords(
      ctx,
      auditor,
      {},
      { sealedUpTo: Number.MAX_SAFE_INTEGER, limit: 4, before: 3 },
    );
    expect(last.records.map((r) => r[0])).toEqual([2, 1]);
    expect(last.nextBefore).toBeNull();
    expect(records.map((r) => r.seq)).toEqual(PLAN.map((_, i) => i + 1));
  });
});

describe("a patient's view", () => {
  test("never holds another patient's records, whatever the filters say", async () => {
    const { ctx, records } = await buildTrail();
    for (const own of ["MRN-1", "MRN-2", "MRN-3"]) {
      const viewer = patient(own);
      for (const filters of [
        ...FILTERS,
        { patient: "MRN-9" },
        { patient: own === "MRN-1" ? "MRN-2" : "MRN-1" },
      ]) {
        const pages = allPages(ctx, viewer, filters, 2);
        const seen = pages.flatMap((p) => openRecords(ctx, p.records, verifyNow(ctx).checkpoint));
        for (const r of seen) expect(r.patientId).toBe(own);
        expect(
          seen.map((r) => r.seq),
          JSON.stringify({ own, filters }),
        ).toEqual(expected(records, filters, own).map((r) => r.seq));
      }
    }
  });

  test("with another patient's id as the filter sees only their own records", async () => {
    const { ctx, records } = await buildTrail();
    const page = listRecords(
      ctx,
      patient("MRN-1"),
      { patient: "MRN-2" },
      { sealedUpTo: Number.MAX_SAFE_INTEGER, limit: 100 },
    );
    const own = records.filter((r) => r.patientId === "MRN-1").map((r) => r.seq);
    expect(page.records.map((r) => r[0]).sort((a, b) => a - b)).toEqual(own);
    expect(own.length).toBeGreaterThan(0);
  });

  test("with a filter only another patient matches sees nothing", async () => {
    const { ctx } = await buildTrail();
    // Only MRN-3 has a delete.
    const page = listRecords(
      ctx,
      patient("MRN-1"),
      { action: "delete" },
      { sealedUpTo: Number.MAX_SAFE_INTEGER, limit: 100 },
    );
    expect(page).toEqual({ records: [], nextBefore: null });
    expect(
      listRecords(
        ctx,
        auditor,
        { action: "delete" },
        { sealedUpTo: Number.MAX_SAFE_INTEGER, limit: 100 },
      ).records,
    ).toHaveLength(1);
  });

  test("findRecord answers another patient's log id like a missing one", async () => {
    const { ctx, records } = await buildTrail();
    const mine = records.find((r) => r.patientId === "MRN-1")!;
    const theirs = records.find((r) => r.patientId === "MRN-2")!;
    const viewer = patient("MRN-1");
    expect(findRecord(ctx, viewer, theirs.logId)).toBeNull();
    expect(findRecord(ctx, viewer, "00000000-0000-4000-8000-000000000000")).toBeNull();
    expect(findRecord(ctx, viewer, mine.logId)?.[1]).toBe(mine.logId);
    expect(findRecord(ctx, auditor, theirs.logId)?.[1]).toBe(theirs.logId);
    expect(findRecord(ctx, patient("MRN-2"), theirs.logId)?.[0]).toBe(theirs.seq);
  });

  test("a patient account without a patient ID is refused, not shown everything", async () => {
    const { ctx } = await buildTrail();
    const broken: User = { ...patient("MRN-1"), patientId: null };
    expect(() =>
      listRecords(ctx, broken, {}, { sealedUpTo: Number.MAX_SAFE_INTEGER, limit: 10 }),
    ).toThrow(/patient ID/);
    expect(() => findRecord(ctx, broken, "x")).toThrow(/patient ID/);
  });
});
