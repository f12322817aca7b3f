import { expect, test } from "vitest";
import { makeTestContext } from "../../tests/context";
import { createSessionRow, readSessionRow, refreshSessionRow } from "./session.server";
import { insertUser } from "./user.server";

const TTL = 30 * 60_000;
const expiresAt = (ctx: ReturnType<typeof makeTestContext>) =>
  ctx.conn.sqlite.prepare("SELECT expires_at FROM sessions").pluck().get() as number;

test("a view moves a session's expiry on at most once a minute, and always when its data changes", () => {
  const ctx = makeTestContext();
  const user = insertUser(ctx, {
    name: "A Patient",
    username: "a-patient",
    role: "patient",
    patientId: "MRN-1",
    credential: { scheme: "argon2", hash: "$argon2id$not-used-here" },
  });
  const data = (more = "") => `{"userId":"${user.id}"${more}}`;
  createSessionRow(ctx, "session-id", user.id, data(), TTL);
  const created = expiresAt(ctx);

  ctx.clock.now += 30_000;
  refreshSessionRow(ctx, "session-id", user.id, data(), TTL);
  expect(expiresAt(ctx)).toBe(created);

  refreshSessionRow(ctx, "session-id", user.id, data(',"flash":"x"'), TTL);
  expect(expiresAt(ctx)).toBe(ctx.clock.now + TTL);

  ctx.clock.now += 61_000;
  refreshSessionRow(ctx, "session-id", user.id, data(',"flash":"x"'), TTL);
  expect(expiresAt(ctx)).toBe(ctx.clock.now + TTL);
  // Whatever was skipped or written, the row still opens.
  expect(readSessionRow(ctx, "session-id").state).toBe("valid");
});
