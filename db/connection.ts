import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import type { BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as schema from "./schema";

export type Db = BetterSQLite3Database<typeof schema>;
export type Connection = {
  sqlite: Database.Database;
  db: Db;
  file: string;
  /** The opened file's identity (device:inode), to notice it being deleted or replaced. */
  fileId: string;
};

/** device:inode of a file, or "missing". */
export function fileIdOf(file: string): string {
  try {
    const s = fs.statSync(file);
    return `${s.dev}:${s.ino}`;
  } catch {
    return "missing";
  }
}

// Resolved from this module's location (db/ in source, build/ when bundled: both sit beside
// drizzle/), so the migrations are found from any working directory.
export const MIGRATIONS_FOLDER = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../drizzle",
);

/** Opens a SQLite file with the pragmas the trail relies on, and applies pending migrations. */
export function openDatabase(file: string): Connection {
  if (file !== ":memory:") fs.mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new Database(file);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("synchronous = NORMAL");
  // 64 MiB of page cache: appends update several indexes, and verification streams the table.
  sqlite.pragma("cache_size = -65536");
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  return { sqlite, db, file, fileId: fileIdOf(file) };
}

const cache = globalThis as typeof globalThis & {
  __ehrConnections?: Map<string, Connection>;
};

/** The one connection per database file, kept on globalThis so reloads do not open more. */
export function getConnection(file: string): Connection {
  cache.__ehrConnections ??= new Map();
  let connection = cache.__ehrConnections.get(file);
  if (!connection || !connection.sqlite.open) {
    connection = openDatabase(file);
    cache.__ehrConnections.set(file, connection);
  }
  return connection;
}

/** Closes every cached connection (tests, shutdown). */
export function closeConnections(): void {
  for (const c of cache.__ehrConnections?.values() ?? []) if (c.sqlite.open) c.sqlite.close();
  cache.__ehrConnections?.clear();
}
