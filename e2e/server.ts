import fs from "node:fs";
import { serve } from "../server/main";
import { E2E_ENV, E2E_OUTPUT } from "./env";

// A fresh database and keys for every run.
fs.rmSync(E2E_OUTPUT, { recursive: true, force: true });
const running = await serve({ ...process.env, ...E2E_ENV });
console.log(`e2e server on ${running.url}`);
