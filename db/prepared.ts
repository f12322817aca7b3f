import type { Db } from "./connection";

/**
 * A query built once for each connection. Drizzle otherwise builds the SQL text, and SQLite
 * prepares it, on every call: for the session and user reads of each request, more than the
 * reads themselves (docs/decisions/008).
 */
export function preparedQuery<Q>(build: (db: Db) => Q): (db: Db) => Q {
  const built = new WeakMap<Db, Q>();
  return (db) => {
    let query = built.get(db);
    if (!query) {
      query = build(db);
      built.set(db, query);
    }
    return query;
  };
}
