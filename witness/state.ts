import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

// Why SQLite for a witness's few rows: a transaction is atomic and, with WAL and synchronous=FULL,
// durable once COMMIT returns, across kill -9 and power loss. BEGIN IMMEDIATE makes "check the old
// size, then store the new checkpoint" one step even for two processes on the same directory, which
// is the race c2sp.org/tlog-witness warns about. A JSON file would need rename-and-fsync dances and
// its own locking for the same guarantees.

/** What the witness knows of one log: its pinned key and the newest checkpoint it cosigned. */
export type LogState = {
  origin: string;
  vkey: string;
  /** 0 with a null root: nothing cosigned yet. */
  size: number;
  root: Buffer | null;
};

export type Decision<R> =
  { store: { size: number; root: Buffer; note: string; timestamp: number } } | { refuse: R };

/** The newest checkpoint the witness cosigned for a log: the note as the log sent it, and when. */
export type Cosigned = { note: string; timestamp: number };

// One migration per entry, applied in order and counted by PRAGMA user_version.
const MIGRATIONS = [
  `CREATE TABLE logs (
     origin TEXT PRIMARY KEY,
     vkey TEXT NOT NULL,
     size INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0),
     root BLOB CHECK (root IS NULL OR length(root) = 32),
     checkpoint TEXT,
     cosigned_at INTEGER
   ) STRICT;
   -- A second line of defence under the code: the state never goes back, nor forks at one size.
   CREATE TRIGGER logs_never_backwards BEFORE UPDATE OF size, root ON logs
   WHEN NEW.size < OLD.size OR (NEW.size = OLD.size AND OLD.root IS NOT NULL AND NEW.root IS NOT OLD.root)
   BEGIN SELECT RAISE(ABORT, 'a witness never goes backwards'); END;`,
  // The cosignature's own timestamp (POSIX seconds): with it, GET /checkpoint signs the stored
  // note again and, Ed25519 being deterministic, serves the very cosignature the log received.
  `ALTER TABLE logs ADD COLUMN cosigned_time INTEGER;`,
];

export class WitnessState {
  private constructor(private readonly db: Database.Database) {}

  /** Opens (creating and migrating) the state file in the data directory. */
  static open(dataDir: string): WitnessState {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const db = new Database(path.join(dataDir, "state.db"));
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.pragma("busy_timeout = 5000");
    db.transaction(() => {
      const version = db.pragma("user_version", { simple: true }) as number;
      MIGRATIONS.slice(version).forEach((sql) => db.exec(sql));
      db.pragma(`user_version = ${MIGRATIONS.length}`);
    }).immediate();
    return new WitnessState(db);
  }

  /** Pins a log's verifier key for its origin; what was cosigned before is kept. */
  trust(origin: string, vkey: string): void {
    this.db
      .prepare(
        "INSERT INTO logs (origin, vkey) VALUES (?, ?) ON CONFLICT (origin) DO UPDATE SET vkey = excluded.vkey",
      )
      .run(origin, vkey);
  }

  log(origin: string): LogState | undefined {
    return this.db
      .prepare("SELECT origin, vkey, size, root FROM logs WHERE origin = ?")
      .get(origin) as LogState | undefined;
  }

  /**
   * Reads the log's state and, if `decide` says so, stores a new checkpoint, in one IMMEDIATE
   * transaction committed before this returns. `decide` must be synchronous.
   */
  advance<R>(origin: string, decide: (current: LogState) => Decision<R>): Decision<R> {
    return this.db
      .transaction(() => {
        const current = this.log(origin);
        if (!current) throw new Error(`unknown origin ${origin}`);
        const decision = decide(current);
        if ("store" in decision) {
          const { size, root, note, timestamp } = decision.store;
          this.db
            .prepare(
              "UPDATE logs SET size = ?, root = ?, checkpoint = ?, cosigned_at = ?, cosigned_time = ? WHERE origin = ?",
            )
            .run(size, root, note, Date.now(), timestamp, origin);
        }
        return decision;
      })
      .immediate();
  }

  /** The newest checkpoint cosigned for `origin`; null when none was, undefined for an unknown origin. */
  cosigned(origin: string): Cosigned | null | undefined {
    const row = this.db
      .prepare("SELECT checkpoint AS note, cosigned_time AS timestamp FROM logs WHERE origin = ?")
      .get(origin) as { note: string | null; timestamp: number | null } | undefined;
    if (!row) return undefined;
    return row.note !== null && row.timestamp !== null
      ? { note: row.note, timestamp: row.timestamp }
      : null;
  }

  close(): void {
    this.db.close();
  }
}
