// Writes an account as the server stored them before OPAQUE (an argon2id hash in the sealed,
// signed password column) into the main end-to-end server's database, as an older version of the
// server would have: `node --import tsx e2e/legacy-account.ts <username> <password>`.
import { loadConfig } from "../app/config.server";
import { createAppContext } from "../app/context.server";
import { hashPassword } from "../app/crypto/password.server";
import { insertUser } from "../app/models/user.server";
import { E2E_ENV } from "./env";

const [username, password] = process.argv.slice(2);
if (!username || !password) throw new Error("usage: legacy-account.ts <username> <password>");
const ctx = createAppContext(loadConfig({ ...process.env, ...E2E_ENV }));
insertUser(ctx, {
  name: "Lena Legacy",
  username,
  role: "patient",
  patientId: "MRN-LEGACY-1",
  credential: { scheme: "argon2", hash: await hashPassword(password) },
});
ctx.conn.sqlite.close();
