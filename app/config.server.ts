import { createHash } from "node:crypto";
import { isIP } from "node:net";
import path from "node:path";
import { z } from "zod";
import { NoteError, SIG_COSIGNATURE_V1, fromBase64 } from "./crypto/note";

const boolean = z
  .enum(["true", "false", "1", "0"], {
    error: 'must be "true" or "false"',
  })
  .transform((v) => v === "true" || v === "1");

const emailList = z
  .string()
  .transform((v) =>
    v
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.email({ error: "must be a comma-separated list of e-mail addresses" })));

/** A whole number written in decimal digits only ("0x50", "1e3" and " " are refused). */
const wholeNumber = (error: string) =>
  z
    .string()
    .regex(/^\d+$/, { error })
    .transform((v) => Number(v));

const positiveInt = (fallback: number) =>
  wholeNumber("must be a whole number")
    .pipe(z.number().positive({ error: "must be greater than zero" }))
    .default(fallback);

/** An address or subnet as Express's "trust proxy" reads it: 10.0.0.1, 10.0.0.0/8, fd00::/8, loopback. */
function isProxyAddress(entry: string): boolean {
  if (["loopback", "linklocal", "uniquelocal"].includes(entry)) return true;
  const [address = "", prefix, ...rest] = entry.split("/");
  const kind = isIP(address);
  if (kind === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d+$/.test(prefix) && Number(prefix) >= 1 && Number(prefix) <= (kind === 4 ? 32 : 128);
}

/**
 * Which hops may name the client in X-Forwarded-For: none, a count of proxies, or their addresses.
 * "true" is refused: it would take the leftmost entry, which the client writes itself.
 */
const trustProxy = z.string().transform((value, check): false | number | string[] => {
  if (value === "false" || value === "0") return false;
  if (/^\d+$/.test(value)) return Number(value);
  const entries = value.split(",").map((s) => s.trim());
  if (value !== "true" && entries.every(isProxyAddress)) return entries;
  check.addIssue({
    code: "custom",
    message:
      value === "true"
        ? '"true" would let the client choose its own address; give the number of proxies in front of the server (e.g. 1) or their addresses'
        : 'must be "false", a number of proxies (e.g. 1) or a comma-separated list of proxy addresses or subnets',
  });
  return z.NEVER;
});

/**
 * A witness's cosignature/v1 verifier key, checked as note.ts's parseVerifierKey does; the key
 * hash is recomputed here with node:crypto because configuration is read synchronously.
 */
function witnessKeyProblem(vkey: string): string | null {
  const [name = "", hash = "", ...rest] = vkey.split("+");
  if (name === "" || /[\s\u0085\p{Cc}]/u.test(name)) return "has no valid key name";
  if (!/^[0-9a-f]{8}$/.test(hash)) return "needs an 8-hex-digit key hash";
  let material: Uint8Array;
  try {
    material = fromBase64(rest.join("+"));
  } catch (error) {
    if (error instanceof NoteError) return `has a key that is ${error.message}`;
    throw error;
  }
  if (material[0] !== SIG_COSIGNATURE_V1 || material.length !== 33) {
    return "is not a cosignature/v1 (type 0x04) Ed25519 key";
  }
  const id = createHash("sha256").update(`${name}\n`).update(material).digest().subarray(0, 4);
  return id.toString("hex") === hash ? null : "has a key hash that does not match its key";
}

/** `VKEY@URL,…`: each witness's verifier key, then its base URL (http or https). */
const witnesses = z.string().transform((value, check) => {
  const list = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i) => {
      // The key ends in base64, which has no "@"; a URL may have one (user@host).
      const [, vkey = "", rawUrl = ""] =
        /^(.+?\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+)@(.*)$/.exec(entry) ?? [];
      const url = rawUrl.replace(/\/+$/, "");
      const problem =
        vkey === ""
          ? "is not VKEY@URL"
          : (witnessKeyProblem(vkey) ??
            (URL.canParse(url) && /^https?:$/.test(new URL(url).protocol)
              ? null
              : "has no http:// or https:// URL after the @"));
      if (problem) check.addIssue({ code: "custom", message: `witness ${i + 1} ${problem}` });
      return { vkey, url };
    });
  if (new Set(list.map((w) => w.vkey)).size !== list.length) {
    check.addIssue({ code: "custom", message: "lists the same witness key twice" });
  }
  return list;
});

const schema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: wholeNumber("must be a port number")
    .pipe(z.number().max(65535, { error: "must be between 0 and 65535" }))
    .default(3000),
  HOST: z.string().min(1).default("0.0.0.0"),
  DATABASE_PATH: z.string().min(1).default("data/app.db"),
  KEYS_DIR: z.string().min(1).default("keys"),
  OUTBOX_DIR: z.string().min(1).default("data/outbox"),
  SMTP_URL: z.url({ protocol: /^smtps?$/, error: "must be an smtp:// or smtps:// URL" }).optional(),
  ALERT_FROM: z.email({ error: "must be an e-mail address" }).default("audit-trail@localhost"),
  ADMIN_EMAILS: emailList.default([]),
  /** Secure cookies need HTTPS; only a plain-http test or demo server turns them off. */
  COOKIE_SECURE: boolean.optional(),
  SESSION_IDLE_MINUTES: positiveInt(30),
  TRUST_PROXY: trustProxy.default(false),
  /** Consecutive failures of one username from one address before that pair is refused. */
  LOGIN_MAX_FAILURES_PER_USER: positiveInt(5),
  /** Failed attempts from one address, over all usernames, per day. */
  LOGIN_MAX_FAILURES_PER_ADDRESS: positiveInt(100),
  INVITATION_DAYS: positiveInt(7),
  TRAIL_ORIGIN: z.string().min(1).default("ehr-audit-trail"),
  /** Where the newest verified tree head is remembered; defaults to trail-head.json in KEYS_DIR. */
  TRAIL_HEAD_PATH: z.string().min(1).optional(),
  WITNESSES: witnesses.default([]),
  /** How many witnesses must cosign a checkpoint; all of them unless set. */
  WITNESS_QUORUM: wholeNumber("must be a whole number")
    .pipe(z.number().positive({ error: "must be greater than zero" }))
    .optional(),
  /** Seconds records may wait for a quorum of cosignatures before the admins hear of it. */
  WITNESS_MAX_LAG: positiveInt(60),
});

type Parsed = z.output<typeof schema>;
export type Config = Omit<Parsed, "COOKIE_SECURE" | "TRAIL_HEAD_PATH" | "WITNESS_QUORUM"> & {
  COOKIE_SECURE: boolean;
  TRAIL_HEAD_PATH: string;
  /** 0 when no witnesses are configured: the trail runs unwitnessed. */
  WITNESS_QUORUM: number;
};

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Reads and checks the configuration; the error names every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty (or blank) variable means "unset", as in most shells' `VAR= cmd`.
  const present = Object.fromEntries(
    Object.entries(env)
      .map(([k, v]) => [k, v?.trim()] as const)
      .filter(([, v]) => v !== undefined && v !== ""),
  );
  const result = schema.safeParse(present);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`));
  }
  const c = result.data;
  const listed = c.WITNESSES.length;
  if (c.WITNESS_QUORUM !== undefined && c.WITNESS_QUORUM > listed) {
    throw new ConfigError([
      `WITNESS_QUORUM: must be at most the number of witnesses in WITNESSES (${listed})`,
    ]);
  }
  return {
    ...c,
    DATABASE_PATH: path.resolve(c.DATABASE_PATH),
    KEYS_DIR: path.resolve(c.KEYS_DIR),
    OUTBOX_DIR: path.resolve(c.OUTBOX_DIR),
    TRAIL_HEAD_PATH: path.resolve(c.TRAIL_HEAD_PATH ?? path.join(c.KEYS_DIR, "trail-head.json")),
    COOKIE_SECURE: c.COOKIE_SECURE ?? c.NODE_ENV === "production",
    WITNESS_QUORUM: c.WITNESS_QUORUM ?? listed,
  };
}
