import { useEffect, useRef } from "react";
import type { HistoryTrust } from "~/trail/history-check";

// The patient's own check of the trail's history (decision record 015), as an island the page
// does not render with React: the server sends a placeholder, and once the page has loaded the
// check's code is fetched on demand, asks the server for its newest checkpoint and a consistency
// proof, and writes its verdict into the placeholder with DOM calls (text only, no HTML).
//
// It starts from two places, whichever comes first, once per element: this module's own code when
// the page's (nonce'd) module scripts load it, and an effect after React hydrates the page or
// renders it on a client-side navigation. It never blocks the loader or the first paint, and it
// does not depend on the server's verdict, so it also runs on a "Data integrity compromised" page.

const PENDING =
  '<p class="hint" data-history-check="pending">Checking the trail\u2019s history in your browser\u2026</p>';

const started = new WeakSet<Element>();

/** Starts the check in `element` (a placeholder with data-history-trust), once. */
function startHistoryCheck(element: HTMLElement): void {
  if (started.has(element)) return;
  started.add(element);
  void import("~/trail/history-check-browser").then(
    ({ checkAndShow }) => checkAndShow(element),
    () => undefined,
  );
}

if (typeof document !== "undefined") {
  const startAll = () =>
    document.querySelectorAll<HTMLElement>("[data-history-trust]").forEach(startHistoryCheck);
  // After the load event: the check's requests never compete with the page's own resources.
  if (document.readyState === "complete") setTimeout(startAll, 0);
  else window.addEventListener("load", startAll, { once: true });
}

export function HistoryCheck({ trust }: { trust: HistoryTrust }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (ref.current) startHistoryCheck(ref.current);
  }, []);
  // React leaves the children of dangerouslySetInnerHTML alone while __html stays the same, so
  // the verdict written by the check survives hydration and re-renders.
  return (
    <div
      ref={ref}
      className="history-check"
      aria-live="polite"
      data-history-trust={JSON.stringify(trust)}
      dangerouslySetInnerHTML={{ __html: PENDING }}
      suppressHydrationWarning
    />
  );
}
