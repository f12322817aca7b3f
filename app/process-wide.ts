// State that must be one per process, not one per module instance. The HTTP server
// (server/http.ts, run by tsx) and the Remix build it loads each hold their own copy of every
// app module, and both work on the same AppContext: the server checks the trail at start and
// sends checkpoints to the witnesses, the build serves the views. A verdict, a witness's refusal
// or an alert already mailed must be seen by both.

/** The one value of `name` in this process, created by `create` on first use. */
export function processWide<T>(name: string, create: () => T): T {
  const key = Symbol.for(`ehr-audit-trail/${name}`);
  const shared = globalThis as unknown as Record<symbol, T | undefined>;
  return (shared[key] ??= create());
}
