import fs from "node:fs";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { intrude } from "../../tests/trail";
import { appendRecords, type RecordInput } from "../trail/append.server";
import * as guard from "../trail/guard.server";
import { verifyNow } from "../trail/guard.server";
import {
  buildDashboard,
  DASHBOARD_DAYS,
  MANY_PATIENTS_PER_HOUR,
  type Dashboard,
  type Flag,
} from "./dashboard.server";
import { SELF_SOURCE } from "../trail/self-source";
import { auditor } from "../../tests/users";

// A tampered trail raises an alert, written to the outbox with a console.warn.
let warn: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
});
afterEach(() => {
  warn.mockRestore();
});

const DAY = 86_400_000;
const HOUR = 3_600_000;
// "Now" is late in the evening, so the dashboard's own records (made now) fall outside
// working hours: they must not be flagged all the same.
const NOW = Date.UTC(2026, 10, 20, 21, 30);
const TODAY = Date.UTC(2026, 10, 20);
/** `daysAgo` days before today, at `hour`:`minute` UTC. */
const at = (daysAgo: number, hour: number, minute = 0) =>
  TODAY - daysAgo * DAY + hour * HOUR + minute * 60_000;

type Planned = RecordInput & { expectFlags: Flag[] };

function rec(
  actorId: string,
  patientId: string,
  action: string,
  tableAffected: string,
  occurredAt: number,
  expectFlags: Flag[] = [],
  extra: Partial<RecordInput> = {},
): Planned {
  return {
    patientId,
    actorId,
    actorName: `Name of ${actorId}`,
    action,
    tableAffected,
    occurredAt,
    notes: "",
    sourceId: "test-ehr",
    expectFlags,
    ...extra,
  };
}

const OUT: Flag = "outside working hours";
const SENSITIVE: Flag = "delete, print or copy";
const BURST: Flag = "many patients within an hour";
const EMERGENCY: Flag = "emergency access";

function plan(): Planned[] {
  const records: Planned[] = [
    // Ordinary daytime work: nothing to flag.
    rec("dr-regular", "MRN-1", "read", "lab_results", at(1, 10)),
    rec("dr-regular", "MRN-2", "read", "lab_results", at(1, 10, 20)),
    rec("dr-regular", "MRN-3", "read", "medications", at(1, 11)),
    rec("dr-regular", "MRN-1", "update", "medications", at(1, 15)),
    rec("dr-regular", "MRN-2", "create", "notes", at(2, 9)),
    // The edges of working hours (07:00 to 19:00 UTC).
    rec("dr-edge", "MRN-1", "read", "notes", at(3, 7, 0)),
    rec("dr-edge", "MRN-1", "read", "notes", at(3, 18, 59)),
    rec("dr-edge", "MRN-1", "read", "notes", at(3, 6, 59), [OUT]),
    rec("dr-edge", "MRN-1", "read", "notes", at(3, 19, 0), [OUT]),
    // At night.
    rec("dr-night", "MRN-4", "read", "allergies", at(4, 2), [OUT]),
    rec("dr-night", "MRN-4", "delete", "allergies", at(4, 3), [OUT, SENSITIVE]),
    // Print, copy and delete in the day.
    rec("dr-clerk", "MRN-5", "print", "lab_results", at(5, 10, 30), [SENSITIVE]),
    rec("dr-clerk", "MRN-5", "copy", "lab_results", at(5, 11), [SENSITIVE]),
    rec("dr-clerk", "MRN-6", "delete", "notes", at(5, 12), [SENSITIVE]),
    rec("dr-clerk", "MRN-6", "export", "notes", at(5, 12, 5)),
  ];
  // Ten different patients within one clock hour, and one of them again.
  for (let i = 0; i < MANY_PATIENTS_PER_HOUR; i++) {
    records.push(rec("dr-burst", `MRN-B${i}`, "read", "lab_results", at(6, 14, i * 5), [BURST]));
  }
  records.push(rec("dr-burst", "MRN-B0", "read", "lab_results", at(6, 14, 59), [BURST]));
  // The same actor an hour later, with fewer patients: not flagged.
  records.push(rec("dr-burst", "MRN-B1", "read", "lab_results", at(6, 15, 10)));
  // One patient fewer than the threshold within an hour.
  for (let i = 0; i < MANY_PATIENTS_PER_HOUR - 1; i++) {
    records.push(rec("dr-almost", `MRN-A${i}`, "read", "notes", at(7, 10, i * 6)));
  }
  // Ten patients within sixty minutes, but across two clock hours.
  for (let i = 0; i < MANY_PATIENTS_PER_HOUR; i++) {
    records.push(rec("dr-split", `MRN-S${i}`, "read", "medications", at(8, 10, 30 + i * 5)));
  }
  // One patient, many times, in one hour.
  for (let i = 0; i < MANY_PATIENTS_PER_HOUR + 4; i++) {
    records.push(rec("dr-same", "MRN-7", "read", "allergies", at(9, 13, i * 4)));
  }
  records.push(rec("dr-pair", "MRN-9", "read", "notes", at(10, 10)));
  records.push(rec("dr-pair", "MRN-9", "read", "notes", at(10, 10, 10)));
  // Emergency accesses ("break the glass"), and an ordinary purpose that is not one.
  const why = (purpose: string) => ({ purpose });
  records.push(rec("dr-pair", "MRN-9", "read", "allergies", at(11, 10), [EMERGENCY], why("BTG")));
  records.push(
    rec("dr-pair", "MRN-9", "update", "medications", at(11, 10, 5), [EMERGENCY], why("ETREAT")),
  );
  records.push(rec("dr-pair", "MRN-9", "read", "notes", at(11, 11), [], why("TREAT")));
  records.push(
    rec(
      "dr-pair",
      "MRN-9",
      "print",
      "notes",
      at(11, 3),
      [OUT, SENSITIVE, EMERGENCY],
      why("ERTREAT"),
    ),
  );
  // Records the trail writes about itself: at night, a print, and many patients in an hour.
  const self = { sourceId: SELF_SOURCE, actorName: "Some User" };
  records.push(rec("user-1", "MRN-1", "login", "audit_trail", at(2, 2), [], self));
  records.push(rec("user-1", "MRN-1", "print", "audit_trail", at(2, 2, 5), [], self));
  for (let i = 0; i < MANY_PATIENTS_PER_HOUR; i++) {
    records.push(rec("user-1", `MRN-Q${i}`, "query", "audit_trail", at(2, 12, i), [], self));
  }
  // An action the dashboard does not know.
  records.push(rec("dr-regular", "MRN-3", "archive", "lab_results", at(1, 16, 30)));
  // A newer name for an actor: the dashboard names actors from their newest record (by seq).
  records.push(
    rec("dr-regular", "MRN-3", "read", "lab_results", at(1, 16), [], {
      actorName: "Dr. Regular, renamed",
    }),
  );
  // A minute before the dashboard's window: counted nowhere and never flagged, though it
  // would be; and the first record inside it.
  records.push(
    rec("dr-old", "MRN-8", "print", "old_table", at(DASHBOARD_DAYS, -1, 59), [], {
      purpose: "BTG",
    }),
  );
  records.push(rec("dr-first", "MRN-8", "read", "notes", at(DASHBOARD_DAYS - 1, 10)));
  return records;
}

type Built = { ctx: TestContext; records: (Planned & { seq: number; logId: string })[] };

async function buildTrail(): Promise<Built> {
  const ctx = makeTestContext();
  ctx.clock.now = NOW;
  const planned = plan();
  const records: Built["records"] = [];
  for (let i = 0; i < planned.length; i += 16) {
    const batch = planned.slice(i, i + 16);
    const result = await appendRecords(
      ctx,
      batch.map(({ expectFlags: _, ...input }) => input),
    );
    records.push(...batch.map((r, j) => ({ ...r, ...result.records[j]! })));
  }
  expect(verifyNow(ctx).ok).toBe(true);
  return { ctx, records };
}

async function dashboardOf(ctx: TestContext): Promise<Dashboard> {
  const dashboard = await buildDashboard(ctx, auditor);
  if (!dashboard) throw new Error("expected a dashboard");
  return dashboard;
}

const SINCE = TODAY - (DASHBOARD_DAYS - 1) * DAY;
const inWindow = (records: Built["records"]) => records.filter((r) => r.occurredAt >= SINCE);

function countBy<T>(items: T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

describe("buildDashboard", () => {
  test("covers the last DASHBOARD_DAYS days up to today (UTC)", async () => {
    const { ctx } = await buildTrail();
    const dashboard = await dashboardOf(ctx);
    expect(dashboard.days).toHaveLength(DASHBOARD_DAYS);
    expect(dashboard.days.at(-1)).toBe("2026-11-20");
    expect(dashboard.since).toBe(dashboard.days[0]);
    expect(dashboard.since).toBe(new Date(SINCE).toISOString().slice(0, 10));
    expect(dashboard.perDay.map((d) => d.day)).toEqual(dashboard.days);
    for (const [i, day] of dashboard.days.entries()) {
      expect(Date.parse(`${day}T00:00:00Z`)).toBe(SINCE + i * DAY);
    }
  });

  test("counts each day's records by action", async () => {
    const { ctx, records } = await buildTrail();
    const dashboard = await dashboardOf(ctx);
    const expected = new Map<string, Record<string, number>>();
    for (const r of inWindow(records)) {
      const day = new Date(r.occurredAt).toISOString().slice(0, 10);
      const counts = expected.get(day) ?? {};
      const action = r.action === "archive" ? "other" : r.action;
      counts[action] = (counts[action] ?? 0) + 1;
      expected.set(day, counts);
    }
    for (const { day, counts } of dashboard.perDay) {
      expect(counts, day).toEqual(expected.get(day) ?? {});
    }
    // Spot checks against the plan, so a wrong helper cannot hide a wrong dashboard.
    const on = (daysAgo: number) =>
      dashboard.perDay.find((d) => d.day === new Date(at(daysAgo, 0)).toISOString().slice(0, 10))!
        .counts;
    expect(on(1)).toEqual({ read: 4, update: 1, other: 1 });
    expect(on(5)).toEqual({ print: 1, copy: 1, delete: 1, export: 1 });
    expect(on(6)).toEqual({ read: MANY_PATIENTS_PER_HOUR + 2 });
    expect(on(0)).toEqual({});
    const total = dashboard.perDay.reduce(
      (sum, d) => sum + Object.values(d.counts).reduce<number>((a, b) => a + (b ?? 0), 0),
      0,
    );
    expect(total).toBe(records.length - 1);
  });

  test("ranks actors by their number of records, named from their newest record", async () => {
    const { ctx, records } = await buildTrail();
    const dashboard = await dashboardOf(ctx);
    const expected = countBy(inWindow(records), (r) => r.actorId);
    expect(dashboard.topActors).toHaveLength(Math.min(10, expected.size));
    const counts = dashboard.topActors.map((a) => a.count);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    for (const actor of dashboard.topActors) {
      expect(actor.count, actor.actorId).toBe(expected.get(actor.actorId));
    }
    // The ten largest of the eleven actors in the window: only dr-first (1) is left out.
    expect(expected.size).toBe(11);
    expect(dashboard.topActors.map((a) => a.actorId).sort()).toEqual(
      [...expected.keys()].filter((a) => a !== "dr-first").sort(),
    );
    expect(dashboard.topActors[0]).toEqual({
      actorId: "dr-same",
      actorName: "Name of dr-same",
      count: MANY_PATIENTS_PER_HOUR + 4,
    });
    expect(dashboard.topActors.find((a) => a.actorId === "dr-regular")).toEqual({
      actorId: "dr-regular",
      actorName: "Dr. Regular, renamed",
      count: 7,
    });
    expect(dashboard.topActors.find((a) => a.actorId === "user-1")?.actorName).toBe("Some User");
    expect(dashboard.topActors.map((a) => a.actorId)).not.toContain("dr-old");
  });

  test("counts records per part of the record", async () => {
    const { ctx, records } = await buildTrail();
    const dashboard = await dashboardOf(ctx);
    const expected = countBy(inWindow(records), (r) => r.tableAffected);
    expect(new Map(dashboard.perTable.map((t) => [t.table, t.count]))).toEqual(expected);
    const counts = dashboard.perTable.map((t) => t.count);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    expect(dashboard.perTable.map((t) => t.table)).not.toContain("old_table");
    expect(dashboard.perDay[0]!.counts).toEqual({ read: 1 });
    expect(dashboard.perTable.find((t) => t.table === "audit_trail")?.count).toBe(
      MANY_PATIENTS_PER_HOUR + 2,
    );
  });

  test("flags exactly the unusual accesses, each with every reason that applies", async () => {
    const { ctx, records } = await buildTrail();
    const dashboard = await dashboardOf(ctx);
    const expected = records
      .filter((r) => r.expectFlags.length > 0)
      .sort((a, b) => b.seq - a.seq)
      .map((r) => ({ seq: r.seq, flags: [...r.expectFlags].sort() }));
    expect(
      dashboard.unusual.map((u) => ({ seq: u.record.seq, flags: [...u.flags].sort() })),
    ).toEqual(expected);
    expect(expected.length).toBe(10 + MANY_PATIENTS_PER_HOUR + 1);
  });

  test("flags every emergency access (ETREAT, BTG, ERTREAT), and no other purpose", async () => {
    const { ctx } = await buildTrail();
    const dashboard = await dashboardOf(ctx);
    const emergencies = dashboard.unusual.filter((u) => u.flags.includes(EMERGENCY));
    expect(emergencies.map((u) => u.record.purpose).sort()).toEqual(["BTG", "ERTREAT", "ETREAT"]);
    expect(emergencies.every((u) => u.record.actorId === "dr-pair")).toBe(true);
    const treat = dashboard.unusual.filter((u) => u.record.purpose === "TREAT");
    expect(treat).toEqual([]);
  });

  test("an intruder who marks an old record as an emergency gets a refused dashboard", async () => {
    const { ctx, records } = await buildTrail();
    const plain = records.find((r) => r.actorId === "dr-regular" && !r.purpose)!;
    const btg = records.find((r) => r.purpose === "BTG" && r.actorId === "dr-pair")!;
    // The emergency blind index, copied onto a record written without a purpose.
    intrude(ctx, (db) =>
      db
        .prepare(
          "UPDATE audit_records SET purpose_index = (SELECT purpose_index FROM audit_records WHERE seq = ?) WHERE seq = ?",
        )
        .run(btg.seq, plain.seq),
    );
    expect(await buildDashboard(ctx, auditor)).toBeNull();
    await vi.waitFor(() => {
      const findings = ctx.conn.sqlite.prepare("SELECT findings FROM incidents").pluck().all();
      expect(findings).toHaveLength(1);
      expect(JSON.parse(findings[0] as string)).toContainEqual(
        expect.objectContaining({ kind: "modified", target: "record", seq: plain.seq }),
      );
    });
  });

  test("shows each flagged record decrypted", async () => {
    const { ctx, records } = await buildTrail();
    const dashboard = await dashboardOf(ctx);
    const night = records.find((r) => r.action === "delete" && r.actorId === "dr-night")!;
    const shown = dashboard.unusual.find((u) => u.record.logId === night.logId);
    expect(shown?.record).toMatchObject({
      seq: night.seq,
      patientId: "MRN-4",
      actorId: "dr-night",
      actorName: "Name of dr-night",
      action: "delete",
      tableAffected: "allergies",
      occurredAt: new Date(at(4, 3)).toISOString(),
      sourceId: "test-ehr",
    });
    expect(shown?.flags.sort()).toEqual([SENSITIVE, OUT].sort());
  });

  test("flags access at 02:00, print, copy and delete, and every record of a burst", async () => {
    const { ctx } = await buildTrail();
    const dashboard = await dashboardOf(ctx);
    const flagsOf = (pred: (u: Dashboard["unusual"][number]) => boolean) =>
      dashboard.unusual.filter(pred).map((u) => u.flags);
    expect(flagsOf((u) => u.record.occurredAt === new Date(at(4, 2)).toISOString())).toEqual([
      [OUT],
    ]);
    for (const action of ["print", "copy", "delete"]) {
      const flagged = flagsOf((u) => u.record.action === action && u.record.actorId === "dr-clerk");
      expect(flagged, action).toEqual([[SENSITIVE]]);
    }
    const burst = dashboard.unusual.filter((u) => u.record.actorId === "dr-burst");
    expect(new Set(burst.map((u) => u.record.patientId)).size).toBe(MANY_PATIENTS_PER_HOUR);
    expect(burst).toHaveLength(MANY_PATIENTS_PER_HOUR + 1);
    for (const u of burst) expect(u.flags).toEqual([BURST]);
  });

  test("does not flag ordinary daytime work, near misses or the trail's own records", async () => {
    const { ctx, records } = await buildTrail();
    const dashboard = await dashboardOf(ctx);
    const flaggedActors = new Set(dashboard.unusual.map((u) => u.record.actorId));
    for (const actor of ["dr-regular", "dr-almost", "dr-split", "dr-same", "user-1", "dr-old"]) {
      expect(flaggedActors.has(actor), actor).toBe(false);
    }
    const ordinary = records.find((r) => r.occurredAt === at(1, 10))!;
    expect(dashboard.unusual.map((u) => u.record.logId)).not.toContain(ordinary.logId);
    expect(dashboard.unusual.every((u) => u.record.sourceId !== SELF_SOURCE)).toBe(true);
  });

  test("records the view, and does not flag that record on the next view", async () => {
    const { ctx, records } = await buildTrail();
    const first = await dashboardOf(ctx);
    const flaggedPatients = new Set(first.unusual.map((u) => u.record.patientId));
    const appended = ctx.conn.sqlite
      .prepare("SELECT count(*) AS n FROM audit_records WHERE seq > ?")
      .get(records.length) as { n: number };
    expect(appended.n).toBe(flaggedPatients.size);
    const second = await dashboardOf(ctx);
    expect(second.unusual.map((u) => u.record.seq)).toEqual(first.unusual.map((u) => u.record.seq));
    // The view records are today's queries (made at 21:30, outside working hours).
    const today = second.perDay.at(-1)!;
    expect(today.counts).toEqual({ query: flaggedPatients.size });
  });

  test("returns null on a tampered trail, and the operators are alerted", async () => {
    const { ctx } = await buildTrail();
    intrude(ctx, (db) =>
      db.prepare("UPDATE audit_records SET notes_enc = notes_enc || x'00' WHERE seq = 5").run(),
    );
    expect(await buildDashboard(ctx, auditor)).toBeNull();
    await vi.waitFor(() => {
      const files = fs.existsSync(ctx.config.OUTBOX_DIR)
        ? fs.readdirSync(ctx.config.OUTBOX_DIR)
        : [];
      expect(files.filter((f) => f.endsWith(".eml"))).toHaveLength(1);
    });
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/Integrity alert written/));
  });

  test("catches a shown record an intruder changes after the guard looked, and alerts", async () => {
    const { ctx, records } = await buildTrail();
    const shown = records.find((r) => r.actorId === "dr-night" && r.action === "delete")!;
    // The intruder's write lands after the guard's verdict and before the dashboard reads its
    // rows: only the check of the rows it shows can notice.
    const check = guard.ensureTrailIntact;
    const spy = vi.spyOn(guard, "ensureTrailIntact").mockImplementationOnce(async (...args) => {
      const status = await check(...args);
      intrude(ctx, (db) =>
        db
          .prepare("UPDATE audit_records SET notes_enc = notes_enc || x'00' WHERE seq = ?")
          .run(shown.seq),
      );
      return status;
    });
    try {
      expect(await buildDashboard(ctx, auditor)).toBeNull();
      expect(await spy.mock.results[0]!.value).toMatchObject({ ok: true });
    } finally {
      spy.mockRestore();
    }
    await vi.waitFor(() => {
      const incidents = ctx.conn.sqlite
        .prepare("SELECT triggered_by, findings FROM incidents")
        .all() as { triggered_by: string; findings: string }[];
      expect(incidents).toHaveLength(1);
      expect(incidents[0]!.triggered_by).toBe(auditor.id);
      expect(JSON.parse(incidents[0]!.findings)).toContainEqual(
        expect.objectContaining({ kind: "modified", target: "record", seq: shown.seq }),
      );
    });
    expect(await buildDashboard(ctx, auditor)).toBeNull();
  });

  test("on an empty trail is empty", async () => {
    const ctx = makeTestContext();
    ctx.clock.now = NOW;
    const dashboard = await dashboardOf(ctx);
    expect(dashboard.topActors).toEqual([]);
    expect(dashboard.perTable).toEqual([]);
    expect(dashboard.unusual).toEqual([]);
    expect(dashboard.perDay.every((d) => Object.keys(d.counts).length === 0)).toBe(true);
  });
});
