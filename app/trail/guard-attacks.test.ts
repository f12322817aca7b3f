// Attacks on the guard itself: silencing the alert, racing the full pass, swapping the file early.
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { expect, test, vi } from "vitest";
import { makeTestContext } from "../../tests/context";
import { intrude, seedTrail } from "../../tests/trail";
import { ensureTrailIntact, TrailCompromisedError, verifyNow } from "./guard.server";

const tamper = (db: import("better-sqlite3").Database) =>
  db.prepare("UPDATE audit_records SET notes_enc = notes_enc || x'00' WHERE seq = 2").run();

test("an intruder's trigger on the incidents table does not silence the alert", async () => {
  const ctx = makeTestContext();
  await seedTrail(ctx, 4);
  expect((await ensureTrailIntact(ctx)).ok).toBe(true);
  intrude(ctx, (db) => {
    db.exec("CREATE TRIGGER quiet BEFORE INSERT ON incidents BEGIN SELECT RAISE(IGNORE); END;");
    tamper(db);
  });
  const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
  const status = await ensureTrailIntact(ctx, { viewerId: "u" });
  expect(status.ok).toBe(false);
  const delivery = status.ok ? null : await status.alert;
  warn.mockRestore();
  expect(delivery).not.toBeNull();
});

test("a catch-all unique index on the incidents table does not silence the alert", async () => {
  const ctx = makeTestContext();
  await seedTrail(ctx, 4);
  expect((await ensureTrailIntact(ctx)).ok).toBe(true);
  intrude(ctx, (db) => {
    db.exec("INSERT INTO incidents (fingerprint, detected_at, findings) VALUES (x'00', 0, '[]');");
    db.exec("CREATE UNIQUE INDEX quiet ON incidents((1));");
    tamper(db);
  });
  const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
  const status = await ensureTrailIntact(ctx, { viewerId: "u" });
  const delivery = status.ok ? null : await status.alert;
  warn.mockRestore();
  expect(delivery).not.toBeNull();
});

test("an alert that failed to send is sent on a later check, also after a restart", async () => {
  const down = new SMTPServer({ authOptional: true });
  await new Promise<void>((r) => down.listen(0, "127.0.0.1", r));
  const port = (down.server.address() as AddressInfo).port;
  await new Promise<void>((r) => down.close(() => r())); // the mail server is down
  const ctx = makeTestContext({ SMTP_URL: `smtp://127.0.0.1:${port}`, ADMIN_EMAILS: "a@h.test" });
  await seedTrail(ctx, 4);
  intrude(ctx, tamper);
  const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
  const first = await ensureTrailIntact(ctx, { viewerId: "u" });
  expect(first.ok ? "ok" : await first.alert).toBeNull(); // ECONNREFUSED, logged
  error.mockRestore();

  let mails = 0;
  const up = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    onData(stream, _s, cb) {
      stream.resume();
      stream.on("end", () => (mails++, cb()));
    },
  });
  await new Promise<void>((r) => up.listen(port, "127.0.0.1", r)); // the mail server is back
  try {
    const second = await ensureTrailIntact(ctx, { viewerId: "u" });
    await (second.ok ? null : second.alert);

    expect(mails).toBe(1);
  } finally {
    await new Promise<void>((r) => up.close(() => r()));
  }
});

test("a write committed during a full pass is not remembered as verified", async () => {
  const ctx = makeTestContext();
  await seedTrail(ctx, 8);
  // onProgress runs between the chunk reads and the data_version read, like any concurrent writer.
  verifyNow(ctx, { onProgress: () => intrude(ctx, tamper) });
  const status = await ensureTrailIntact(ctx, { viewerId: null });
  expect(status.ok).toBe(false);
});

test("a database deleted before the first verification is reported, and takes no appends", async () => {
  const ctx = makeTestContext();
  fs.unlinkSync(ctx.config.DATABASE_PATH);
  // Appends would go to the unlinked file and be lost at the next start.
  await expect(seedTrail(ctx, 4)).rejects.toThrow(TrailCompromisedError);
  const status = await ensureTrailIntact(ctx, { viewerId: null });
  expect(status.ok).toBe(false);
  expect(!status.ok && status.findings).toEqual([
    expect.objectContaining({ kind: "missing", target: "database" }),
  ]);
});
