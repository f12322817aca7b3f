import type { ReactNode } from "react";

// The login and registration forms run OPAQUE (RFC 9807) in the browser (decision record 017): as
// an island, like the history check (015), since the page is not hydrated. This module's own code,
// loaded by the page's module scripts, takes over the form's submit before anything is sent;
// the OPAQUE client (WebAssembly) is fetched on demand, then the form carries the protocol's
// messages. The password inputs have no name, so no form submission ever carries a password.

export type OpaqueFormKind = "login" | "register";

let client: Promise<typeof import("~/auth/opaque-browser")> | undefined;
const loadClient = () => (client ??= import("~/auth/opaque-browser"));

function isOpaqueForm(target: EventTarget | null): target is HTMLFormElement {
  return target instanceof HTMLFormElement && target.dataset.opaque !== undefined;
}

// On the window, in the capture phase: the first listener of all. React, waiting for a
// hydration that does not come, stops submit events at the document before the form sees them.
function takeOverSubmit(event: SubmitEvent): void {
  const form = event.target;
  if (!isOpaqueForm(form)) return;
  event.preventDefault();
  event.stopImmediatePropagation();
  void loadClient().then(({ submitOpaqueForm }) => submitOpaqueForm(form));
}

/** Loads the OPAQUE client; the form then says it is ready, for tests and assistive tools. */
function prepareForms(): void {
  const forms = document.querySelectorAll<HTMLFormElement>("form[data-opaque]");
  if (forms.length === 0) return;
  void loadClient().then(
    ({ prepare }) =>
      prepare().then(() => forms.forEach((form) => form.setAttribute("data-opaque-ready", ""))),
    () => undefined,
  );
}

if (typeof window !== "undefined") {
  window.addEventListener("submit", takeOverSubmit, { capture: true });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", prepareForms, { once: true });
  } else {
    prepareForms();
  }
}

export function OpaqueForm({
  kind,
  action,
  children,
}: {
  kind: OpaqueFormKind;
  action: string;
  children: ReactNode;
}) {
  return (
    <form method="post" action={action} data-opaque={kind} noValidate={kind === "register"}>
      {children}
    </form>
  );
}
