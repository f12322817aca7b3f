// GET /api/aggregates: a source's token or an auditor's login, nobody else; bad periods are a
// clear 400; a compromised trail serves no numbers.
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { access, appendAll, makeTrail } from "../../tests/aggregates";
import type { TestContext } from "../../tests/context";
import { intrude } from "../../tests/trail";
import { loggedInCookie } from "../../tests/users";
import { addSource, revokeSource } from "../models/source.server";
import { insertUser, type User } from "../models/user.server";
import { loader } from "../routes/api.aggregates";
import { checkAggregateFile } from "../trail/aggregate-file.server";

let warn: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
});
afterEach(() => warn.mockRestore());

const QUERY = "?from=2026-11-01&to=2026-11-01";

async function get(ctx: TestContext, query: string, headers: Record<string, string> = {}) {
  const request = new Request(`http://trail.test/api/aggregates${query}`, { headers });
  const context = { app: ctx } as unknown as Parameters<typeof loader>[0]["context"];
  const response = (await loader({ request, params: {}, context })) as Response;
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function trail(company: string | null = "audit-co") {
  const ctx = await makeTrail("hospital-a", company ?? undefined);
  await appendAll(ctx, [
    access("2026-11-01", "read", "lab_results"),
    access("2026-11-01", "copy", "imaging", 1),
  ]);
  return ctx;
}

async function sessionCookie(ctx: TestContext, role: User["role"]): Promise<string> {
  const user = insertUser(ctx, {
    name: `A ${role}`,
    username: `${role}-${Math.random().toString(36).slice(2)}`,
    role,
    patientId: role === "patient" ? "MRN-200" : null,
    credential: { scheme: "argon2", hash: "$argon2id$not-used-here" },
  });
  return loggedInCookie(ctx, user);
}

test("refuses requests without a source token or an auditor's login, and patients", async () => {
  const ctx = await trail();
  const anonymous = await get(ctx, QUERY);
  expect(anonymous.status).toBe(401);
  expect(anonymous.body).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
  expect((await get(ctx, QUERY, { Authorization: "Bearer eat_not-a-token" })).status).toBe(401);
  const patient = await get(ctx, QUERY, { Cookie: await sessionCookie(ctx, "patient") });
  expect(patient).toEqual({
    status: 403,
    body: { error: { code: "forbidden", message: expect.any(String) } },
  });
  // A revoked token is no source.
  const { token } = addSource(ctx, "ehr-a");
  expect((await get(ctx, QUERY, { Authorization: `Bearer ${token}` })).status).toBe(200);
  revokeSource(ctx, "ehr-a");
  expect((await get(ctx, QUERY, { Authorization: `Bearer ${token}` })).status).toBe(401);
});

test("serves a source and an auditor a signed counter file that checks out", async () => {
  const ctx = await trail();
  const { token } = addSource(ctx, "ehr-a");
  const bySource = await get(ctx, QUERY, { Authorization: `Bearer ${token}` });
  expect(bySource.status).toBe(200);
  const checked = checkAggregateFile(bySource.body, ctx.keys.trustedPublicKeys);
  expect(checked.ok).toBe(true);
  expect(checked.ok && checked.file.checkpoint.tree_size).toBe(2);
  expect(
    checked.ok && checked.file.counters.filter((c) => c.dimension === "table").map((c) => c.key),
  ).toEqual(["imaging", "lab_results"]);
  const byAuditor = await get(ctx, QUERY, { Cookie: await sessionCookie(ctx, "auditor") });
  expect(byAuditor.status).toBe(200);
  expect(byAuditor.body.type).toBe("ehr-audit-trail/aggregates");
});

test.each([
  ["", /from and to/],
  ["?from=2026-11-01", /from and to/],
  ["?from=2026-11-01&to=2026-11-01&to=2026-11-02", /from and to/],
  ["?from=2026-02-30&to=2026-03-01", /from and to/],
  ["?from=2026-13-01&to=2026-11-01", /from and to/],
  ["?from=1.11.2026&to=2026-11-01", /from and to/],
  ["?from=2026-11-02&to=2026-11-01", /from may not be after to/],
  ["?from=2026-11-01&to=2026-11-03", /to may not be after today, 2026-11-02/],
  ["?from=2026-09-01&to=2026-11-01", /at most 31 days/],
])("GET /api/aggregates%s is a 400 that says why", async (query, message) => {
  const ctx = await trail();
  const { token } = addSource(ctx, "ehr-a");
  const answer = await get(ctx, query, { Authorization: `Bearer ${token}` });
  expect(answer).toEqual({
    status: 400,
    body: { error: { code: "invalid_query", message: expect.stringMatching(message) } },
  });
});

test("a compromised trail answers 503 and no counters", async () => {
  const ctx = await trail();
  const { token } = addSource(ctx, "ehr-a");
  intrude(ctx, (db) =>
    db.prepare("UPDATE audit_records SET occurred_at = occurred_at + 1 WHERE seq = 1").run(),
  );
  const answer = await get(ctx, QUERY, { Authorization: `Bearer ${token}` });
  expect(answer).toEqual({
    status: 503,
    body: { error: { code: "integrity_compromised", message: expect.any(String) } },
  });
});

test("a trail without the audit company's public key says so", async () => {
  const ctx = await trail(null);
  const { token } = addSource(ctx, "ehr-a");
  const answer = await get(ctx, QUERY, { Authorization: `Bearer ${token}` });
  expect(answer).toMatchObject({ status: 503, body: { error: { code: "no_aggregate_key" } } });
});
