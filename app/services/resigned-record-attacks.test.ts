// An intruder who holds the trail's private key rewrites a record the patient is about to see
// (another clinician's name, so the snooper does not show) and signs it again, as bytes written
// beside SQLite: nothing the guard watches moves. The signature is valid; the leaf the verified
// tree holds at that seq is not these bytes, so the view refuses and the admins hear of it.
import { afterEach, beforeEach, expect, test } from "vitest";
import { makeTestContext, type TestContext } from "../../tests/context";
import { alertTexts, openMailbox, type Mailbox } from "../../tests/mailbox";
import { resignRecord, seedTrail } from "../../tests/trail";
import { patient } from "../../tests/users";
import { encryptField } from "../crypto/fields.server";
import { loadOrCreateKeys } from "../keys.server";
import { COL } from "../trail/encoding.server";
import { ensureTrailIntact } from "../trail/guard.server";
import { states } from "../trail/guard-state.server";
import { viewTrail } from "./trail-view.server";

let mailbox: Mailbox;
let ctx: TestContext;
beforeEach(async () => {
  mailbox = await openMailbox();
  ctx = makeTestContext(mailbox.env);
  await seedTrail(ctx, 12);
});
afterEach(() => mailbox.close());

const alice = patient("MRN-100");

/** Record `seq` with another actor name, sealed and signed with the keys read from KEYS_DIR. */
function resign(seq: number, actorName: string) {
  const { keys } = loadOrCreateKeys(ctx.config.KEYS_DIR, ctx.config.TRAIL_ORIGIN);
  // Through the server's own connection: no commit another connection would announce.
  resignRecord(ctx.conn.sqlite, keys, seq, (row) => {
    row[COL.actorNameEnc] = encryptField(keys.fieldKey, actorName, {
      table: "audit_records",
      column: "actor_name",
      rowId: row[COL.logId],
    });
  });
}

async function shownSeqs(): Promise<number[] | "withheld"> {
  const view = await viewTrail(ctx, alice);
  return view.ok ? view.records.map((r) => r.seq) : "withheld";
}

test.each([
  ["checked against the leaf hash the server keeps, and named", true],
  ["proven against the verified root when it keeps none", false],
])("a record re-signed with the stolen key is not shown: %s", async (_, kept) => {
  expect((await ensureTrailIntact(ctx, { viewerId: null, force: true })).ok).toBe(true);
  expect(states.get(ctx)!.leaves?.size).toBe(12);
  if (!kept) states.get(ctx)!.leaves = null;
  const before = await shownSeqs();
  expect(before).not.toBe("withheld");
  const seq = (before as number[])[0]!;
  resign(seq, "Dr. Nobody");
  expect(await shownSeqs()).toBe("withheld");
  await mailbox.received(1);
  // With no memory of the leaf, the pass can only say the records no longer give the root.
  expect(alertTexts(mailbox)).toContain(kept ? `seq ${seq}` : "Bad checkpoint");
});

test("the leaf hashes kept follow this process's appends and stay true", async () => {
  await seedTrail(ctx, 4);
  expect(states.get(ctx)!.leaves?.size).toBe(16);
  expect(await shownSeqs()).not.toBe("withheld");
});
