import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import {
  HISTORY_ORIGIN,
  HISTORY_PORT,
  historyDir,
  historyEnv,
  startTrail,
  startWitness,
  stopAll,
  type Trail,
  type Witness,
} from "./history-processes";
import type { ServerEnv } from "./env";
import { cliFor, event, login, newPatient, postEvents } from "./support";

// The patient's own check (decision record 015): the browser keeps the last witnessed
// checkpoint and the keys it trusted, and shows a red warning when the server later shows a
// history that does not extend it. Each test runs its own trail server and two real witness
// processes, stops and restarts the server on the same origin (so the browser keeps its
// localStorage), and stops every process it started.

test.use({ baseURL: `http://127.0.0.1:${HISTORY_PORT}` });
test.describe.configure({ mode: "serial" });
test.setTimeout(120_000);

const CHECKED = /History checked in your browser/;
const DIFFERENT = "The server showed a different history than before";
const STORAGE_KEY = `ehr-audit-trail:history:${HISTORY_ORIGIN}`;

// No uncaught error in the page, whichever way the check ends.
let pageErrors: string[] = [];
test.beforeEach(({ page }) => {
  pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
});
test.afterEach(async () => {
  await stopAll();
  expect(pageErrors).toEqual([]);
});

/** A fresh trail with two witnesses (quorum 2) that pinned its note key. */
async function setUp(name: string) {
  const dir = historyDir(name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const env = historyEnv(dir);
  const logVkey = cliFor(env, "vkey"); // creates the keys and the database
  const witnesses: Witness[] = [];
  for (const w of ["w1", "w2"]) {
    witnesses.push(await startWitness(path.join(dir, w), HISTORY_ORIGIN, logVkey));
  }
  const serverEnv = { ...env, WITNESSES: witnesses.map((w) => w.entry).join(",") };
  return { dir, env: serverEnv, witnesses, trail: await startTrail(serverEnv) };
}

/** The size of the checkpoint GET /checkpoint serves, once two witnesses cosigned it. */
async function cosignedSize(request: APIRequestContext, atLeast = 1): Promise<number> {
  let size = 0;
  await expect
    .poll(
      async () => {
        const text = await (await request.get("/checkpoint")).text();
        const [, sizeLine = "0"] = text.split("\n");
        size = Number(sizeLine);
        const signatures = text.split("\n\n")[1]?.trim().split("\n") ?? [];
        return signatures.length >= 3 && size >= atLeast;
      },
      { timeout: 30_000 },
    )
    .toBe(true);
  return size;
}

/** What the browser stored for the trail. */
async function storedAnchor(page: Page) {
  const text = await page.evaluate((key) => localStorage.getItem(key), STORAGE_KEY);
  return (JSON.parse(text ?? "null") as { anchor: { size: number } | null } | null)?.anchor;
}

/** Reloads /home until the browser's check shows a quorum-cosigned checkpoint of `size` or more. */
async function expectChecked(page: Page, size: number) {
  await expect(async () => {
    await page.goto("/home");
    const line = page.locator("[data-history-check]");
    await expect(line).toHaveAttribute("data-history-check", "checked", { timeout: 5_000 });
    await expect(line).toContainText(CHECKED);
    await expect(line).toContainText("cosigned by 2 of 2 witnesses");
    expect((await storedAnchor(page))!.size).toBeGreaterThanOrEqual(size);
  }).toPass({ timeout: 30_000 });
  await expect(page.getByRole("alert")).toHaveCount(0);
}

async function restart(trail: Trail, env: Record<string, string>, between: () => void) {
  await trail.stop();
  between();
  return startTrail(env);
}

test("a rollback to an older copy of the database and head file turns the browser's check red", async ({
  page,
  request,
}) => {
  const { dir, env, witnesses, ...started } = await setUp("rollback");
  let { trail } = started;
  const patient = await newPatient(page, undefined, env);
  await postEvents(request, [event(patient.patientId), event(patient.patientId)], env);
  await login(page, patient);
  const first = await cosignedSize(request);
  await expectChecked(page, first);

  // An old copy, taken with the server stopped: the database (and any -wal) and the head file.
  const copy = path.join(dir, "old-copy");
  trail = await restart(trail, env, () =>
    fs.cpSync(path.join(dir, "trail"), copy, { recursive: true }),
  );
  const oldSize = await cosignedSize(request);

  // The trail grows, the witnesses cosign, and the patient's browser moves its anchor on.
  await postEvents(request, [event(patient.patientId, { notes: "seen, then rolled back" })], env);
  const newSize = await cosignedSize(request, oldSize + 1);
  await expectChecked(page, newSize);
  const anchor = (await storedAnchor(page))!.size;
  expect(anchor).toBeGreaterThan(oldSize);

  // The intruder stops the server, puts the old copy back, and keeps the server from its
  // witnesses (which would refuse the old checkpoint, so the server would flag itself).
  await Promise.all(witnesses.map((w) => w.stop()));
  trail = await restart(trail, env, () => {
    fs.rmSync(path.join(dir, "trail"), { recursive: true });
    fs.cpSync(copy, path.join(dir, "trail"), { recursive: true });
  });
  // The server itself sees nothing wrong: its database and head file agree.
  const served = await (await request.get("/checkpoint")).text();
  expect(Number(served.split("\n")[1])).toBeLessThan(anchor);

  await page.goto("/home");
  const alert = page.getByRole("alert").filter({ hasText: DIFFERENT });
  await expect(alert).toBeVisible({ timeout: 15_000 });
  await expect(alert).toContainText(`went back from ${anchor} to`);
  // The browser keeps what it saw: the warning stays on the next visit.
  expect((await storedAnchor(page))!.size).toBe(anchor);
  await page.reload();
  await expect(page.getByRole("alert").filter({ hasText: DIFFERENT })).toBeVisible();
  await trail.stop();
});

test("an intruder who replaced the note key and deleted a record: red, while the server flags itself too", async ({
  page,
  request,
}) => {
  const { dir, env, ...started } = await setUp("new-key");
  let { trail } = started;
  const patient = await newPatient(page, undefined, env);
  const [deleted] = await postEvents(
    request,
    [event(patient.patientId, { notes: "to be deleted" }), event(patient.patientId)],
    env,
  );
  await login(page, patient);
  await expectChecked(page, await cosignedSize(request));

  // The intruder deletes a record through SQLite and signs with a note key of their own (the
  // server creates a new one at start when it is missing).
  trail = await restart(trail, env, () => {
    fs.rmSync(path.join(dir, "trail", "keys", "note-ed25519.key"));
    const db = new Database(env.DATABASE_PATH);
    expect(db.prepare("DELETE FROM audit_records WHERE log_id = ?").run(deleted).changes).toBe(1);
    db.close();
  });
  await page.goto("/home");
  // The server's own check sees the deleted record; the browser's check runs anyway.
  await expect(page.getByText("Data integrity compromised")).toBeVisible();
  const alert = page.getByRole("alert").filter({ hasText: DIFFERENT });
  await expect(alert).toBeVisible({ timeout: 15_000 });
  await expect(alert).toContainText("the log's signing key changed");
  await trail.stop();
});

/**
 * What the server, the patient's browser, the admins and `verify --witness` say once an
 * intruder's history is in place: compromised, red, an alert matching `alertSays`, exit 1.
 */
async function expectCaughtEverywhere(
  page: Page,
  setup: { env: ServerEnv; witnesses: Witness[] },
  alertSays: RegExp,
) {
  const { env, witnesses } = setup;
  // The server asked the witnesses at start: its view withholds the records.
  await page.goto("/home");
  await expect(page.getByText("Data integrity compromised")).toBeVisible();
  // The patient's browser is told so by the server's checkpoint endpoint, and shows red.
  await expect(page.getByRole("alert").filter({ hasText: DIFFERENT })).toBeVisible({
    timeout: 15_000,
  });
  // The admins' alert names the witnesses and what they saw, and no patient.
  await expect
    .poll(() => fs.readdirSync(env.OUTBOX_DIR).length, { timeout: 15_000 })
    .toBeGreaterThan(0);
  const alerts = fs
    .readdirSync(env.OUTBOX_DIR)
    .map((f) => fs.readFileSync(path.join(env.OUTBOX_DIR, f), "utf8"))
    .join("\n")
    .replace(/=\r?\n/g, ""); // quoted-printable soft line breaks
  expect(alerts).toMatch(/Data integrity compromised/);
  expect(alerts).toMatch(alertSays);
  expect(alerts).not.toMatch(/MRN-/);
  // Offline, asking the witnesses: exit 1, whatever the head file says.
  const witnessArgs = witnesses.flatMap((w) => ["--witness", w.entry]);
  const verify = spawnSync(
    process.execPath,
    ["--import", "tsx", "cli/main.ts", "verify", ...witnessArgs],
    { env: { ...process.env, ...env }, encoding: "utf8" },
  );
  expect(verify.status, verify.stdout + verify.stderr).toBe(1);
  expect(verify.stdout).toMatch(alertSays);
}

test("an intruder holding the trail's keys drops a record, re-signs everything and rewrites the head: the witnesses give it away", async ({
  page,
  request,
}) => {
  const { dir, env, witnesses, ...started } = await setUp("resigned");
  let { trail } = started;
  const patient = await newPatient(page, undefined, env);
  const kept = event(patient.patientId, { notes: "kept" });
  const dropped = event(patient.patientId, { notes: "dropped by the intruder" });
  await postEvents(request, [kept, dropped, kept], env);
  await login(page, patient);
  const size = await cosignedSize(request);
  await expectChecked(page, size);

  // With the real keys, the intruder builds the history they want (without the event they
  // drop, and longer than the witnessed one, so nothing looks cut short) through the trail's
  // own import, and swaps it in, head file included. Every signature in it is valid.
  trail = await restart(trail, env, () => {
    // Without WITNESSES: the trail's own code would ask them, and refuse to append.
    const { WITNESSES: _witnesses, ...unwitnessed } = env;
    const forgedEnv = {
      ...unwitnessed,
      DATABASE_PATH: path.join(dir, "forged.db"),
      TRAIL_HEAD_PATH: path.join(dir, "forged-head.json"),
    };
    const events = path.join(dir, "forged.ndjson");
    // Longer than what the witnesses cosigned, which grows with the patient's own views.
    const lines = Array.from({ length: size + 20 }, () => JSON.stringify(kept));
    fs.writeFileSync(events, lines.join("\n"));
    cliFor(forgedEnv, "import", events);
    const db = new Database(env.DATABASE_PATH);
    db.exec(`ATTACH '${forgedEnv.DATABASE_PATH}' AS forged`);
    for (const table of ["audit_records", "checkpoints", "tree_nodes"]) {
      db.exec(`DELETE FROM main.${table}; INSERT INTO main.${table} SELECT * FROM forged.${table}`);
    }
    db.close();
    fs.copyFileSync(forgedEnv.TRAIL_HEAD_PATH, path.join(env.KEYS_DIR, "trail-head.json"));
  });

  await expectCaughtEverywhere(page, { env, witnesses }, /history was rewritten/);
  await trail.stop();
});

test("a rollback to an older copy with its older head, the witnesses running: the server, the browser and verify all see it", async ({
  page,
  request,
}) => {
  const { dir, env, witnesses, ...started } = await setUp("rollback-witnessed");
  let { trail } = started;
  const patient = await newPatient(page, undefined, env);
  await postEvents(request, [event(patient.patientId)], env);
  // Logged in before the copy is taken, so the session is in it too.
  await login(page, patient);
  const copy = path.join(dir, "old-copy");
  trail = await restart(trail, env, () =>
    fs.cpSync(path.join(dir, "trail"), copy, { recursive: true }),
  );
  const copied = await cosignedSize(request);
  await postEvents(request, [event(patient.patientId, { notes: "cut off by the rollback" })], env);
  await expectChecked(page, await cosignedSize(request, copied + 1));

  trail = await restart(trail, env, () => {
    fs.rmSync(path.join(dir, "trail"), { recursive: true });
    fs.cpSync(copy, path.join(dir, "trail"), { recursive: true });
  });
  await expectCaughtEverywhere(page, { env, witnesses }, /it was rolled back or cut short/);
  await trail.stop();
});
