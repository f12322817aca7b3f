import type { AppContext } from "../context.server";
import { findPaillierPrivateKey } from "../crypto/paillier-private.server";
import { findPaillierPublicKey, paillierKeyId } from "../crypto/paillier.server";
import type { User } from "../models/user.server";
import type { Dimension } from "../trail/aggregate-file.server";
import { openAggregate } from "./aggregate-open.server";
import { buildAggregateFile } from "./aggregates.server";

// The dashboard's check of the encrypted counters against the plain counts, for today. The
// private key is never on a real trail's server: only in the demo does it sit in KEYS_DIR, and
// only then are the totals opened here. Elsewhere the audit company opens them.

export type TotalRow = { dimension: Dimension; key: string; plain: number; decrypted: number };

export type EncryptedTotals =
  | { state: "off" }
  | { state: "sealed"; keyId: string }
  | { state: "open"; day: string; keyId: string; rows: TotalRow[]; match: boolean }
  | { state: "refused"; problems: string[] }
  | { state: "empty" }
  | { state: "busy" }
  | { state: "compromised" };

/** Today's counters, encrypted and signed as the API serves them, then opened when the private key is at hand. */
export async function encryptedTotals(ctx: AppContext, viewer: User): Promise<EncryptedTotals> {
  const publicKey = findPaillierPublicKey(ctx.config.KEYS_DIR);
  if (!publicKey) return { state: "off" };
  const privateKey = findPaillierPrivateKey(ctx.config.KEYS_DIR);
  if (!privateKey) return { state: "sealed", keyId: paillierKeyId(publicKey) };
  const day = new Date(ctx.now()).toISOString().slice(0, 10);
  const built = await buildAggregateFile(ctx, viewer.id, { from: day, to: day });
  if (!built.ok) {
    return {
      state: built.reason === "compromised" || built.reason === "busy" ? built.reason : "empty",
    };
  }
  // Opened as the audit company opens a file it was sent: from its JSON, every check made.
  const opened = openAggregate(
    JSON.parse(JSON.stringify(built.file)),
    privateKey,
    ctx.keys.trustedPublicKeys,
  );
  if (!opened.ok) return { state: "refused", problems: opened.problems };
  const decrypted = new Map(opened.value.cells.map((c) => [`${c.dimension} ${c.key}`, c.count]));
  const rows = built.plain
    .map((p) => ({
      dimension: p.dimension,
      key: p.key,
      plain: p.count,
      decrypted: decrypted.get(`${p.dimension} ${p.key}`) ?? -1,
    }))
    .filter((r) => r.plain !== 0 || r.decrypted !== 0);
  return {
    state: "open",
    day,
    keyId: opened.value.paillierKeyId,
    rows,
    match: rows.every((r) => r.plain === r.decrypted),
  };
}
