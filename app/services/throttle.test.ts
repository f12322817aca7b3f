import { describe, expect, test } from "vitest";
import { makeTestContext } from "../../tests/context";
import { checkLoginThrottle, clearUsernameFailures, recordLoginFailure } from "./throttle.server";

const MINUTE = 60_000;

describe("login throttling", () => {
  test("five failures for one username within the window refuse the sixth attempt", () => {
    const ctx = makeTestContext();
    const subject = { username: "alice", address: "10.0.0.1" };
    for (let i = 0; i < 4; i++) {
      recordLoginFailure(ctx, { ...subject, address: `10.0.0.${i}` });
      ctx.clock.now += MINUTE;
    }
    expect(checkLoginThrottle(ctx, subject)).toEqual({ allowed: true });
    recordLoginFailure(ctx, subject);
    const refused = checkLoginThrottle(ctx, {
      username: "ALICE",
      address: "10.9.9.9",
    });
    expect(refused.allowed).toBe(false);
    // The first failure was 4 minutes ago, so the window frees up in 11 minutes.
    expect(!refused.allowed && refused.retryAfterSeconds).toBe(11 * 60);
    // Another username from another address is not affected.
    expect(checkLoginThrottle(ctx, { username: "bob", address: "10.9.9.9" })).toEqual({
      allowed: true,
    });
  });

  test("the refusal ends when the failures leave the window", () => {
    const ctx = makeTestContext();
    const subject = { username: "alice", address: "10.0.0.1" };
    for (let i = 0; i < 5; i++) recordLoginFailure(ctx, subject);
    expect(checkLoginThrottle(ctx, subject).allowed).toBe(false);
    ctx.clock.now += 15 * MINUTE + 1;
    expect(checkLoginThrottle(ctx, subject)).toEqual({ allowed: true });
  });

  test("many failures from one address across usernames refuse that address", () => {
    const ctx = makeTestContext({ LOGIN_MAX_FAILURES_PER_ADDRESS: "8" });
    for (let i = 0; i < 8; i++)
      recordLoginFailure(ctx, { username: `user${i}`, address: "10.6.6.6" });
    expect(checkLoginThrottle(ctx, { username: "fresh", address: "10.6.6.6" }).allowed).toBe(false);
    expect(checkLoginThrottle(ctx, { username: "fresh", address: "10.7.7.7" })).toEqual({
      allowed: true,
    });
  });

  test("a successful login clears the username's failures", () => {
    const ctx = makeTestContext();
    const subject = { username: "alice", address: "10.0.0.1" };
    for (let i = 0; i < 4; i++) recordLoginFailure(ctx, subject);
    clearUsernameFailures(ctx, "alice");
    recordLoginFailure(ctx, subject);
    expect(checkLoginThrottle(ctx, subject)).toEqual({ allowed: true });
  });

  test("failures are recorded without the username or address in clear", () => {
    const ctx = makeTestContext();
    recordLoginFailure(ctx, { username: "alice", address: "10.0.0.1" });
    const rows = ctx.conn.sqlite.prepare("SELECT * FROM login_failures").all() as {
      subject_index: Buffer;
      kind: string;
    }[];
    expect(rows.map((r) => r.kind).sort()).toEqual(["address", "username"]);
    for (const r of rows) {
      expect(r.subject_index.length).toBe(32);
      expect(r.subject_index.includes(Buffer.from("alice"))).toBe(false);
    }
  });
});
