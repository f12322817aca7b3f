import { createHash } from "node:crypto";
import fs from "node:fs";
import { describe, expect, test } from "vitest";
import { makeTestContext } from "../../tests/context";
import { checkInvitation, createInvitation } from "../models/invitation.server";
import { findUserForLogin, getUserById, UserRowTampered } from "../models/user.server";
import { registerWithPassword } from "./enrol-with-password.server";

const DAY = 24 * 60 * 60 * 1000;

function form(overrides: Record<string, string> = {}) {
  return {
    name: "Harriet Quill",
    username: "hquill",
    password: "correct horse battery",
    confirmPassword: "correct horse battery",
    userType: "patient",
    code: "",
    ...overrides,
  };
}

describe("registration with an invitation", () => {
  test.each(["hquill\u200b", "h\u2060quill", "h quill"])(
    "a username with a space or an invisible character (%j) is refused before the code is used",
    async (username) => {
      const ctx = makeTestContext();
      const { code } = createInvitation(ctx, { role: "patient", patientId: "MRN-9" });
      expect(await registerWithPassword(ctx, form({ code, username }))).toEqual({
        ok: false,
        errors: { username: "A username cannot contain spaces or invisible characters." },
      });
      expect(checkInvitation(ctx, "patient", code)).toMatchObject({ ok: true });
    },
  );

  test("a patient code creates a patient bound to the code's patient ID", async () => {
    const ctx = makeTestContext();
    const { code } = createInvitation(ctx, {
      role: "patient",
      patientId: "MRN-77",
    });
    const result = await registerWithPassword(ctx, form({ code }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(getUserById(ctx, result.user.id)).toEqual({
      id: result.user.id,
      name: "Harriet Quill",
      username: "hquill",
      role: "patient",
      patientId: "MRN-77",
    });
  });

  test("an auditor code creates an auditor with no patient ID", async () => {
    const ctx = makeTestContext();
    const { code } = createInvitation(ctx, { role: "auditor" });
    const result = await registerWithPassword(ctx, form({ code, userType: "auditor" }));
    expect(result.ok && result.user).toMatchObject({
      role: "auditor",
      patientId: null,
    });
  });

  test("the code is typed loosely: case, spaces and dashes do not matter", async () => {
    const ctx = makeTestContext();
    const { code } = createInvitation(ctx, { role: "auditor" });
    const typed = ` ${code.replace(/-/g, " ").toLowerCase()} `;
    const result = await registerWithPassword(ctx, form({ code: typed, userType: "auditor" }));
    expect(result.ok).toBe(true);
  });

  test.each([
    ["no code", ""],
    ["a wrong code", "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH"],
  ])("%s creates nothing", async (_label, code) => {
    const ctx = makeTestContext();
    const result = await registerWithPassword(ctx, form({ code, userType: "auditor" }));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors.code).toBeTruthy();
    expect(findUserForLogin(ctx, "hquill")).toBeNull();
  });

  test("a patient code cannot make an auditor, and says so", async () => {
    const ctx = makeTestContext();
    const { code } = createInvitation(ctx, {
      role: "patient",
      patientId: "MRN-1",
    });
    const result = await registerWithPassword(ctx, form({ code, userType: "auditor" }));
    expect(result).toEqual({
      ok: false,
      errors: {
        code: "This code is for a patient account, not an audit company account.",
      },
    });
    expect(findUserForLogin(ctx, "hquill")).toBeNull();
    // The code is still good for what it was issued for.
    expect((await registerWithPassword(ctx, form({ code }))).ok).toBe(true);
  });

  test("an auditor code cannot make a patient", async () => {
    const ctx = makeTestContext();
    const { code } = createInvitation(ctx, { role: "auditor" });
    const result = await registerWithPassword(ctx, form({ code, userType: "patient" }));
    expect(!result.ok && result.errors.code).toMatch(/audit company account, not a patient/);
  });

  test("an invitation row forged into the database without the HMAC key is refused", async () => {
    const ctx = makeTestContext();
    const { id } = createInvitation(ctx, { role: "auditor" });
    const code = "ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ";
    // The intruder can write the file but does not hold the key the code hash is made with.
    ctx.conn.sqlite
      .prepare("UPDATE invitations SET code_hash = ? WHERE id = ?")
      .run(createHash("sha256").update(code).digest(), id);
    const result = await registerWithPassword(ctx, form({ code, userType: "auditor" }));
    expect(result.ok).toBe(false);
    expect(findUserForLogin(ctx, "hquill")).toBeNull();
  });

  test("a code works once", async () => {
    const ctx = makeTestContext();
    const { code } = createInvitation(ctx, {
      role: "patient",
      patientId: "MRN-1",
    });
    expect((await registerWithPassword(ctx, form({ code }))).ok).toBe(true);
    const again = await registerWithPassword(ctx, form({ code, username: "other" }));
    expect(again).toEqual({
      ok: false,
      errors: { code: "This invitation code has already been used." },
    });
    expect(findUserForLogin(ctx, "other")).toBeNull();
  });

  test("a code expires after the configured days", async () => {
    const ctx = makeTestContext();
    const { code } = createInvitation(ctx, {
      role: "patient",
      patientId: "MRN-1",
    });
    ctx.clock.now += 7 * DAY + 1;
    const result = await registerWithPassword(ctx, form({ code }));
    expect(result).toEqual({
      ok: false,
      errors: { code: "This invitation code has expired." },
    });
  });

  test("two concurrent registrations with one code make one account", async () => {
    const ctx = makeTestContext();
    const { code } = createInvitation(ctx, {
      role: "patient",
      patientId: "MRN-1",
    });
    const results = await Promise.all([
      registerWithPassword(ctx, form({ code, username: "first" })),
      registerWithPassword(ctx, form({ code, username: "second" })),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
  });

  test("usernames are unique, whatever their case", async () => {
    const ctx = makeTestContext();
    const a = createInvitation(ctx, { role: "patient", patientId: "MRN-1" });
    const b = createInvitation(ctx, { role: "patient", patientId: "MRN-2" });
    expect((await registerWithPassword(ctx, form({ code: a.code }))).ok).toBe(true);
    const result = await registerWithPassword(ctx, form({ code: b.code, username: "HQuill" }));
    expect(result).toEqual({
      ok: false,
      errors: { username: "This username is taken." },
    });
  });

  test.each([
    ["a short password", { password: "elevenchars", confirmPassword: "elevenchars" }, "password"],
    [
      "a mismatched confirmation",
      { confirmPassword: "something else entirely" },
      "confirmPassword",
    ],
    ["a missing name", { name: "  " }, "name"],
    ["a username with spaces", { username: "h quill" }, "username"],
    ["an unknown user type", { userType: "admin" }, "userType"],
  ])("%s is refused on its field", async (_label, overrides, field) => {
    const ctx = makeTestContext();
    const { code } = createInvitation(ctx, {
      role: "patient",
      patientId: "MRN-1",
    });
    const result = await registerWithPassword(ctx, form({ code, ...overrides }));
    expect(result.ok).toBe(false);
    expect(!result.ok && Object.keys(result.errors)).toEqual([field]);
  });

  test("passwords of 64 characters and more are accepted, without composition rules", async () => {
    const ctx = makeTestContext();
    const { code } = createInvitation(ctx, {
      role: "patient",
      patientId: "MRN-1",
    });
    const long = "a".repeat(100);
    const result = await registerWithPassword(
      ctx,
      form({ code, password: long, confirmPassword: long }),
    );
    expect(result.ok).toBe(true);
  });

  test("the database file and its WAL hold no plaintext name, username, password, role or patient ID", async () => {
    const ctx = makeTestContext();
    const { code } = createInvitation(ctx, {
      role: "patient",
      patientId: "MRN-PLAINTEXT-93",
    });
    const secret = {
      name: "Zebulon Farnsworth",
      username: "zfarnsworth",
      password: "tangerine-submarine-42",
    };
    const result = await registerWithPassword(
      ctx,
      form({ ...secret, confirmPassword: secret.password, code }),
    );
    expect(result.ok).toBe(true);
    const files = [ctx.config.DATABASE_PATH, `${ctx.config.DATABASE_PATH}-wal`].filter((f) =>
      fs.existsSync(f),
    );
    const bytes = Buffer.concat(files.map((f) => fs.readFileSync(f)));
    expect(bytes.length).toBeGreaterThan(0);
    for (const needle of [...Object.values(secret), "MRN-PLAINTEXT-93", code]) {
      expect(bytes.includes(Buffer.from(needle)), needle).toBe(false);
      expect(bytes.includes(Buffer.from(needle.toLowerCase())), needle).toBe(false);
    }
    // The bytes did reach the file: the row is there, sealed.
    const row = ctx.conn.sqlite.prepare("SELECT name_enc FROM users").get() as {
      name_enc: Buffer;
    };
    expect(bytes.includes(row.name_enc)).toBe(true);
  });

  test("a patient's and an auditor's rows look alike: the role shows in no length or NULL", async () => {
    const ctx = makeTestContext();
    const a = createInvitation(ctx, { role: "patient", patientId: "MRN-1" });
    const b = createInvitation(ctx, { role: "auditor" });
    expect((await registerWithPassword(ctx, form({ code: a.code, username: "patient1" }))).ok).toBe(
      true,
    );
    const auditor = await registerWithPassword(
      ctx,
      form({ code: b.code, username: "auditor1", userType: "auditor" }),
    );
    expect(auditor.ok).toBe(true);
    const shape = (table: string) =>
      (ctx.conn.sqlite.prepare(`SELECT * FROM ${table}`).all() as Record<string, unknown>[]).map(
        (row) =>
          Object.fromEntries(
            Object.entries(row)
              .filter(([column]) => column.endsWith("_enc"))
              .map(([column, v]) => [column, v === null ? null : (v as Buffer).length]),
          ),
      );
    const [first, second] = shape("users");
    expect(first).toEqual(second);
    const [inviteA, inviteB] = shape("invitations");
    expect(inviteA).toEqual(inviteB);
  });

  test("a tampered role ciphertext makes the user unreadable, not an auditor", async () => {
    const ctx = makeTestContext();
    const a = createInvitation(ctx, { role: "patient", patientId: "MRN-1" });
    const b = createInvitation(ctx, { role: "auditor" });
    const patient = await registerWithPassword(ctx, form({ code: a.code }));
    const auditor = await registerWithPassword(
      ctx,
      form({ code: b.code, username: "boss", userType: "auditor" }),
    );
    if (!patient.ok || !auditor.ok) throw new Error("setup failed");
    // Copy the auditor's role ciphertext onto the patient: the row's signature no longer holds
    // (and the AAD would bind the ciphertext to its own row besides).
    ctx.conn.sqlite
      .prepare("UPDATE users SET role_enc = (SELECT role_enc FROM users WHERE id = ?) WHERE id = ?")
      .run(auditor.user.id, patient.user.id);
    expect(() => getUserById(ctx, patient.user.id)).toThrow(UserRowTampered);
  });
});
