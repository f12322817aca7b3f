import { afterEach, describe, expect, test, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { createInvitation } from "../models/invitation.server";
import { loginThroughActions } from "../../tests/login-actions";
import { registerWithPassword } from "./enrol-with-password.server";
import { admitLoginAttempt, recordLoginSuccess, slowDownMs } from "./throttle.server";

const MINUTE = 60_000;
const SLOW_MAX = 10_000;
const PASSWORD = "correct horse battery";

afterEach(() => {
  vi.useRealTimers();
});

async function admitted(ctx: TestContext, username: string, address: string) {
  return (await admitLoginAttempt(ctx, { username, address })).allowed;
}

/** Attempts that are admitted and then fail, as many as the pair allows (5 by default). */
async function failTimes(ctx: TestContext, times: number, username: string, address: string) {
  for (let i = 0; i < times; i++) expect(await admitted(ctx, username, address)).toBe(true);
}

describe("login throttling", () => {
  test("consecutive failures refuse that username from that address only, for 15 minutes", async () => {
    const ctx = makeTestContext();
    vi.useFakeTimers();
    await failTimes(ctx, 5, "alice", "10.0.0.1");
    const refused = await admitLoginAttempt(ctx, { username: "ALICE ", address: "10.0.0.1" });
    expect(refused).toEqual({ allowed: false, retryAfterSeconds: 15 * 60 });
    // The owner from another address, and another user from the attacker's address, get through.
    expect(await admitted(ctx, "bob", "10.0.0.1")).toBe(true);
    const owner = admitLoginAttempt(ctx, { username: "alice", address: "10.0.0.2" });
    await vi.advanceTimersByTimeAsync(250);
    expect(await owner).toEqual({ allowed: true });

    await vi.advanceTimersByTimeAsync(15 * MINUTE);
    const later = admitLoginAttempt(ctx, { username: "alice", address: "10.0.0.1" });
    await vi.advanceTimersByTimeAsync(SLOW_MAX);
    expect(await later).toEqual({ allowed: true });
  });

  test("a successful login starts the pair's count over, and its failures stop slowing the username", async () => {
    const ctx = makeTestContext();
    vi.useFakeTimers();
    const attempt = { username: "alice", address: "10.0.0.1" };
    await failTimes(ctx, 4, "alice", "10.0.0.1");
    expect(await admitted(ctx, "alice", "10.0.0.1")).toBe(true);
    await recordLoginSuccess(ctx, attempt);
    // Without waiting: no slow-down is due.
    await failTimes(ctx, 5, "alice", "10.0.0.1");
    expect(await admitted(ctx, "alice", "10.0.0.1")).toBe(false);
  });

  test("many failures from one address over many usernames refuse that address for a day", async () => {
    const ctx = makeTestContext({ LOGIN_MAX_FAILURES_PER_ADDRESS: "8" });
    for (let i = 0; i < 8; i++) expect(await admitted(ctx, `user${i}`, "10.6.6.6")).toBe(true);
    expect(await admitLoginAttempt(ctx, { username: "fresh", address: "10.6.6.6" })).toEqual({
      allowed: false,
      retryAfterSeconds: 24 * 60 * 60,
    });
    expect(await admitted(ctx, "fresh", "10.7.7.7")).toBe(true);
  });

  test("successful logins do not count against the address", async () => {
    const ctx = makeTestContext({ LOGIN_MAX_FAILURES_PER_ADDRESS: "3" });
    for (let i = 0; i < 6; i++) {
      const attempt = { username: `user${i}`, address: "10.6.6.6" };
      expect((await admitLoginAttempt(ctx, attempt)).allowed).toBe(true);
      await recordLoginSuccess(ctx, attempt);
    }
  });

  test("a username's failures from many addresses slow its attempts down, growing", async () => {
    const ctx = makeTestContext({ LOGIN_MAX_FAILURES_PER_USER: "2" });
    vi.useFakeTimers();
    await failTimes(ctx, 1, "alice", "10.0.0.1");
    await failTimes(ctx, 1, "alice", "10.0.0.2");
    for (const [address, wait] of [
      ["10.0.0.3", 250],
      ["10.0.0.4", 500],
      ["10.0.0.5", 1000],
    ] as const) {
      let settled = false;
      const attempt = admitLoginAttempt(ctx, { username: "alice", address }).then((d) => {
        settled = true;
        return d;
      });
      await vi.advanceTimersByTimeAsync(wait - 1);
      expect(settled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(await attempt).toEqual({ allowed: true });
    }
    // Other usernames are not slowed.
    expect(await admitted(ctx, "bob", "10.0.0.3")).toBe(true);
  });

  test("the slow-down doubles from 250 ms up to 10 s", () => {
    expect([4, 5, 6, 7, 10, 11, 50].map((n) => slowDownMs(n, 5))).toEqual([
      0,
      250,
      500,
      1000,
      8000,
      SLOW_MAX,
      SLOW_MAX,
    ]);
  });

  test("each application context has its own counters and limits", async () => {
    const strict = makeTestContext({ LOGIN_MAX_FAILURES_PER_USER: "2" });
    const other = makeTestContext();
    await failTimes(strict, 2, "alice", "10.0.0.1");
    expect(await admitted(strict, "alice", "10.0.0.1")).toBe(false);
    await failTimes(other, 5, "alice", "10.0.0.1");
  });
});

async function registeredPatient(ctx: TestContext, username: string) {
  const { code } = createInvitation(ctx, { role: "patient", patientId: "MRN-1" });
  const result = await registerWithPassword(ctx, {
    name: "Alice Owner",
    username,
    password: PASSWORD,
    confirmPassword: PASSWORD,
    userType: "patient",
    code,
  });
  expect(result.ok).toBe(true);
}

/** Logs in through the route actions, as the login page's script would from `clientAddress`. */
async function postLogin(
  ctx: TestContext,
  clientAddress: string,
  username: string,
  password: string,
) {
  return loginThroughActions(ctx, clientAddress, { username, password });
}

describe("the login action", () => {
  test("a stranger's failures on a username do not stop the owner from their own address", async () => {
    const ctx = makeTestContext();
    await registeredPatient(ctx, "alice");
    const statuses = [];
    for (let i = 0; i < 7; i++)
      statuses.push((await postLogin(ctx, "203.0.113.66", "alice", `guess number ${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
    const refused = await postLogin(ctx, "203.0.113.66", "alice", PASSWORD);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("Retry-After")).toBe(String(15 * 60));
    expect(refused.error).toBe("Too many failed attempts. Try again in 15 minutes.");

    const owner = await postLogin(ctx, "198.51.100.7", "alice", PASSWORD);
    expect(owner.status).toBe(302);
    expect(owner.headers.get("Location")).toBe("/home");
  });

  test("40 concurrent wrong passwords get at most the limit of password checks", async () => {
    const ctx = makeTestContext();
    await registeredPatient(ctx, "alice");
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => postLogin(ctx, "203.0.113.66", "alice", `guess ${i}`)),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(35);
  });

  test("logging in successfully clears the owner's own earlier failures", async () => {
    const ctx = makeTestContext();
    await registeredPatient(ctx, "alice");
    for (let i = 0; i < 4; i++)
      expect((await postLogin(ctx, "198.51.100.7", "alice", `typo ${i}`)).status).toBe(401);
    expect((await postLogin(ctx, "198.51.100.7", "alice", PASSWORD)).status).toBe(302);
    for (let i = 0; i < 4; i++)
      expect((await postLogin(ctx, "198.51.100.7", "alice", `typo ${i}`)).status).toBe(401);
    expect((await postLogin(ctx, "198.51.100.7", "alice", PASSWORD)).status).toBe(302);
  });
});
