import type { ReactNode } from "react";

// The login and registration forms run OPAQUE (RFC 9807) in the browser (decision record 017): as
// an island, like the history check (015), since the page is not hydrated. This module's own code,
// loaded by the page's module scripts, takes over the form's submit before anything can be sent;
// the OPAQUE client (WebAssembly) is fetched on demand, then the form carries the protocol's
// messages. The password inputs have no name, so no form submission ever carries a password.

export type OpaqueFormKind = "login" | "register";

const taken = new WeakSet<HTMLFormElement>();

function takeOver(form: HTMLFormElement): void {
  if (taken.has(form)) return;
  taken.add(form);
  const client = import("~/auth/opaque-browser");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    event.stopImmediatePropagation();
    void client.then(({ submitOpaqueForm }) => submitOpaqueForm(form));
  });
  // Tests and assistive tools can tell when the page is ready to log in.
  void client.then(
    ({ prepare }) => prepare().then(() => form.setAttribute("data-opaque-ready", "")),
    () => undefined,
  );
}

if (typeof document !== "undefined") {
  const takeOverAll = () =>
    document.querySelectorAll<HTMLFormElement>("form[data-opaque]").forEach(takeOver);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", takeOverAll, { once: true });
  } else {
    takeOverAll();
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
