// The OPAQUE login against the argon2 login it replaces, both over HTTP against the real server,
// one at a time and alternated, so that load elsewhere on the machine hits both alike.
import type { AppContext } from "../app/context.server";
import { hashPassword } from "../app/crypto/password.server";
import { insertUser } from "../app/models/user.server";
import { httpTransport, opaqueLogin } from "../tests/opaque-client";
import { login } from "./http";
import { median, PATIENTS } from "./trail";

const legacyUsername = (n: number) => `bench-legacy-${n}`;
const legacyPassword = (n: number) => `bench-legacy-password-${n}`;

/** Accounts as stored before OPAQUE (argon2id), one per measured login: each is checked once. */
export async function createLegacyAccounts(ctx: AppContext, count: number): Promise<void> {
  for (let n = 0; n < count; n++) {
    insertUser(ctx, {
      name: `Bench Legacy ${n}`,
      username: legacyUsername(n),
      role: "patient",
      patientId: `MRN-BENCH-LEGACY-${n}`,
      credential: { scheme: "argon2", hash: await hashPassword(legacyPassword(n)) },
    });
  }
}

/**
 * The argon2 login as the server still runs it for an account from before OPAQUE: the password
 * sent, and checked against its argon2id hash (POST /login/start, then /login/upgrade). The
 * OPAQUE record is not sent, so the account stays on argon2 and nothing else is measured.
 */
async function argon2Login(url: string, n: number): Promise<void> {
  const transport = httpTransport(url);
  let checked = false;
  const attempt = await opaqueLogin(
    {
      json: async (path, fields) => {
        const answer = await transport.json(path, fields);
        if (path === "/login/upgrade") {
          checked = answer.status === 200;
          return { ...answer, status: 299 }; // stop here
        }
        return answer;
      },
      finish: transport.finish,
    },
    { username: legacyUsername(n), password: legacyPassword(n) },
  );
  if (!checked || attempt.step !== "upgrade") throw new Error(`argon2 login ${n} failed`);
}

const timed = async (f: () => Promise<unknown>) => {
  const started = performance.now();
  await f();
  return performance.now() - started;
};

/**
 * Medians of `runs` whole logins each: OPAQUE (both messages, the client's key stretching and the
 * session) and argon2 (the password to the server, its argon2id check).
 */
export async function opaqueAgainstArgon2(
  url: string,
  runs: number,
): Promise<{ opaque: number; argon2: number }> {
  await login(url, 0); // warm
  const opaque: number[] = [];
  const argon2: number[] = [];
  for (let i = 0; i < runs; i++) {
    opaque.push(await timed(() => login(url, (i + 1) % PATIENTS)));
    argon2.push(await timed(() => argon2Login(url, i)));
  }
  return { opaque: median(opaque), argon2: median(argon2) };
}
