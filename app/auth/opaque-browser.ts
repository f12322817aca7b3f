// The browser side of the OPAQUE login and registration (decision record 017), loaded on demand by
// app/components/opaque-form.tsx. Never imported by the server. It writes only text to the page.

import { checkNewPassword } from "./password-policy";
import {
  clientFinishLogin,
  clientFinishRegistration,
  clientStartLogin,
  clientStartRegistration,
  opaqueReady,
} from "~/crypto/opaque-client";

const TRY_AGAIN = "Something went wrong. Please try again.";

type Answer = { status: number; body: Record<string, string | undefined> };

/** Resolves once the WebAssembly client is ready. */
export function prepare(): Promise<void> {
  return opaqueReady;
}

async function post(url: string, fields: Record<string, string>): Promise<Answer> {
  try {
    const response = await fetch(url, {
      method: "POST",
      body: new URLSearchParams(fields),
      credentials: "same-origin",
      cache: "no-store",
    });
    const body = (await response.json().catch(() => ({}))) as Answer["body"];
    return { status: response.status, body };
  } catch {
    return { status: 0, body: {} };
  }
}

function input(form: HTMLFormElement, selector: string): HTMLInputElement {
  const found = form.querySelector<HTMLInputElement>(selector);
  if (!found) throw new Error(`the form has no ${selector}`);
  return found;
}

function setHidden(form: HTMLFormElement, name: string, value: string): void {
  let field = form.querySelector<HTMLInputElement>(`input[type="hidden"][name="${name}"]`);
  if (!field) {
    field = document.createElement("input");
    field.type = "hidden";
    field.name = name;
    form.append(field);
  }
  field.value = value;
}

function setBusy(form: HTMLFormElement, busy: boolean): void {
  const button = form.querySelector<HTMLButtonElement>("button[type=submit]");
  if (!button) return;
  button.dataset.idleLabel ??= button.textContent ?? "";
  button.disabled = busy;
  button.textContent = busy ? (button.dataset.busyLabel ?? "") : button.dataset.idleLabel;
}

function showError(form: HTMLFormElement, message: string): void {
  const section = form.parentElement ?? form;
  let alert = section.querySelector<HTMLElement>('[role="alert"]');
  if (!alert) {
    alert = document.createElement("p");
    alert.setAttribute("role", "alert");
    alert.className = "alert alert-error";
    form.before(alert);
  }
  alert.textContent = message;
  setBusy(form, false);
}

async function logIn(form: HTMLFormElement): Promise<void> {
  const username = input(form, 'input[name="username"]').value;
  const password = input(form, "#field-password").value;
  const auditCompany = input(form, 'input[name="auditCompany"]').checked;
  const { clientLoginState, startLoginRequest } = clientStartLogin(password);
  const start = await post("/login/start", {
    username,
    startLoginRequest,
    ...(auditCompany ? { auditCompany: "on" } : {}),
  });
  const loginId = start.body.loginId;
  if (start.status !== 200 || !loginId) return showError(form, start.body.error ?? TRY_AGAIN);
  if (start.body.legacy) return moveToOpaque(form, { username, password, loginId });
  // A wrong password fails here, in the browser; the server still hears of it, and answers the
  // same message as for any other failure.
  const finish = clientFinishLogin(clientLoginState, start.body.loginResponse ?? "", password);
  setHidden(form, "loginId", loginId);
  setHidden(form, "finishLoginRequest", finish ?? "");
  form.submit();
}

/** An account still on argon2: the password goes to the server once, then the account has an OPAQUE record. */
async function moveToOpaque(
  form: HTMLFormElement,
  login: { username: string; password: string; loginId: string },
): Promise<void> {
  const { clientRegistrationState, registrationRequest } = clientStartRegistration(login.password);
  const checked = await post("/login/upgrade", { ...login, registrationRequest });
  const { upgradeId, registrationResponse } = checked.body;
  if (checked.status !== 200 || !upgradeId || !registrationResponse) {
    return showError(form, checked.body.error ?? TRY_AGAIN);
  }
  const record = clientFinishRegistration(
    clientRegistrationState,
    registrationResponse,
    login.password,
  );
  setHidden(form, "upgradeId", upgradeId);
  setHidden(form, "registrationRecord", record);
  form.submit();
}

async function register(form: HTMLFormElement): Promise<void> {
  const username = input(form, 'input[name="username"]').value.trim();
  const password = input(form, "#field-password").value;
  const verdict = checkNewPassword(password, input(form, "#field-confirmPassword").value);
  setHidden(form, "passwordCheck", verdict);
  setHidden(form, "registrationRecord", "");
  if (verdict === "ok") {
    const { clientRegistrationState, registrationRequest } = clientStartRegistration(password);
    const started = await post("/register/start", { username, registrationRequest });
    const response = started.body.registrationResponse;
    // Without a response the form still goes, without a record: the server names what is wrong.
    if (response) {
      setHidden(
        form,
        "registrationRecord",
        clientFinishRegistration(clientRegistrationState, response, password),
      );
    }
  }
  form.submit();
}

/** Runs the form's part of OPAQUE, then submits it with the protocol's messages and no password. */
export async function submitOpaqueForm(form: HTMLFormElement): Promise<void> {
  if (form.dataset.opaqueBusy) return;
  form.dataset.opaqueBusy = "1";
  setBusy(form, true);
  try {
    await opaqueReady;
    await (form.dataset.opaque === "register" ? register(form) : logIn(form));
  } catch {
    showError(form, TRY_AGAIN);
  } finally {
    delete form.dataset.opaqueBusy;
  }
}
