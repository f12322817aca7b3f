import type { AppContext } from "../context.server";
import { appendRecords, type RecordInput } from "../trail/append.server";
import { createInvitation } from "../models/invitation.server";
import { hasRecordsFrom } from "../models/record.server";
import { usernameTaken, type Role } from "../models/user.server";
import { registerWithPassword } from "./enrol-with-password.server";

export type DemoLogin = {
  username: string;
  password: string;
  name: string;
  role: Role;
  patientId: string | null;
};

/** Fixed demo accounts: for the demo database only, never a real one. */
export const DEMO_LOGINS: readonly DemoLogin[] = [
  {
    username: "auditor",
    password: "demo-auditor-password",
    name: "Dana Whitfield (Northgate Audit Co.)",
    role: "auditor",
    patientId: null,
  },
  {
    username: "alice",
    password: "demo-alice-password",
    name: "Alice Moreno",
    role: "patient",
    patientId: "MRN-100234",
  },
  {
    username: "bob",
    password: "demo-bob-password",
    name: "Bob Okafor",
    role: "patient",
    patientId: "MRN-100871",
  },
];

/** Creates the demo accounts that do not exist yet, through the real invitation flow. */
export async function seedDemoUsers(ctx: AppContext): Promise<number> {
  let created = 0;
  for (const login of DEMO_LOGINS) {
    if (usernameTaken(ctx, login.username)) continue;
    const invitation = createInvitation(ctx, {
      role: login.role,
      patientId: login.patientId ?? undefined,
    });
    const result = await registerWithPassword(ctx, {
      name: login.name,
      username: login.username,
      password: login.password,
      confirmPassword: login.password,
      userType: login.role,
      code: invitation.code,
    });
    if (!result.ok)
      throw new Error(`demo user ${login.username}: ${JSON.stringify(result.errors)}`);
    created += 1;
  }
  return created;
}

/** The source id of the demo's generated records. */
export const DEMO_SOURCE = "demo-ehr";

const STAFF = [
  {
    id: "E1001",
    name: "Dr. Priya Raman",
    tables: ["clinical_notes", "diagnoses", "medications", "lab_results"],
  },
  {
    id: "E1002",
    name: "Nurse Tom Becker",
    tables: ["vital_signs", "medications", "allergies", "clinical_notes"],
  },
  { id: "E1003", name: "Dr. Lena Fischer", tables: ["imaging", "diagnoses", "clinical_notes"] },
  { id: "E1004", name: "Omar Haddad (pharmacist)", tables: ["medications", "allergies"] },
  { id: "E1005", name: "Jane Liu (billing)", tables: ["billing", "demographics"] },
  { id: "E1006", name: "Marco Silva (lab)", tables: ["lab_results"] },
  {
    id: "E1007",
    name: "Dr. Ahmed Yilmaz",
    tables: ["clinical_notes", "immunizations", "medications"],
  },
];
/** Why each member of staff opens charts; the curious employee's browsing gives no reason. */
const PURPOSE_OF_STAFF: Record<string, string> = {
  E1001: "TREAT",
  E1002: "TREAT",
  E1003: "TREAT",
  E1004: "TREAT",
  E1005: "HPAYMT",
  E1006: "TREAT",
  E1007: "COC",
};
const OTHER_PATIENTS = ["MRN-100913", "MRN-101207", "MRN-101555", "MRN-102046"];
const ACTION_WEIGHTS: [string, number][] = [
  ["read", 60],
  ["update", 14],
  ["create", 10],
  ["query", 6],
  ["print", 5],
  ["copy", 3],
  ["delete", 2],
];
const NOTES: Record<string, string[]> = {
  read: ["chart review before rounds", "reviewed results", "follow-up visit", "consult request"],
  update: ["dose adjusted", "corrected entry", "added observation"],
  create: ["new order", "new entry after visit", "admission note"],
  query: ["searched the record", "report for care team"],
  print: ["printed for the patient", "printed for referral"],
  copy: ["copied to referral letter", "copied for insurer"],
  delete: ["removed a duplicate entry", "removed an entry made in error"],
};

/** A small deterministic generator (mulberry32), so every demo database looks the same. */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Realistic accesses over the six weeks before `now`: mostly in working hours, a few not. */
export function demoRecords(now: number, count = 360): RecordInput[] {
  const rand = random(20261124);
  const pick = <T>(items: readonly T[]) => items[Math.floor(rand() * items.length)]!;
  const patients = [
    ...DEMO_LOGINS.flatMap((l) => (l.patientId ? [l.patientId, l.patientId] : [])),
    ...OTHER_PATIENTS,
  ];
  const totalWeight = ACTION_WEIGHTS.reduce((sum, [, w]) => sum + w, 0);
  const records: RecordInput[] = [];
  const start = now - 42 * 24 * 60 * 60 * 1000;
  for (let i = 0; i < count; i++) {
    const day = Math.floor((i / count) * 42);
    const afterHours = rand() < 0.06;
    const hour = afterHours ? pick([0, 1, 2, 3, 4, 22, 23]) : 7 + Math.floor(rand() * 11);
    const at = new Date(start + day * 86_400_000);
    at.setUTCHours(hour, Math.floor(rand() * 60), Math.floor(rand() * 60), 0);
    let roll = rand() * totalWeight;
    const action = ACTION_WEIGHTS.find(([, w]) => (roll -= w) < 0)?.[0] ?? "read";
    const staff = pick(STAFF);
    records.push({
      patientId: pick(patients),
      actorId: staff.id,
      actorName: staff.name,
      action,
      tableAffected: pick(staff.tables),
      occurredAt: Math.min(at.getTime(), now),
      notes: pick(NOTES[action]!),
      sourceId: DEMO_SOURCE,
      purpose: PURPOSE_OF_STAFF[staff.id] ?? null,
    });
  }
  // An emergency access ("break the glass") to a demo patient's chart, at night.
  const emergencyAt = start + 20 * 86_400_000 + 2 * 3_600_000 + 17 * 60_000;
  records.push({
    patientId: DEMO_LOGINS[1]!.patientId!,
    actorId: STAFF[2]!.id,
    actorName: STAFF[2]!.name,
    action: "read",
    tableAffected: "allergies",
    occurredAt: emergencyAt,
    notes: "emergency department: patient unconscious",
    sourceId: DEMO_SOURCE,
    purpose: "BTG",
  });
  // One curious employee browsing many charts within an hour, late at night, for the dashboard.
  const burstAt = start + 30 * 86_400_000 + 22 * 3_600_000;
  const curious = STAFF[4]!;
  const burstPatients = [
    DEMO_LOGINS[1]!.patientId!,
    ...OTHER_PATIENTS,
    ...Array.from({ length: 7 }, (_, i) => `MRN-1031${10 + i}`),
  ];
  burstPatients.forEach((patientId, i) => {
    records.push({
      patientId,
      actorId: curious.id,
      actorName: curious.name,
      action: "read",
      tableAffected: "demographics",
      occurredAt: burstAt + i * 4 * 60_000,
      notes: "looked up the chart",
      sourceId: DEMO_SOURCE,
    });
  });
  return records.sort((a, b) => a.occurredAt - b.occurredAt);
}

/** The demo's accounts and records; running it again adds nothing. */
export async function seedDemo(ctx: AppContext): Promise<{ users: number; records: number }> {
  const users = await seedDemoUsers(ctx);
  if (hasRecordsFrom(ctx, DEMO_SOURCE)) return { users, records: 0 };
  const records = demoRecords(ctx.now());
  for (let i = 0; i < records.length; i += 60) await appendRecords(ctx, records.slice(i, i + 60));
  return { users, records: records.length };
}
