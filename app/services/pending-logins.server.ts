import { randomBytes } from "node:crypto";
import type { AppContext } from "../context.server";

/**
 * Server-side state between two steps of an OPAQUE login or an account's move to OPAQUE. It lives
 * in this process's memory only and is named by a random id: the client never holds the state,
 * so it cannot change or replay it. An id is taken once, and expires after PENDING_MS.
 */
export const PENDING_MS = 2 * 60_000;

/** Enough for every login a busy hospital starts in two minutes; the throttle bounds each address. */
const MAX_PENDING = 20_000;

type Entry<T> = { kind: string; value: T; expiresAt: number };
const perContext = new WeakMap<AppContext, Map<string, Entry<unknown>>>();

function storeOf(ctx: AppContext): Map<string, Entry<unknown>> {
  let store = perContext.get(ctx);
  if (!store) {
    store = new Map();
    perContext.set(ctx, store);
  }
  return store;
}

function dropExpired(ctx: AppContext, store: Map<string, Entry<unknown>>) {
  const now = ctx.now();
  // A Map iterates in insertion order, and every entry lives equally long: the oldest are first.
  for (const [id, entry] of store) {
    if (entry.expiresAt > now) break;
    store.delete(id);
  }
}

/** Keeps `value` under a fresh random id, or returns null when too many are pending. */
export function putPending<T>(ctx: AppContext, kind: string, value: T): string | null {
  const store = storeOf(ctx);
  dropExpired(ctx, store);
  if (store.size >= MAX_PENDING) return null;
  const id = randomBytes(24).toString("base64url");
  store.set(id, { kind, value, expiresAt: ctx.now() + PENDING_MS });
  return id;
}

/** The value kept under `id`, removed so that it can be taken only once; null when unknown or expired. */
export function takePending<T>(ctx: AppContext, kind: string, id: string): T | null {
  const store = storeOf(ctx);
  const entry = store.get(id);
  if (!entry) return null;
  store.delete(id);
  if (entry.expiresAt <= ctx.now() || entry.kind !== kind) return null;
  return entry.value as T;
}
