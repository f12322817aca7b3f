import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { BUILD_ENTRY, PROJECT_ROOT } from "./http";

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    const mtime = entry.isDirectory() ? newestMtime(full) : fs.statSync(full).mtimeMs;
    newest = Math.max(newest, mtime);
  }
  return newest;
}

/** Runs `remix build` when there is no build, or the app's sources are newer than it. */
export function ensureBuild(): void {
  const built = fs.existsSync(BUILD_ENTRY) ? fs.statSync(BUILD_ENTRY).mtimeMs : 0;
  const sources = Math.max(
    newestMtime(path.join(PROJECT_ROOT, "app")),
    newestMtime(path.join(PROJECT_ROOT, "db")),
  );
  if (built > sources) return;
  console.log("Building the app (remix build)…");
  const result = spawnSync(
    process.execPath,
    [path.join(PROJECT_ROOT, "node_modules/@remix-run/dev/dist/cli.js"), "build"],
    {
      cwd: PROJECT_ROOT,
      stdio: "inherit",
      env: {
        ...process.env,
        NODE_ENV: "production",
        VITE_CJS_IGNORE_WARNING: "true",
      },
    },
  );
  if (result.status !== 0) {
    console.error("The build failed; see the messages above.");
    process.exit(1);
  }
}
