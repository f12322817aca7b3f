import { createHash, createHmac, randomBytes } from "node:crypto";
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type Database from "better-sqlite3";
import { simpleParser, type AddressObject, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { openDatabase } from "../../db/connection";
import { makeTestContext, type TestContext } from "../../tests/context";
import { intrude, sampleRecord, seedTrail } from "../../tests/trail";
import { encodeFields } from "../crypto/encoding.server";
import { ALERT_SUBJECT, alertText, fingerprintFindings, formatFindings } from "./alerts.server";
import { ensureTrailIntact, type TrailStatus } from "./guard.server";
import { FINDING_KINDS, FINDING_LABELS, verifyTrail, type Finding } from "./verify.server";

const ADMINS = ["sec@hospital.test", "ciso@hospital.test"];
const FROM = "trail@hospital.test";

type Received = { mail: ParsedMail; raw: string; mailFrom: string | null; rcptTo: string[] };

const reopened: TestContext[] = [];
afterEach(() => {
  for (const ctx of reopened.splice(0)) if (ctx.conn.sqlite.open) ctx.conn.sqlite.close();
});

function expectCompromised(status: TrailStatus): Extract<TrailStatus, { ok: false }> {
  if (status.ok) throw new Error("expected the trail to be reported compromised");
  return status;
}

const modifyNotes = (seq: number) => (db: Database.Database) =>
  db.prepare("UPDATE audit_records SET notes_enc = notes_enc || x'00' WHERE seq = ?").run(seq);

const logIdAt = (ctx: TestContext, seq: number) =>
  (
    ctx.conn.sqlite.prepare("SELECT log_id FROM audit_records WHERE seq = ?").get(seq) as {
      log_id: string;
    }
  ).log_id;

const incidentRows = (ctx: TestContext) =>
  ctx.conn.sqlite
    .prepare(
      "SELECT fingerprint, detected_at, triggered_by, findings, notified_at, delivery FROM incidents ORDER BY id",
    )
    .all() as {
    fingerprint: Buffer;
    detected_at: number;
    triggered_by: string | null;
    findings: string;
    notified_at: number | null;
    delivery: string | null;
  }[];

const addresses = (field: AddressObject | AddressObject[] | undefined) =>
  (Array.isArray(field) ? field : field ? [field] : [])
    .flatMap((a) => a.value.map((v) => v.address))
    .sort();

/** The lines of the alert body, and the line after a group heading. */
function lineAfter(text: string, heading: string): string | undefined {
  const lines = text.split("\n");
  const at = lines.indexOf(heading);
  return at < 0 ? undefined : lines[at + 1];
}

/** Everything the seeded records say about patients, actors and notes: none of it may be mailed. */
function phiOf(count: number): string[] {
  const values = Array.from({ length: count }, (_, i) => sampleRecord(i)).flatMap((r) => [
    r.patientId,
    r.actorId,
    r.actorName,
    r.notes,
    r.tableAffected,
  ]);
  return [...new Set(values)];
}

describe("alerts over SMTP", () => {
  let smtp: SMTPServer;
  let port: number;
  let received: Received[];

  beforeEach(async () => {
    received = [];
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", () => {
          const raw = Buffer.concat(chunks);
          simpleParser(raw)
            .then((mail) => {
              received.push({
                mail,
                raw: raw.toString("utf8"),
                mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
                rcptTo: session.envelope.rcptTo.map((r) => r.address).sort(),
              });
              callback();
            })
            .catch(callback);
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      smtp.once("error", reject);
      smtp.listen(0, "127.0.0.1", () => resolve());
    });
    port = (smtp.server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  });

  const env = () => ({
    SMTP_URL: `smtp://127.0.0.1:${port}`,
    ADMIN_EMAILS: ADMINS.join(", "),
    ALERT_FROM: FROM,
  });

  /** The same files and settings opened by a new process: a new context, so a new guard state. */
  function restart(ctx: TestContext): TestContext {
    ctx.conn.sqlite.close();
    const again: TestContext = { ...ctx, conn: openDatabase(ctx.config.DATABASE_PATH) };
    reopened.push(again);
    return again;
  }

  test("a tamper mails both admins once, naming the record by seq and log id, without PHI", async () => {
    const ctx = makeTestContext(env());
    const logIds = await seedTrail(ctx, 9);
    expect((await ensureTrailIntact(ctx, { viewerId: null })).ok).toBe(true);
    intrude(ctx, modifyNotes(4));
    ctx.clock.now = Date.UTC(2026, 10, 3, 14, 30, 5);

    const status = expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-123" }));
    const delivery = await status.alert;
    expect(delivery).toEqual({ via: "smtp", messageId: expect.any(String) });
    expect(received).toHaveLength(1);
    const { mail, raw, mailFrom, rcptTo } = received[0]!;

    expect(mailFrom).toBe(FROM);
    expect(rcptTo).toEqual([...ADMINS].sort());
    expect(addresses(mail.to)).toEqual([...ADMINS].sort());
    expect(addresses(mail.from)).toEqual([FROM]);
    expect(mail.subject).toContain(ALERT_SUBJECT);
    expect(mail.subject).toContain("1 finding(s)");
    expect(mail.messageId).toBe(delivery!.via === "smtp" ? delivery!.messageId : null);
    expect(mail.headers.get("x-incident-fingerprint")).toBe(
      fingerprintFindings(ctx, status.findings).toString("hex").slice(0, 32),
    );

    const text = mail.text ?? "";
    expect(lineAfter(text, "Modified (1):")).toBe(
      `  - seq 4, log id ${logIds[3]}: the stored record differs from what was signed`,
    );
    expect(text).toContain("Detected at: 2026-11-03T14:30:05.000Z");
    expect(text).toContain("Triggered by (user id or source): user-123");
    expect(text).toContain("Checks failed: Modified");
    for (const phi of phiOf(9)) {
      expect(raw).not.toContain(phi);
      expect(text).not.toContain(phi);
      expect(mail.subject).not.toContain(phi);
    }

    const [incident, ...more] = incidentRows(ctx);
    expect(more).toHaveLength(0);
    expect(incident).toMatchObject({
      detected_at: ctx.clock.now,
      triggered_by: "user-123",
      notified_at: ctx.clock.now,
      delivery: `smtp ${delivery!.via === "smtp" ? delivery!.messageId : ""}`,
    });
    expect(incident!.fingerprint.equals(fingerprintFindings(ctx, status.findings))).toBe(true);
    expect(JSON.parse(incident!.findings)).toEqual(JSON.parse(JSON.stringify(status.findings)));
  });

  test("the same findings are mailed once per run, across viewers; a restart mails an open incident once more; new findings mail again", async () => {
    let ctx = makeTestContext(env());
    await seedTrail(ctx, 8);
    intrude(ctx, modifyNotes(3));

    const first = expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-1" }));
    expect(await first.alert).toMatchObject({ via: "smtp" });
    expect(received).toHaveLength(1);

    const again = expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-1" }));
    expect(again.findings).toEqual(first.findings);
    expect(await again.alert).toBeNull();
    const otherViewer = expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-2" }));
    expect(await otherViewer.alert).toBeNull();
    const forced = expectCompromised(
      await ensureTrailIntact(ctx, { viewerId: "user-2", force: true }),
    );
    expect(await forced.alert).toBeNull();

    // A server restart: nothing on disk may silence an alert, so the open incident is mailed
    // once more, and recorded once.
    ctx = restart(ctx);
    const afterRestart = expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-3" }));
    expect(afterRestart.findings).toEqual(first.findings);
    expect(await afterRestart.alert).toMatchObject({ via: "smtp" });
    expect(
      await expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-3" })).alert,
    ).toBeNull();
    expect(received).toHaveLength(2);
    expect(incidentRows(ctx)).toHaveLength(1);

    // A further tamper makes a different set of findings: a new incident and a new e-mail.
    intrude(ctx, modifyNotes(6));
    const second = expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-4" }));
    expect(second.findings.map((f) => f.seq)).toEqual([3, 6]);
    expect(await second.alert).toMatchObject({ via: "smtp" });
    expect(received).toHaveLength(3);
    const text = received[2]!.mail.text ?? "";
    expect(text).toContain("Modified (2):");
    expect(text).toContain(`seq 3, log id ${logIdAt(ctx, 3)}`);
    expect(text).toContain(`seq 6, log id ${logIdAt(ctx, 6)}`);
    expect(text).toContain("Triggered by (user id or source): user-4");
    expect(incidentRows(ctx).map((r) => r.triggered_by)).toEqual(["user-1", "user-4"]);

    // And that one too is mailed only once while the server runs.
    expect(
      await expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-5" })).alert,
    ).toBeNull();
    expect(received).toHaveLength(3);
  });

  test("a fingerprint planted in any file beside the head does not silence the alert", async () => {
    let ctx = makeTestContext(env());
    await seedTrail(ctx, 8);
    intrude(ctx, modifyNotes(3));
    const first = expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-1" }));
    await first.alert;
    // The intruder knows the keys, so can compute the incident's fingerprint, and writes it
    // wherever the server might look before the restart that follows.
    const fingerprint = incidentRows(ctx)[0]!.fingerprint.toString("hex");
    fs.writeFileSync(`${ctx.config.TRAIL_HEAD_PATH}.alerts`, `${fingerprint}\n`);
    ctx = restart(ctx);
    const after = expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-2" }));
    expect(await after.alert).toMatchObject({ via: "smtp" });
    expect(received).toHaveLength(2);
    expect(received[1]!.mail.text).toContain(`seq 3, log id ${logIdAt(ctx, 3)}`);
  });

  test("an intruder's incident row with a guessed fingerprint does not pre-empt the alert", async () => {
    const ctx = makeTestContext(env());
    await seedTrail(ctx, 8);
    expect((await ensureTrailIntact(ctx, { viewerId: null })).ok).toBe(true);
    intrude(ctx, (db) => {
      modifyNotes(5)(db);
      // The intruder runs the public verifier to learn the findings, then guesses fingerprints.
      const { findings } = verifyTrail(db, ctx.keys.trustedPublicKeys, {
        origin: ctx.config.TRAIL_ORIGIN,
        head: { state: "not_checked" },
      });
      expect(findings).toHaveLength(1);
      const lines = findings
        .map((f) => [f.kind, f.target, f.seq ?? "", f.logId ?? "", f.ref ?? ""].join("|"))
        .sort();
      const input = encodeFields(["ehr-audit-incident", ...lines]);
      const guesses = [
        createHash("sha256").update(JSON.stringify(findings)).digest(),
        createHash("sha256").update(lines.join("\n")).digest(),
        createHash("sha256").update(input).digest(),
        createHmac("sha256", Buffer.alloc(0)).update(input).digest(),
        createHmac("sha256", ctx.config.TRAIL_ORIGIN).update(input).digest(),
      ];
      const insert = db.prepare(
        "INSERT INTO incidents (fingerprint, detected_at, triggered_by, findings, notified_at, delivery) VALUES (?, 0, NULL, ?, 0, 'smtp pre-empted')",
      );
      for (const guess of guesses) insert.run(guess, JSON.stringify(findings));
    });

    const status = expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-9" }));
    expect(await status.alert).toMatchObject({ via: "smtp" });
    expect(received).toHaveLength(1);
    expect(received[0]!.mail.text).toContain(`seq 5, log id ${logIdAt(ctx, 5)}`);
    const ours = incidentRows(ctx).filter((r) => r.triggered_by === "user-9");
    expect(ours).toHaveLength(1);
    expect(ours[0]!.fingerprint.equals(fingerprintFindings(ctx, status.findings))).toBe(true);
    expect(ours[0]!.notified_at).toBe(ctx.clock.now);
  });

  test("several kinds of tamper at once are mailed under their group headings", async () => {
    const ctx = makeTestContext(env());
    await seedTrail(ctx, 8);
    const [two, five] = [logIdAt(ctx, 2), logIdAt(ctx, 5)];
    intrude(ctx, (db) => {
      modifyNotes(2)(db);
      db.prepare("DELETE FROM audit_records WHERE seq = 5").run();
      db.prepare(
        `INSERT INTO audit_records SELECT 9, 'forged-log-id', log_id, patient_index, actor_index,
           action_index, table_index, patient_id_enc, actor_id_enc, actor_name_enc, action_enc,
           table_affected_enc, notes_enc, occurred_at, recorded_at, source_id, key_id, randomblob(384), extra_enc,
             purpose_index, purpose_enc
         FROM audit_records WHERE seq = 8`,
      ).run();
    });
    const status = expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-1" }));
    expect(await status.alert).toMatchObject({ via: "smtp" });
    expect(received).toHaveLength(1);
    const text = received[0]!.mail.text ?? "";
    expect(lineAfter(text, "Modified (1):")).toMatch(new RegExp(`^  - seq 2, log id ${two}: `));
    expect(lineAfter(text, "Missing (1):")).toMatch(new RegExp(`^  - seq 5, log id ${five}: `));
    expect(lineAfter(text, "Inserted (1):")).toMatch(/^ {2}- seq 9, log id forged-log-id: /);
    const checks = text.split("\n").find((l) => l.startsWith("Checks failed: "));
    expect(checks?.slice("Checks failed: ".length).split(", ").sort()).toEqual([
      "Inserted",
      "Missing",
      "Modified",
    ]);
    expect(received[0]!.mail.subject).toContain("3 finding(s)");
    for (const phi of phiOf(8)) expect(received[0]!.raw).not.toContain(phi);
  });

  test("with SMTP_URL but no ADMIN_EMAILS the alert goes to the outbox, not the server", async () => {
    const ctx = makeTestContext({ SMTP_URL: `smtp://127.0.0.1:${port}` });
    await seedTrail(ctx, 4);
    intrude(ctx, modifyNotes(1));
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      const delivery = await expectCompromised(await ensureTrailIntact(ctx, { viewerId: null }))
        .alert;
      expect(delivery).toMatchObject({ via: "outbox" });
      expect(warn).toHaveBeenCalledTimes(1);
    } finally {
      warn.mockRestore();
    }
    expect(received).toHaveLength(0);
  });
});

describe("alerts without SMTP", () => {
  test("are written as .eml files to OUTBOX_DIR and announced with console.warn", async () => {
    const ctx = makeTestContext({ ADMIN_EMAILS: ADMINS.join(","), ALERT_FROM: FROM });
    const logIds = await seedTrail(ctx, 6);
    intrude(ctx, modifyNotes(6));
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      const status = expectCompromised(await ensureTrailIntact(ctx, { viewerId: null }));
      const delivery = await status.alert;
      if (delivery?.via !== "outbox") throw new Error(`expected the outbox: ${String(delivery)}`);
      expect(path.dirname(delivery.file)).toBe(ctx.config.OUTBOX_DIR);
      expect(delivery.file).toMatch(/\.eml$/);
      expect(fs.readdirSync(ctx.config.OUTBOX_DIR)).toEqual([path.basename(delivery.file)]);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]![0]).toContain(delivery.file);

      const mail = await simpleParser(fs.readFileSync(delivery.file));
      expect(mail.subject).toContain(ALERT_SUBJECT);
      expect(addresses(mail.to)).toEqual([...ADMINS].sort());
      expect(addresses(mail.from)).toEqual([FROM]);
      expect(lineAfter(mail.text ?? "", "Modified (1):")).toContain(`seq 6, log id ${logIds[5]}`);
      expect(mail.text).toContain("Triggered by (user id or source): none, the start-up check");
      for (const phi of phiOf(6)) expect(fs.readFileSync(delivery.file, "utf8")).not.toContain(phi);
      expect(incidentRows(ctx)[0]).toMatchObject({ delivery: delivery.file });

      // Written once: the same findings again write nothing more.
      await expectCompromised(await ensureTrailIntact(ctx, { viewerId: "user-1" })).alert;
      expect(fs.readdirSync(ctx.config.OUTBOX_DIR)).toHaveLength(1);
      expect(warn).toHaveBeenCalledTimes(1);
    } finally {
      warn.mockRestore();
    }
  });
});

describe("the alert text", () => {
  const detail = (kind: string) => `detail of ${kind}`;
  const oneOfEach: Finding[] = FINDING_KINDS.map((kind, i) => ({
    kind,
    target: "record",
    seq: i + 1,
    logId: `log-${kind}`,
    detail: detail(kind),
  }));

  test("groups findings by kind under each kind's label, in the order of FINDING_KINDS", () => {
    const lines = formatFindings([...oneOfEach].reverse());
    const headings = lines.filter((l) => !l.startsWith("  "));
    expect(headings).toEqual(FINDING_KINDS.map((kind) => `${FINDING_LABELS[kind]} (1):`));
    for (const [i, kind] of FINDING_KINDS.entries()) {
      expect(lineAfter(lines.join("\n"), `${FINDING_LABELS[kind]} (1):`)).toBe(
        `  - seq ${i + 1}, log id log-${kind}: ${detail(kind)}`,
      );
    }
  });

  test("counts a group and names checkpoints, users and the database by what they are", () => {
    const findings: Finding[] = [
      { kind: "modified", target: "record", seq: 4, logId: "a", detail: "changed" },
      { kind: "modified", target: "user", ref: "user-7", detail: "account changed" },
      { kind: "missing", target: "record", seq: 5, logId: null, detail: "gone" },
      { kind: "bad_checkpoint", target: "checkpoint", ref: "3", detail: "bad root" },
      { kind: "rollback", target: "database", detail: "the file was replaced" },
    ];
    expect(formatFindings(findings)).toEqual([
      "Modified (2):",
      "  - seq 4, log id a: changed",
      "  - user user-7: account changed",
      "Missing (1):",
      "  - seq 5: gone",
      "Bad checkpoint (1):",
      "  - checkpoint #3: bad root",
      "Rolled back (1):",
      "  - database: the file was replaced",
    ]);
    expect(formatFindings([])).toEqual([]);
  });

  test("names the time, the trigger and the failed checks once each", () => {
    const at = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6));
    const findings: Finding[] = [
      { kind: "missing", target: "record", seq: 2, logId: "x", detail: "gone" },
      { kind: "modified", target: "record", seq: 1, logId: "y", detail: "changed" },
      { kind: "missing", target: "record", seq: 3, logId: "z", detail: "gone" },
    ];
    const text = alertText(findings, at, "source-abc");
    expect(text).toContain("Detected at: 2026-01-02T03:04:05.006Z");
    expect(text).toContain("Triggered by (user id or source): source-abc");
    expect(text).toContain("Checks failed: Modified, Missing\n");
    expect(text).toContain(formatFindings(findings).join("\n"));
    expect(alertText(findings, at, null)).toContain(
      "Triggered by (user id or source): none, the start-up check",
    );
  });

  test("fingerprints ignore order and wording but not positions, and are keyed", () => {
    const ctx = makeTestContext();
    const findings: Finding[] = [
      { kind: "modified", target: "record", seq: 4, logId: "a", detail: "changed" },
      { kind: "missing", target: "record", seq: 5, logId: "b", detail: "gone" },
    ];
    const fingerprint = fingerprintFindings(ctx, findings);
    expect(fingerprintFindings(ctx, [...findings].reverse()).equals(fingerprint)).toBe(true);
    expect(
      fingerprintFindings(
        ctx,
        findings.map((f) => ({ ...f, detail: "other words" })),
      ).equals(fingerprint),
    ).toBe(true);
    expect(
      fingerprintFindings(ctx, [{ ...findings[0]!, seq: 6 }, findings[1]!]).equals(fingerprint),
    ).toBe(false);
    expect(fingerprintFindings(ctx, findings.slice(1)).equals(fingerprint)).toBe(false);
    const otherKey = { ...ctx, keys: { ...ctx.keys, blindIndexKey: randomBytes(32) } };
    expect(fingerprintFindings(otherKey, findings).equals(fingerprint)).toBe(false);
  });
});
