// The browser side of the patient's check (decision record 015): loaded with a dynamic import
// once the page has loaded, it fetches GET /checkpoint and the consistency proof, decides with
// history-check.ts, keeps the result in localStorage and shows the verdict. Never imported by
// the server.

import {
  INTEGRITY_HEADER,
  checkKeys,
  decide,
  proofRange,
  readStored,
  storageKey,
  type HistoryTrust,
  type ProofResponse,
  type Verdict,
} from "./history-check";

export type BrowserDeps = {
  fetch: typeof fetch;
  storage: Pick<Storage, "getItem" | "setItem">;
};

const unavailable = (reason: string): Verdict => ({ kind: "unavailable", reason });

/** A fixed Ed25519 public key: importing it tells whether this browser's WebCrypto has Ed25519. */
const PROBE_KEY = new Uint8Array(32).fill(7);

async function hasEd25519(): Promise<boolean> {
  if (typeof crypto === "undefined" || !crypto.subtle) return false;
  try {
    await crypto.subtle.importKey("raw", PROBE_KEY, { name: "Ed25519" }, false, ["verify"]);
    return true;
  } catch {
    return false;
  }
}

export async function runHistoryCheck(
  trust: HistoryTrust,
  deps: BrowserDeps = { fetch: window.fetch.bind(window), storage: window.localStorage },
): Promise<Verdict> {
  if (!(await hasEd25519())) {
    return unavailable("this browser cannot check Ed25519 signatures (WebCrypto over HTTPS).");
  }
  const key = storageKey(trust.origin);
  const stored = readStored(deps.storage.getItem(key));
  const changed = checkKeys(trust, stored);
  if (changed) return changed;
  const get = (url: string) =>
    deps.fetch(url, { cache: "no-store", credentials: "omit" }).catch(() => null);

  const response = await get("/checkpoint");
  if (response?.status === 503 && response.headers.get(INTEGRITY_HEADER) === "compromised") {
    // The browser cannot check a history the server withholds, but the server's own check
    // failed: the records may have been removed or rewritten. Nothing is stored.
    return {
      kind: "different",
      reason: "the server itself reports that the trail failed its verification.",
    };
  }
  if (!response || !response.ok) {
    return unavailable(
      response
        ? `the server gave no checkpoint (HTTP ${response.status}).`
        : "the server could not be reached.",
    );
  }
  const note = await response.text().catch(() => null);
  if (note === null) return unavailable("the checkpoint could not be read.");

  let proof: ProofResponse | null = null;
  const range = proofRange(stored, note);
  if (range) {
    const answer = await get(`/api/proofs/consistency?from=${range.from}&to=${range.to}`);
    if (!answer || answer.status >= 500) {
      return unavailable("the server could not be reached for the consistency proof.");
    }
    // A refused proof (4xx) stays null: decide() then finds no proof that the history extends.
    proof = answer.ok ? ((await answer.json().catch(() => null)) as ProofResponse | null) : null;
  }

  const verdict = await decide({ trust, stored, note, proof });
  if (verdict.kind === "checked") {
    try {
      deps.storage.setItem(key, JSON.stringify(verdict.next));
    } catch {
      // Storage full or disabled: the check still counts for this visit.
    }
  }
  return verdict;
}

export const HISTORY_CHECKED = "History checked in your browser";
export const HISTORY_DIFFERENT = "The server showed a different history than before";

type Checked = Extract<Verdict, { kind: "checked" }>;

function checkedText(v: Checked): string {
  const size = `checkpoint of ${v.size} record${v.size === 1 ? "" : "s"}`;
  const since =
    v.previousSize === null
      ? "first check: this browser now remembers the trail's keys"
      : `extends the ${v.previousSize} this browser saw before`;
  if (v.quorum === 0) return `${size}, ${since}; the trail has no witnesses`;
  if (v.witnessed) {
    return `${size}, ${since}; cosigned by ${v.cosigners} of ${v.witnesses} witnesses (${v.quorum} required)`;
  }
  return `${size}, ${since}; not yet witnessed (${v.cosigners} of ${v.quorum} required cosignatures so far), so this browser keeps the last witnessed checkpoint as its reference`;
}

/** The verdict as DOM nodes: text only, never HTML, so nothing the server sends becomes markup. */
export function verdictNode(doc: Document, verdict: Verdict): HTMLElement {
  const el = <K extends keyof HTMLElementTagNameMap>(tag: K, text: string, className?: string) => {
    const node = doc.createElement(tag);
    node.textContent = text;
    if (className) node.className = className;
    return node;
  };
  if (verdict.kind === "different") {
    const box = doc.createElement("div");
    box.setAttribute("role", "alert");
    box.className = "alert alert-error";
    box.dataset.historyCheck = "different";
    box.append(
      el("h2", HISTORY_DIFFERENT, "alert-title"),
      el(
        "p",
        `Your browser checked the trail itself: ${verdict.reason} Records of who opened your chart may have been removed or rewritten. Keep this page open or take a screenshot, and contact the hospital's privacy officer.`,
      ),
    );
    return box;
  }
  const line =
    verdict.kind === "checked"
      ? el("p", `\u2713 ${HISTORY_CHECKED}: ${checkedText(verdict)}.`, "verified")
      : el(
          "p",
          `Your browser could not check the trail's history this time: ${verdict.reason}`,
          "hint",
        );
  line.dataset.historyCheck = verdict.kind;
  return line;
}

/** Runs the check with the keys in the placeholder's data-history-trust and shows the verdict. */
export async function checkAndShow(placeholder: HTMLElement): Promise<void> {
  let verdict: Verdict;
  try {
    verdict = await runHistoryCheck(
      JSON.parse(placeholder.dataset.historyTrust ?? "") as HistoryTrust,
    );
  } catch {
    verdict = unavailable("the check failed in this browser.");
  }
  placeholder.replaceChildren(verdictNode(placeholder.ownerDocument, verdict));
}
