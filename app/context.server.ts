import type { Config } from "./config.server";
import { getConnection, type Connection } from "../db/connection";
import { loadOrCreateKeys, type Keys } from "./keys.server";
import type { Signer } from "./trail/append.server";

/** Everything a request handler or CLI command needs: checked configuration, keys and the database. */
export type AppContext = {
  config: Config;
  keys: Keys;
  conn: Connection;
  now: () => number;
  /** Signs records and checkpoints off the request thread: the server's pool of workers. */
  signer?: Signer;
};

/** Builds the context once at start: keys are created or checked, and migrations are applied. */
export function createAppContext(config: Config): AppContext & { keysCreated: boolean } {
  const { keys, created } = loadOrCreateKeys(config.KEYS_DIR, config.TRAIL_ORIGIN);
  const conn = getConnection(config.DATABASE_PATH);
  return { config, keys, conn, now: Date.now, keysCreated: created };
}
