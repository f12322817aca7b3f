// Witness cosignatures as stored are not trusted (db/schema.ts): rows an intruder plants, with
// sizes the trail never had, must not hide the genuine ones, and a query for some witnesses'
// newest cosignatures reads those and no others.
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { afterEach, describe, expect, it } from "vitest";
import { makeTestContext } from "../../tests/context";
import { openMailbox, type Mailbox } from "../../tests/mailbox";
import { intrude, sampleRecord, seedTrail } from "../../tests/trail";
import { auditor } from "../../tests/users";
import { startTrailWitnesses } from "../../tests/witnesses";
import { VerifiedLine } from "../components/verified-line";
import { newestCosignatures } from "../models/cosignature.server";
import { viewTrail } from "../services/trail-view.server";
import { appendRecords } from "./append.server";
import { ensureTrailIntact } from "./guard.server";
import { checkWitnessLag } from "./witness-status.server";
import { startWitnessing, witnessingSettled, type Witnessing } from "./witnessing.server";

describe("witness cosignature rows planted with larger tree sizes", () => {
  let mailbox: Mailbox;
  let witnessing: Witnessing | null = null;
  afterEach(async () => {
    await witnessing?.stop();
    witnessing = null;
    await mailbox.close();
  });

  it("do not hide the genuine cosignatures: the trail stays witnessed, or it is a finding", async () => {
    mailbox = await openMailbox();
    const { env } = await startTrailWitnesses();
    const ctx = makeTestContext({ ...mailbox.env, ...env });
    witnessing = await startWitnessing(ctx);
    await seedTrail(ctx, 12, 4);
    await witnessingSettled(ctx);
    expect(await checkWitnessLag(ctx)).toMatchObject({ witnesses: 2, cosigners: 2 });

    // Sixteen rows per witness, copied from its genuine ones under sizes the trail never had.
    intrude(ctx, (db) =>
      db.exec(`
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 16)
        INSERT INTO witness_cosignatures
          (key_name, key_id, tree_size, root_hash, checkpoint_number, timestamp, signature_line)
        SELECT key_name, key_id, 1000000 + i, root_hash, checkpoint_number, timestamp, signature_line
        FROM witness_cosignatures, n WHERE tree_size = 12`),
    );
    // A record appended and cosigned by both witnesses after the planting.
    await appendRecords(ctx, [sampleRecord(12)]);
    await witnessingSettled(ctx);

    const status = await ensureTrailIntact(ctx, { viewerId: null });
    const lag = await checkWitnessLag(ctx);
    // schema.ts: "An edited or planted row is ignored". Either it is, or it is a finding.
    if (status.ok) {
      expect(lag).toMatchObject({ cosigners: 2, checkpointNumber: 4 });
      const view = await viewTrail(ctx, auditor);
      const line = view.ok
        ? renderToStaticMarkup(createElement(VerifiedLine, { status: view.status }))
        : "";
      expect(line).toMatch(/witnessed by 2 of 2/);
    } else {
      await status.alert;
      expect(mailbox.mails.map((m) => m.text).join("\n")).toMatch(/witness/);
    }
  });
});

describe("newestCosignatures", () => {
  it("reads the newest sizes of every key asked for, and of no other size or key", async () => {
    const ctx = makeTestContext();
    await seedTrail(ctx, 12, 3); // checkpoints 1-4 at sizes 3, 6, 9, 12
    intrude(ctx, (db) =>
      db.exec(`
        INSERT INTO witness_cosignatures
          (key_name, key_id, tree_size, root_hash, checkpoint_number, timestamp, signature_line)
        SELECT w.name, w.id, c.tree_size, c.root_hash, c.number, 0, 'line'
        FROM checkpoints c, (SELECT 'a' AS name, 1 AS id UNION ALL SELECT 'b', 2
                             UNION ALL SELECT 'c', 3) w`),
    );
    const keys = [
      { name: "a", keyId: 1 },
      { name: "b", keyId: 2 },
    ];
    const read = (sizes: number) =>
      newestCosignatures(ctx, keys, sizes).map((r) => `${r.keyName}@${r.treeSize}`);
    expect(read(1)).toEqual(["a@12", "b@12"]);
    expect(read(2)).toEqual(["a@12", "b@12", "a@9", "b@9"]);
  });
});
