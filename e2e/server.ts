import fs from "node:fs";
import path from "node:path";
import { serve } from "../server/main";
import { SERVERS } from "./env";

const name = process.argv[2] as keyof typeof SERVERS;
const env = SERVERS[name];
if (!env) throw new Error(`unknown e2e server: ${process.argv[2]}`);
// A fresh database and keys for every run.
fs.rmSync(path.dirname(env.DATABASE_PATH), { recursive: true, force: true });
const running = await serve({ ...process.env, ...env });
console.log(`e2e ${name} server on ${running.url}`);
