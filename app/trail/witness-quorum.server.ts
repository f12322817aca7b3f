import type Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import * as schema from "../../db/schema";
import { formatCheckpoint, parseVerifierKey, SIG_COSIGNATURE_V1 } from "../crypto/note";
import type { VerifierKey } from "../crypto/note";
import { cosignaturesBy } from "../models/cosignature.server";
import type { WitnessedHead } from "./anchor-check.server";
import type { Finding } from "./findings";
import type { CheckpointInfo } from "./verify.server";
import { fetchWitnessedHead, type HeadFetch } from "./witness-anchor.server";
import { verifyCosignatureLines } from "./witness-client.server";

// `verify --witness VKEY[@URL] … --quorum N`: the witnesses, not any file on the server's disk,
// say which history is the real one (docs/decisions/016).

/** A witness given on the command line: its key, and where to ask it, if anywhere. */
export type WitnessArg = { key: VerifierKey; vkey: string; url: string | null };

/** How many of a witness's newest stored cosignatures are checked. */
const STORED_SEARCHED = 16;

/** `VKEY` or `VKEY@URL`; throws an Error that says what is wrong. */
export async function parseWitnessArg(text: string): Promise<WitnessArg> {
  // The key ends in base64, which has no "@"; a URL may have one (user@host).
  const [, vkey = "", url] = /^(.+?\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+)(?:@(.*))?$/.exec(text) ?? [];
  const key = await parseVerifierKey(vkey).catch((error: unknown) => {
    throw new Error(`${text}: not a witness verifier key (${(error as Error).message})`);
  });
  if (key.type !== SIG_COSIGNATURE_V1) {
    throw new Error(`${text}: a witness key has type 0x04 (cosignature/v1)`);
  }
  if (url !== undefined && !(URL.canParse(url) && /^https?:$/.test(new URL(url).protocol))) {
    throw new Error(`${text}: no http:// or https:// URL after the @`);
  }
  return { key, vkey, url: url === undefined ? null : url.replace(/\/+$/, "") };
}

/** Each witness's answer to GET /checkpoint, for those given with a URL. */
export async function askWitnesses(
  witnesses: readonly WitnessArg[],
  origin: string,
): Promise<Map<WitnessArg, HeadFetch>> {
  const answers = await Promise.all(
    witnesses.map(async (w) =>
      w.url === null
        ? null
        : ([w, await fetchWitnessedHead({ key: w.key, url: w.url }, origin, null)] as const),
    ),
  );
  return new Map(answers.filter((a) => a !== null));
}

/** The tree heads each witness's stored cosignatures vouch for, checked, newest first. */
export async function storedHeads(
  sqlite: Database.Database,
  witnesses: readonly WitnessArg[],
  origin: string,
): Promise<Map<WitnessArg, WitnessedHead[]>> {
  const db = drizzle(sqlite, { schema });
  const heads = new Map<WitnessArg, WitnessedHead[]>();
  for (const w of witnesses) {
    const verified: WitnessedHead[] = [];
    for (const row of cosignaturesBy(db, w.key, STORED_SEARCHED)) {
      const text = formatCheckpoint({
        origin,
        size: row.treeSize,
        rootHash: row.rootHash,
        extensions: [],
      });
      const ok = await verifyCosignatureLines(text, row.signatureLine, w.key);
      if (ok) {
        verified.push({
          witness: w.key.name,
          treeSize: row.treeSize,
          rootHash: row.rootHash,
          timestamp: ok.timestamp,
          logSigned: null,
        });
      }
    }
    heads.set(w, verified);
  }
  return heads;
}

/** What the records must extend: each witness's live head and its newest stored cosignature. */
export function headsToExtend(
  witnesses: readonly WitnessArg[],
  live: ReadonlyMap<WitnessArg, HeadFetch>,
  stored: ReadonlyMap<WitnessArg, WitnessedHead[]>,
): WitnessedHead[] {
  return witnesses.flatMap((w) => {
    const answer = live.get(w);
    const own = stored.get(w)?.[0];
    return [...(own ? [own] : []), ...(answer?.kind === "head" ? [answer.head] : [])];
  });
}

export type QuorumCheck = {
  findings: Finding[];
  /** One line per witness for the report. */
  lines: string[];
};

const sameHead = (h: WitnessedHead, c: CheckpointInfo) =>
  h.treeSize === c.treeSize && h.rootHash.equals(c.rootHash);

/**
 * Whether a quorum of the witnesses vouches for the newest checkpoint. A witness given with a URL
 * counts only if it answered: then its live head or a stored cosignature must be this very
 * checkpoint. One given without a URL counts by a stored cosignature alone.
 */
export function checkQuorum(
  newest: CheckpointInfo | null,
  witnesses: readonly WitnessArg[],
  live: ReadonlyMap<WitnessArg, HeadFetch>,
  stored: ReadonlyMap<WitnessArg, WitnessedHead[]>,
  quorum: number,
): QuorumCheck {
  const lines: string[] = [];
  let vouching = 0;
  for (const w of witnesses) {
    const answer = live.get(w);
    const own = stored.get(w) ?? [];
    const reached = w.url === null || answer?.kind !== "unavailable";
    const cosigned =
      newest !== null &&
      ((answer?.kind === "head" && sameHead(answer.head, newest)) ||
        own.some((h) => sameHead(h, newest)));
    if (reached && cosigned) vouching++;
    const said =
      answer === undefined
        ? "not asked (no URL)"
        : answer.kind === "head"
          ? `holds a tree of ${answer.head.treeSize} records`
          : answer.kind === "none"
            ? "has cosigned nothing for this trail"
            : `UNREACHABLE (${answer.reason}): does not count`;
    const storedSay = own[0]
      ? `newest stored cosignature on ${own[0].treeSize} records`
      : "no valid stored cosignature";
    lines.push(
      `${w.key.name}: ${said}; ${storedSay}; ${cosigned && reached ? "vouches for" : "does not vouch for"} the newest checkpoint`,
    );
  }
  const findings: Finding[] = [];
  if (newest && vouching < quorum) {
    findings.push({
      kind: "unwitnessed",
      target: "checkpoint",
      ref: String(newest.number),
      detail: `checkpoint #${newest.number} (${newest.treeSize} records) is vouched for by ${vouching} of the ${quorum} witnesses required`,
    });
  }
  return { findings, lines };
}
