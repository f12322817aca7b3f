import fs from "node:fs";
import { ConfigError, loadConfig } from "../app/config.server";
import { KeyError } from "../app/keys.server";
import { ensureTrailIntact } from "../app/trail/guard.server";
import { BUILD_ENTRY, startServer, type RunningServer } from "./http";

/** Starts the server with `env`, printing a clear message and exiting 1 on bad configuration or keys. */
export async function serve(env: NodeJS.ProcessEnv): Promise<RunningServer> {
  try {
    const config = loadConfig(env);
    if (!fs.existsSync(BUILD_ENTRY)) {
      throw new ConfigError([`no production build at ${BUILD_ENTRY}: run "npm run build" first`]);
    }
    const running = await startServer(config);
    if (running.keysCreated) {
      console.log(`Created new keys in ${config.KEYS_DIR}. Back them up now (see keys/README.md).`);
    }
    // A full verification at start; later views re-verify whenever another process wrote the file.
    const status = await ensureTrailIntact(running.ctx);
    if (status.ok) {
      // Catches the witnesses up with what other processes appended while none was running.
      if (status.checkpoint) running.witnessing.offer(status.checkpoint);
      console.log(
        `Trail verified: ${status.records} records, checkpoint #${status.checkpoint?.number ?? 0}.`,
      );
    } else {
      console.error(
        `The trail FAILED verification (${status.findings.length} finding(s)); the admins are alerted.`,
      );
      await status.alert;
    }
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.once(signal, () => {
        void running.close().then(() => process.exit(0));
      });
    }
    return running;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof KeyError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}
