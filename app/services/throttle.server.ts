import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import type { AppContext } from "../context.server";
import { blindIndex } from "../crypto/hashing.server";

export type LoginAttempt = { username: string; address: string };
export type ThrottleDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

const MINUTE = 60;
const DAY = 24 * 60 * MINUTE;
const SLOW_DOWN_FIRST_MS = 250;
const SLOW_DOWN_MAX_MS = 10_000;

/**
 * rate-limiter-flexible's login protection recipe. The counters live in this process's memory on
 * purpose: whoever can write the database file (the attacker we design against) cannot reset them.
 */
type Limiters = {
  /** Consecutive failures of one username from one address: the tight limit, then a 15-minute block. */
  pair: RateLimiterMemory;
  /** Failures from one address over all usernames in a day: the loose limit, then a day's block. */
  address: RateLimiterMemory;
  /**
   * Failures of one username from anywhere only slow its attempts down: a hard limit here would let
   * a stranger lock the owner out.
   */
  username: RateLimiterMemory;
};
const perContext = new WeakMap<AppContext, Limiters>();

function limitersFor(ctx: AppContext): Limiters {
  let limiters = perContext.get(ctx);
  if (!limiters) {
    const perUser = ctx.config.LOGIN_MAX_FAILURES_PER_USER;
    limiters = {
      pair: new RateLimiterMemory({
        keyPrefix: "pair",
        points: perUser,
        duration: DAY,
        blockDuration: 15 * MINUTE,
      }),
      address: new RateLimiterMemory({
        keyPrefix: "address",
        points: ctx.config.LOGIN_MAX_FAILURES_PER_ADDRESS,
        duration: DAY,
        blockDuration: DAY,
      }),
      username: new RateLimiterMemory({ keyPrefix: "username", points: perUser, duration: DAY }),
    };
    perContext.set(ctx, limiters);
  }
  return limiters;
}

// Blind indexes, so usernames match as logins do (case, spacing) and memory holds no one's name.
function keysOf(ctx: AppContext, { username, address }: LoginAttempt) {
  const user = blindIndex(ctx.keys.blindIndexKey, "username", username).toString("base64url");
  const from = blindIndex(ctx.keys.blindIndexKey, "login_address", address).toString("base64url");
  return { pair: `${user}:${from}`, address: from, username: user };
}

async function consume(limiter: RateLimiterMemory, key: string): Promise<RateLimiterRes | null> {
  try {
    await limiter.consume(key);
    return null;
  } catch (refusal) {
    if (refusal instanceof RateLimiterRes) return refusal;
    throw refusal;
  }
}

/** The wait before checking a username's password, once it has had `limit` failures: 250 ms, doubling, at most 10 s. */
export function slowDownMs(earlierFailures: number, limit: number): number {
  if (earlierFailures < limit) return 0;
  return Math.min(SLOW_DOWN_FIRST_MS * 2 ** (earlierFailures - limit), SLOW_DOWN_MAX_MS);
}

/**
 * Counts the attempt as a failure before its password is checked, so concurrent guesses cannot get
 * past a limit; refuses it when the address or the username+address pair has spent its failures,
 * and otherwise may first wait while the username is under attack.
 */
export async function admitLoginAttempt(
  ctx: AppContext,
  attempt: LoginAttempt,
): Promise<ThrottleDecision> {
  const limiters = limitersFor(ctx);
  const keys = keysOf(ctx, attempt);
  const refusal =
    (await consume(limiters.address, keys.address)) ?? (await consume(limiters.pair, keys.pair));
  if (refusal) {
    return {
      allowed: false,
      retryAfterSeconds: Math.max(1, Math.ceil(refusal.msBeforeNext / 1000)),
    };
  }
  const { consumedPoints } = await limiters.username.penalty(keys.username);
  const wait = slowDownMs(consumedPoints - 1, ctx.config.LOGIN_MAX_FAILURES_PER_USER);
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  return { allowed: true };
}

/**
 * The password was right: the attempt was no failure, and the pair's consecutive failures were the
 * owner's own typing, so they no longer slow the username down either.
 */
export async function recordLoginSuccess(ctx: AppContext, attempt: LoginAttempt): Promise<void> {
  const limiters = limitersFor(ctx);
  const keys = keysOf(ctx, attempt);
  const ownAttempts = (await limiters.pair.get(keys.pair))?.consumedPoints ?? 1;
  await Promise.all([
    limiters.pair.delete(keys.pair),
    limiters.address.reward(keys.address),
    limiters.username.reward(keys.username, ownAttempts),
  ]);
}

/**
 * What one account may do a few times a day, never more: questions ("ask why") and the
 * confirmation e-mails of a notice address. Enough for a worried patient, not a flood.
 */
export const PER_ACCOUNT_PER_DAY = { question: 5, confirmation: 5 } as const;
const accountLimiters = new WeakMap<AppContext, Map<string, RateLimiterMemory>>();

/** Counts one `kind` of request against its account; refused past its daily limit. */
export async function admitPerAccount(
  ctx: AppContext,
  kind: keyof typeof PER_ACCOUNT_PER_DAY,
  userId: string,
): Promise<ThrottleDecision> {
  let limiters = accountLimiters.get(ctx);
  if (!limiters) accountLimiters.set(ctx, (limiters = new Map()));
  let limiter = limiters.get(kind);
  if (!limiter) {
    const points = PER_ACCOUNT_PER_DAY[kind];
    limiters.set(
      kind,
      (limiter = new RateLimiterMemory({ keyPrefix: kind, points, duration: DAY })),
    );
  }
  const refusal = await consume(limiter, userId);
  if (!refusal) return { allowed: true };
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(refusal.msBeforeNext / 1000)) };
}

/** What a refused login attempt is told. */
export function tooManyAttemptsMessage(retryAfterSeconds: number): string {
  const minutes = Math.ceil(retryAfterSeconds / 60);
  const wait =
    minutes > 90
      ? `${Math.ceil(minutes / 60)} hours`
      : `${minutes} minute${minutes === 1 ? "" : "s"}`;
  return `Too many failed attempts. Try again in ${wait}.`;
}
