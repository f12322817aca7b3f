import Database from "better-sqlite3";
import { expect, test } from "@playwright/test";
import { E2E_ENV } from "./env";
import { cli, event, unique } from "./support";

function recordCount(): number {
  const db = new Database(E2E_ENV.DATABASE_PATH, { readonly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM audit_records").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

let token: string;
test.beforeAll(() => {
  token = cli("source", "add", unique("api-source"));
});

const auth = () => ({ Authorization: `Bearer ${token}` });

test("one event is stored: 201 with its id, seq and the new signed checkpoint", async ({
  request,
}) => {
  const response = await request.post("/api/audit-events", {
    headers: auth(),
    data: event("MRN-API-1"),
  });
  expect(response.status()).toBe(201);
  const body = await response.json();
  expect(body.records).toHaveLength(1);
  expect(body.records[0].log_id).toMatch(/^[0-9a-f-]{36}$/);
  expect(body.checkpoint).toMatchObject({ tree_size: body.records[0].seq });
  expect(body.checkpoint.root_hash).toMatch(/^[0-9a-f]{64}$/);
  expect(body.checkpoint.key_id).toMatch(/^[0-9a-f]{64}$/);
});

test("a batch is stored in seq order under one checkpoint", async ({ request }) => {
  const response = await request.post("/api/audit-events", {
    headers: auth(),
    data: { records: [event("MRN-API-2"), event("MRN-API-3"), event("MRN-API-2")] },
  });
  expect(response.status()).toBe(201);
  const { records, checkpoint } = await response.json();
  const seqs = records.map((r: { seq: number }) => r.seq);
  expect(seqs).toEqual([seqs[0], seqs[0] + 1, seqs[0] + 2]);
  expect(checkpoint.tree_size).toBe(seqs[2]);
});

test("a missing, wrong or revoked token gets 401", async ({ request }) => {
  const none = await request.post("/api/audit-events", { data: event("MRN-1") });
  expect(none.status()).toBe(401);
  expect(none.headers()["www-authenticate"]).toContain("Bearer");
  expect((await none.json()).error.code).toBe("unauthorized");

  const wrong = await request.post("/api/audit-events", {
    headers: { Authorization: "Bearer ehrat_not-a-real-token" },
    data: event("MRN-1"),
  });
  expect(wrong.status()).toBe(401);

  const name = unique("revoked");
  const revoked = cli("source", "add", name);
  cli("source", "revoke", name);
  const after = await request.post("/api/audit-events", {
    headers: { Authorization: `Bearer ${revoked}` },
    data: event("MRN-1"),
  });
  expect(after.status()).toBe(401);
});

test("bad fields get 400 with an error per field, and store nothing", async ({ request }) => {
  const before = recordCount();
  const response = await request.post("/api/audit-events", {
    headers: auth(),
    data: event("MRN-1", { action: "teleport", occurred_at: "yesterday", extra: 1 }),
  });
  expect(response.status()).toBe(400);
  const { error } = await response.json();
  expect(error.code).toBe("invalid_fields");
  // The unknown key is reported on the body itself.
  expect(Object.keys(error.fields).sort()).toEqual(["action", "body", "occurred_at"]);
  expect(recordCount()).toBe(before);
});

test("a batch with one bad record stores nothing", async ({ request }) => {
  const before = recordCount();
  const response = await request.post("/api/audit-events", {
    headers: auth(),
    data: {
      records: [event("MRN-1"), event("MRN-2"), event("MRN-3", { table_affected: "Bad Table" })],
    },
  });
  expect(response.status()).toBe(400);
  expect((await response.json()).error.fields).toHaveProperty(["records.2.table_affected"]);
  expect(recordCount()).toBe(before);
});

test("malformed JSON gets 400, another content type 415, a large body 413", async ({ request }) => {
  const malformed = await request.post("/api/audit-events", {
    headers: { ...auth(), "Content-Type": "application/json" },
    data: Buffer.from("{ not json"),
  });
  expect(malformed.status()).toBe(400);
  expect((await malformed.json()).error.code).toBe("invalid_json");

  const text = await request.post("/api/audit-events", {
    headers: { ...auth(), "Content-Type": "text/plain" },
    data: JSON.stringify(event("MRN-1")),
  });
  expect(text.status()).toBe(415);
  expect((await text.json()).error.code).toBe("unsupported_media_type");

  const before = recordCount();
  const huge = await request.post("/api/audit-events", {
    headers: auth(),
    data: event("MRN-1", { notes: "x".repeat(1024 * 1024 + 10) }),
  });
  expect(huge.status()).toBe(413);
  expect((await huge.json()).error.code).toBe("payload_too_large");
  expect(recordCount()).toBe(before);
});

test("a batch over the limit is refused", async ({ request }) => {
  const response = await request.post("/api/audit-events", {
    headers: auth(),
    data: { records: Array.from({ length: 1001 }, () => event("MRN-1", { notes: "" })) },
  });
  expect(response.status()).toBe(400);
  expect((await response.json()).error.fields).toHaveProperty(["records"]);
});
