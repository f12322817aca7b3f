// Review of the account binding (docs/decisions/009, "Consequences"): an intruder who holds every
// key the server holds, and writes the database through a connection of their own or as bytes
// beside SQLite, tries to make an account open another patient's records, or lock its owner out.
// The first login on the trail is meant to be what "no key rewrites"; these tests ask whether the
// check reads it as the witnesses anchor it, or only as the stolen key signs it.
import type Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { alertTexts, openMailbox, type Mailbox } from "../../tests/mailbox";
import { nextView, rebindAccount } from "../../tests/accounts";
import { intrude, putRecord, resignRecord, seedTrail } from "../../tests/trail";
import { loggedInRequest, storedAccount } from "../../tests/users";
import { encryptField } from "../crypto/fields.server";
import { blindIndex } from "../crypto/hashing.server";
import { loadOrCreateKeys } from "../keys.server";
import type { User } from "../models/user.server";
import { COL, type RawRecord } from "../trail/encoding.server";
import { ensureTrailIntact } from "../trail/guard.server";
import { needsFullVerification, states } from "../trail/guard-state.server";
import { accountBindingFinding } from "./account-binding.server";

let mailbox: Mailbox;
let ctx: TestContext;
beforeEach(async () => {
  mailbox = await openMailbox();
  ctx = makeTestContext(mailbox.env);
  await seedTrail(ctx, 4); // records of MRN-100 (seq 1 and 4) and MRN-101 (seq 2)
});
afterEach(async () => {
  // Alerts go out in the background: let those in flight arrive before the mailbox closes.
  for (let seen = -1, waited = 0; seen !== mailbox.mails.length && waited < 3000; waited += 250) {
    seen = mailbox.mails.length;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await mailbox.close();
});

/**
 * Where the intruder's write lands. "second connection" moves PRAGMA data_version, so the guard
 * verifies in full before the next view. "beside SQLite" stands for bytes written into the file
 * (docs/decisions/009): nothing the guard watches moves; as in verified-read.test.ts it is
 * modelled by writing through the server's own connection.
 */
type Via = "second connection" | "beside SQLite";
const write = <T>(via: Via, act: (db: Database.Database) => T): T =>
  via === "beside SQLite" ? act(ctx.conn.sqlite) : intrude(ctx, act);

const stolenKeys = () => loadOrCreateKeys(ctx.config.KEYS_DIR, ctx.config.TRAIL_ORIGIN).keys;

/** Logs `user` in as the login route does: the login recorded, then the session. */
const loggedIn = (user: User) => loggedInRequest(ctx, user);

/** The account's row re-sealed bound to `patientId` and signed again with the stolen key. */
const rebind = (user: User, patientId: string, via: Via) =>
  write(via, (db) => rebindAccount(db, stolenKeys(), user, { role: user.role, patientId }));

/** The seq of the first record whose actor is `user`: its first login in these tests. */
const firstLoginSeq = (user: User) =>
  (
    ctx.conn.sqlite
      .prepare("SELECT seq FROM audit_records WHERE actor_index = ? ORDER BY seq LIMIT 1")
      .get(blindIndex(ctx.keys.blindIndexKey, "actor", user.id)) as { seq: number }
  ).seq;

/** A record re-sealed to name `patientId` and signed again with the stolen key; the original. */
function resealRecord(seq: number, patientId: string, via: Via): RawRecord {
  const keys = stolenKeys();
  return write(via, (db) =>
    resignRecord(db, keys, seq, (row) => {
      row[COL.patientIdEnc] = encryptField(keys.fieldKey, patientId, {
        table: "audit_records",
        column: "patient_id",
        rowId: row[COL.logId],
      });
      row[COL.patientIndex] = blindIndex(keys.blindIndexKey, "patient_id", patientId);
    }),
  );
}

/** The actor blind index of every record by `user` rewritten: the binding's query misses them. */
function hideLogins(user: User, via: Via) {
  const index = blindIndex(stolenKeys().blindIndexKey, "actor", user.id);
  const other = Buffer.from(index);
  other[0]! ^= 0xff;
  write(via, (db) =>
    db.prepare("UPDATE audit_records SET actor_index = ? WHERE actor_index = ?").run(other, index),
  );
}

const alerts = () => alertTexts(mailbox);

const next = (request: Request) => nextView(ctx, request);

/** The guard has verified the file as it is now, with no finding. */
async function verifiedClean() {
  expect((await ensureTrailIntact(ctx, { viewerId: null, force: true })).ok).toBe(true);
  expect(needsFullVerification(ctx, states.get(ctx))).toBe(false);
}

describe("the first login hidden from the binding's query", () => {
  it("through a second connection: the full pass catches the index, nothing opens", async () => {
    const alice = storedAccount(ctx, "patient", "MRN-100");
    const request = await loggedIn(alice);
    hideLogins(alice, "second connection");
    rebind(alice, "MRN-101", "second connection");
    const outcome = await next(request);
    expect(outcome).not.toContain("MRN-101");
    expect(outcome).toMatch(/^refused 503|^withheld$/);
  });

  it("beside SQLite, before the account's binding was read in this process: nothing opens", async () => {
    const alice = storedAccount(ctx, "patient", "MRN-100");
    const request = await loggedIn(alice); // e.g. the server restarted since Alice's last visit
    await verifiedClean();
    hideLogins(alice, "beside SQLite");
    rebind(alice, "MRN-101", "beside SQLite");
    // No login is found for an account that holds a session: that must not let it through.
    expect(await next(request)).not.toContain("MRN-101");
  });
});

describe("the first login re-signed with the stolen key, beside SQLite", () => {
  it("does not bind the account to the patient the intruder wrote into it", async () => {
    const alice = storedAccount(ctx, "patient", "MRN-100");
    const request = await loggedIn(alice);
    await verifiedClean();
    resealRecord(firstLoginSeq(alice), "MRN-101", "beside SQLite");
    rebind(alice, "MRN-101", "beside SQLite");
    expect(await next(request)).not.toContain("MRN-101");
  });

  it("is not remembered once the record is found modified and put back", async () => {
    const alice = storedAccount(ctx, "patient", "MRN-100");
    const request = await loggedIn(alice);
    await verifiedClean();
    const seq = firstLoginSeq(alice);
    const original = resealRecord(seq, "MRN-101", "beside SQLite");
    rebind(alice, "MRN-101", "beside SQLite");
    await next(request); // the binding is read (whatever this view shows)
    // The pass at a fixed interval finds the trail changed (it names a checkpoint: the re-signed
    // record passes its own check); nothing names the account.
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    expect((await ensureTrailIntact(ctx, { viewerId: null, force: true })).ok).toBe(false);
    warn.mockRestore();
    // The operator puts the record back; the account's row, validly signed, is in no finding.
    write("second connection", (db) => putRecord(db, original));
    await verifiedClean();
    // The trail says Alice is MRN-100, her row says MRN-101: a fresh process sees it...
    const rebound = { ...alice, patientId: "MRN-101" };
    expect(await accountBindingFinding({ ...ctx }, rebound)).not.toBeNull();
    // ...and this one, which read the binding from the re-signed record, must not show MRN-101.
    expect(await next(request)).not.toContain("MRN-101");
  });

  it("does not lock the owner out for good once the record is put back", async () => {
    const alice = storedAccount(ctx, "patient", "MRN-100");
    const request = await loggedIn(alice);
    await verifiedClean();
    const seq = firstLoginSeq(alice);
    const original = resealRecord(seq, "MRN-999", "beside SQLite");
    expect(await next(request)).toMatch(/^refused 503|^withheld$/);
    write("second connection", (db) => putRecord(db, original));
    await verifiedClean();
    expect(await accountBindingFinding({ ...ctx }, alice)).toBeNull(); // as a fresh process reads it
    mailbox.mails.length = 0;
    expect(await next(request)).toBe("MRN-100");
    expect(alerts()).not.toContain(alice.id);
  });
});

describe("a login while the trail is compromised", () => {
  it("leaves no session that a later rebinding opens to another patient", async () => {
    const alice = storedAccount(ctx, "patient", "MRN-100");
    await verifiedClean();
    // Any edit the guard sees: the trail refuses appends, so the login is not recorded.
    write("second connection", (db) =>
      db.prepare("UPDATE audit_records SET occurred_at = occurred_at + 1 WHERE seq = 2").run(),
    );
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    expect((await ensureTrailIntact(ctx, { viewerId: null })).ok).toBe(false);
    warn.mockRestore();
    expect(await accountBindingFinding(ctx, alice)).toBeNull(); // as the login route checks
    const request = await loggedIn(alice);
    // The edit undone: the trail verifies again; then the row rebound with the stolen key.
    write("second connection", (db) =>
      db.prepare("UPDATE audit_records SET occurred_at = occurred_at - 1 WHERE seq = 2").run(),
    );
    await verifiedClean();
    rebind(alice, "MRN-101", "second connection");
    expect(await next(request)).not.toContain("MRN-101");
  });
});
