// The OPAQUE login through the route actions, as the login page's script runs it: what crosses
// the wire, what is refused, and how an argon2 account moves to OPAQUE.
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { actionTransport, loginThroughActions, postLoginFinish } from "../../tests/login-actions";
import { openMailbox, type Mailbox } from "../../tests/mailbox";
import { opaqueLogin } from "../../tests/opaque-client";
import { intrude, seedTrail } from "../../tests/trail";
import { WRONG_LOGIN } from "../auth.server";
import { hashPassword } from "../crypto/password.server";
import { createInvitation } from "../models/invitation.server";
import { findUserForLogin, getUserById, insertUser } from "../models/user.server";
import { ensureTrailIntact } from "../trail/guard.server";
import { DEMO_LOGINS, seedDemoUsers } from "./demo.server";
import { registerWithPassword } from "./enrol-with-password.server";
import { PENDING_MS } from "./pending-logins.server";

const PASSWORD = "a long enough passphrase";
const ADDRESS = "198.51.100.7";

let mailbox: Mailbox;
let ctx: TestContext;
beforeEach(async () => {
  mailbox = await openMailbox();
  ctx = makeTestContext(mailbox.env);
  await seedTrail(ctx, 2);
});
afterEach(() => mailbox.close());

async function patient(username: string) {
  const { code } = createInvitation(ctx, { role: "patient", patientId: "MRN-4242" });
  const result = await registerWithPassword(ctx, {
    name: "Olive Patient",
    username,
    password: PASSWORD,
    userType: "patient",
    code,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.user;
}

const login = (username: string, password = PASSWORD, auditCompany = false) =>
  loginThroughActions(ctx, ADDRESS, { username, password, auditCompany });

function storedCredential(username: string) {
  return findUserForLogin(ctx, username)!.credential;
}

describe("an OPAQUE login", () => {
  test("opens a session, and sends neither the password nor the stored record", async () => {
    await patient("olive");
    const credential = storedCredential("olive");
    if (credential.scheme !== "opaque") throw new Error("olive should be on OPAQUE");
    const result = await login("olive");
    expect(result.status).toBe(302);
    expect(result.headers.get("Location")).toBe("/home");
    expect(result.headers.get("Set-Cookie")).toMatch(/^__session=/);

    const wire = JSON.stringify(result.sent);
    expect(result.sent.map((fields) => Object.keys(fields).sort())).toEqual([
      ["startLoginRequest", "username"],
      ["finishLoginRequest", "loginId", "username"],
    ]);
    for (const secret of [PASSWORD, encodeURIComponent(PASSWORD), credential.record, "$argon2"]) {
      expect(wire).not.toContain(secret);
    }
  });

  test("the first answer carries no server state, only an id for it", async () => {
    await patient("olive");
    const seen: Record<string, string | undefined>[] = [];
    const transport = actionTransport(ctx, ADDRESS);
    await opaqueLogin(
      {
        json: async (path, fields) => {
          const answer = await transport.json(path, fields);
          seen.push(answer.body);
          return answer;
        },
        finish: transport.finish,
      },
      { username: "olive", password: PASSWORD },
    );
    expect(Object.keys(seen[0]!).sort()).toEqual(["loginId", "loginResponse"]);
  });

  test("a wrong password, a wrong user type and an unknown username fail alike", async () => {
    await patient("olive");
    const answers = [
      await login("olive", "not the right passphrase"),
      await login("olive", PASSWORD, true),
      await login("nobody-by-this-name", PASSWORD),
    ];
    expect(answers.map((a) => [a.status, a.error])).toEqual([
      [401, WRONG_LOGIN],
      [401, WRONG_LOGIN],
      [401, WRONG_LOGIN],
    ]);
    // The unknown name got a first answer like a real account's (a fake record), and failed later.
    for (const answer of answers) expect(answer.sent).toHaveLength(2);
  });

  test("a replayed finish message is refused, as is one after the login state expired", async () => {
    await patient("olive");
    const first = await login("olive");
    expect(first.status).toBe(302);
    const finish = first.sent[1]!;
    expect(await postLoginFinish(ctx, ADDRESS, finish)).toMatchObject({
      status: 401,
      error: WRONG_LOGIN,
    });

    const transport = actionTransport(ctx, ADDRESS);
    const late = await opaqueLogin(
      {
        ...transport,
        finish: (fields) => {
          ctx.clock.now += PENDING_MS;
          return transport.finish(fields);
        },
      },
      { username: "olive", password: PASSWORD },
    );
    expect(late.step === "finish" && late.result).toMatchObject({ status: 401 });
  });

  test("a finish message made up without a started login is refused", async () => {
    await patient("olive");
    const made = await postLoginFinish(ctx, ADDRESS, {
      username: "olive",
      loginId: "made-up",
      finishLoginRequest: "AAAA",
    });
    expect(made).toMatchObject({ status: 401, error: WRONG_LOGIN });
  });
});

describe("an account from before OPAQUE", () => {
  async function legacyPatient(username: string) {
    return insertUser(ctx, {
      name: "Ada Legacy",
      username,
      role: "patient",
      patientId: "MRN-4243",
      credential: { scheme: "argon2", hash: await hashPassword(PASSWORD) },
    });
  }

  test("moves to OPAQUE at its next login, and logs in without its password afterwards", async () => {
    const user = await legacyPatient("ada");
    const moved = await login("ada");
    expect(moved.status).toBe(302);
    // The password went once, to the argon2 check, never to the final form.
    expect(moved.sent.map((fields) => "password" in fields)).toEqual([false, true, false]);
    expect(storedCredential("ada").scheme).toBe("opaque");
    expect(getUserById(ctx, user.id)).toEqual(user);
    expect((await ensureTrailIntact(ctx, { viewerId: null, force: true })).ok).toBe(true);

    const next = await login("ada");
    expect(next.status).toBe(302);
    expect(next.sent.some((fields) => "password" in fields)).toBe(false);
  });

  test("a wrong password or user type keeps the argon2 hash and fails with the same message", async () => {
    await legacyPatient("ada");
    expect(await login("ada", "not the right passphrase")).toMatchObject({
      status: 401,
      error: WRONG_LOGIN,
    });
    expect(await login("ada", PASSWORD, true)).toMatchObject({ status: 401, error: WRONG_LOGIN });
    expect(storedCredential("ada").scheme).toBe("argon2");
  });
});

test("a registration record edited in the database file logs nobody in and is named", async () => {
  const olive = await patient("olive");
  const other = await patient("other");
  // The intruder gives olive the record of an account whose password they know.
  intrude(ctx, (db) =>
    db
      .prepare(
        "UPDATE users SET password_enc = (SELECT password_enc FROM users WHERE id = ?) WHERE id = ?",
      )
      .run(other.id, olive.id),
  );
  const result = await login("olive");
  expect(result.status).toBe(503);
  expect(result.error).toContain("Data integrity compromised");
  const [mail] = await mailbox.received();
  expect(`${mail!.subject}\n${mail!.text}`).toContain(`user ${olive.id}`);
});

test("the demo's accounts are OPAQUE accounts that log in with their printed passwords", async () => {
  expect(await seedDemoUsers(ctx)).toBe(DEMO_LOGINS.length);
  for (const demo of DEMO_LOGINS) {
    expect(storedCredential(demo.username).scheme).toBe("opaque");
    const result = await login(demo.username, demo.password, demo.role === "auditor");
    expect(result.status, demo.username).toBe(302);
  }
});
