import path from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { ConfigError, loadConfig } from "./config.server";
import {
  SIG_COSIGNATURE_V1,
  SIG_ED25519,
  formatVerifierKey,
  generateSigner,
  type SignatureType,
} from "./crypto/note";

type Env = Record<string, string | undefined>;

/** loadConfig over exactly these variables (ProcessEnv's NODE_ENV type is narrower than a test needs). */
function load(env: Env) {
  return loadConfig(env as NodeJS.ProcessEnv);
}

function configErrorOf(env: Env): ConfigError {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).name).toBe("ConfigError");
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError, but loadConfig succeeded");
}

describe("loadConfig defaults", () => {
  it("applies the defaults to an empty environment", () => {
    const config = load({});
    expect(config.NODE_ENV).toBe("development");
    expect(config.PORT).toBe(3000);
    expect(config.HOST).toBe("0.0.0.0");
    expect(config.DATABASE_PATH).toBe(path.resolve("data/app.db"));
    expect(config.KEYS_DIR).toBe(path.resolve("keys"));
    expect(config.OUTBOX_DIR).toBe(path.resolve("data/outbox"));
    expect(path.isAbsolute(config.DATABASE_PATH)).toBe(true);
    expect(config.SMTP_URL).toBeUndefined();
    expect(config.ALERT_FROM).toBe("audit-trail@localhost");
    expect(config.ADMIN_EMAILS).toEqual([]);
    expect(config.COOKIE_SECURE).toBe(false);
    expect(config.SESSION_IDLE_MINUTES).toBe(30);
    expect(config.TRUST_PROXY).toBe(false);
    expect(config.LOGIN_MAX_FAILURES_PER_USER).toBe(5);
    expect(config.LOGIN_MAX_FAILURES_PER_ADDRESS).toBe(100);
    expect(config.INVITATION_DAYS).toBe(7);
    expect(config.TRAIL_ORIGIN).toBe("ehr-audit-trail");
  });

  it("reads process.env by default, and only the given environment otherwise", () => {
    vi.stubEnv("PORT", "4321");
    try {
      expect(loadConfig().PORT).toBe(4321);
      expect(load({}).PORT).toBe(3000);
      expect(load({ PORT: "8080" }).PORT).toBe(8080);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("resolves relative paths and keeps absolute ones", () => {
    const config = load({
      DATABASE_PATH: "/var/lib/ehr/audit.db",
      KEYS_DIR: "secrets/keys",
    });
    expect(config.DATABASE_PATH).toBe("/var/lib/ehr/audit.db");
    expect(config.KEYS_DIR).toBe(path.resolve("secrets/keys"));
  });

  it("makes cookies secure by default only in production", () => {
    expect(load({ NODE_ENV: "development" }).COOKIE_SECURE).toBe(false);
    expect(load({ NODE_ENV: "test" }).COOKIE_SECURE).toBe(false);
    expect(load({ NODE_ENV: "production" }).COOKIE_SECURE).toBe(true);
  });

  it("lets COOKIE_SECURE override the default either way", () => {
    expect(load({ NODE_ENV: "production", COOKIE_SECURE: "false" }).COOKIE_SECURE).toBe(false);
    expect(load({ NODE_ENV: "production", COOKIE_SECURE: "0" }).COOKIE_SECURE).toBe(false);
    expect(load({ NODE_ENV: "development", COOKIE_SECURE: "true" }).COOKIE_SECURE).toBe(true);
    expect(load({ NODE_ENV: "development", COOKIE_SECURE: "1" }).COOKIE_SECURE).toBe(true);
  });

  it("parses numeric settings", () => {
    const config = load({
      SESSION_IDLE_MINUTES: "45",
      INVITATION_DAYS: "2",
      PORT: "0",
    });
    expect(config.SESSION_IDLE_MINUTES).toBe(45);
    expect(config.INVITATION_DAYS).toBe(2);
    expect(config.PORT).toBe(0);
    expect(load({ PORT: "65535" }).PORT).toBe(65535);
  });

  it("accepts smtp:// and smtps:// URLs", () => {
    expect(load({ SMTP_URL: "smtp://localhost:2525" }).SMTP_URL).toBe("smtp://localhost:2525");
    expect(load({ SMTP_URL: "smtps://user:pass@mail.example.org:465" }).SMTP_URL).toBe(
      "smtps://user:pass@mail.example.org:465",
    );
  });
});

describe("empty variables", () => {
  it("treats an empty string as unset", () => {
    const config = load({
      PORT: "",
      DATABASE_PATH: "",
      KEYS_DIR: "",
      SMTP_URL: "",
      ADMIN_EMAILS: "",
      COOKIE_SECURE: "",
      NODE_ENV: "",
      TRUST_PROXY: "",
      SESSION_IDLE_MINUTES: "",
    });
    expect(config.PORT).toBe(3000);
    expect(config.DATABASE_PATH).toBe(path.resolve("data/app.db"));
    expect(config.KEYS_DIR).toBe(path.resolve("keys"));
    expect(config.SMTP_URL).toBeUndefined();
    expect(config.ADMIN_EMAILS).toEqual([]);
    expect(config.NODE_ENV).toBe("development");
    expect(config.COOKIE_SECURE).toBe(false);
    expect(config.TRUST_PROXY).toBe(false);
    expect(config.SESSION_IDLE_MINUTES).toBe(30);
  });

  it("treats a blank variable as unset, not as zero", () => {
    const config = load({ PORT: " ", SESSION_IDLE_MINUTES: "\t" });
    expect(config.PORT).toBe(3000);
    expect(config.SESSION_IDLE_MINUTES).toBe(30);
  });

  it("treats an undefined variable as unset", () => {
    expect(load({ PORT: undefined, NODE_ENV: undefined }).PORT).toBe(3000);
  });

  it("uses the production default for an empty COOKIE_SECURE", () => {
    expect(load({ NODE_ENV: "production", COOKIE_SECURE: "" }).COOKIE_SECURE).toBe(true);
  });
});

describe("TRUST_PROXY", () => {
  it("takes a number of proxy hops, as Express's trust proxy does", () => {
    expect(load({ TRUST_PROXY: "1" }).TRUST_PROXY).toBe(1);
    expect(load({ TRUST_PROXY: "2" }).TRUST_PROXY).toBe(2);
    expect(load({ TRUST_PROXY: "false" }).TRUST_PROXY).toBe(false);
    expect(load({ TRUST_PROXY: "0" }).TRUST_PROXY).toBe(false);
  });

  it("takes a comma-separated list of proxy addresses, subnets and Express's range names", () => {
    expect(load({ TRUST_PROXY: "10.0.0.1, 192.168.0.0/16,fd00::/8,loopback" }).TRUST_PROXY).toEqual(
      ["10.0.0.1", "192.168.0.0/16", "fd00::/8", "loopback"],
    );
  });

  it('refuses "true", which would let the client pick its address, and says what to use', () => {
    const error = configErrorOf({ TRUST_PROXY: "true" });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^TRUST_PROXY: .*number of proxies in front of the server/);
  });

  it.each(["on", "yes", "10.0.0.300", "10.0.0.0/33", "10.0.0.1/8/1", "10.0.0.1,", "proxy.local"])(
    "refuses %j, naming the variable",
    (value) => {
      expect(configErrorOf({ TRUST_PROXY: value }).message).toContain(
        'TRUST_PROXY: must be "false", a number of proxies (e.g. 1) or a comma-separated list',
      );
    },
  );
});

describe("ADMIN_EMAILS", () => {
  it("parses a comma-separated list, trimming and dropping empty items", () => {
    expect(
      load({
        ADMIN_EMAILS: " alice@example.org ,bob@example.com,, carol@x.io ",
      }).ADMIN_EMAILS,
    ).toEqual(["alice@example.org", "bob@example.com", "carol@x.io"]);
    expect(load({ ADMIN_EMAILS: "one@example.org" }).ADMIN_EMAILS).toEqual(["one@example.org"]);
  });

  it("rejects an item that is not an e-mail address", () => {
    const error = configErrorOf({ ADMIN_EMAILS: "not-an-email" });
    expect(error.message).toContain("ADMIN_EMAILS");
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^ADMIN_EMAILS/);
  });

  it("rejects a list with one bad item among good ones", () => {
    const error = configErrorOf({
      ADMIN_EMAILS: "alice@example.org, not-an-email",
    });
    expect(error.message).toContain("ADMIN_EMAILS");
  });
});

describe("invalid values", () => {
  it.each([
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["PORT", "-1"],
    ["PORT", "80.5"],
    ["SMTP_URL", "http://x"],
    ["SMTP_URL", "not a url"],
    ["COOKIE_SECURE", "yes"],
    ["TRUST_PROXY", "on"],
    ["NODE_ENV", "staging"],
    ["ALERT_FROM", "nobody"],
    ["SESSION_IDLE_MINUTES", "0"],
    ["SESSION_IDLE_MINUTES", "ten"],
    ["INVITATION_DAYS", "1.5"],
    ["PORT", "0x50"],
    ["PORT", "1e3"],
  ])("rejects %s=%j with a ConfigError naming the variable", (name, value) => {
    const error = configErrorOf({ [name]: value });
    expect(error.message).toContain(name);
    expect(error.problems.length).toBeGreaterThan(0);
    for (const problem of error.problems) expect(problem.startsWith(`${name}:`)).toBe(true);
  });

  it("explains what a bad PORT must be", () => {
    expect(configErrorOf({ PORT: "abc" }).message).toMatch(/PORT: must be a port number/);
    expect(configErrorOf({ PORT: "70000" }).message).toMatch(/PORT: must be between 0 and 65535/);
  });

  it("explains what SMTP_URL and COOKIE_SECURE must be", () => {
    expect(configErrorOf({ SMTP_URL: "http://x" }).message).toContain(
      "SMTP_URL: must be an smtp:// or smtps:// URL",
    );
    expect(configErrorOf({ COOKIE_SECURE: "yes" }).message).toContain(
      'COOKIE_SECURE: must be "true" or "false"',
    );
  });

  it("reports every bad variable at once", () => {
    const error = configErrorOf({
      PORT: "abc",
      ADMIN_EMAILS: "not-an-email",
      SMTP_URL: "http://x",
      COOKIE_SECURE: "yes",
    });
    // A problem names its variable first (an item of a list as e.g. "ADMIN_EMAILS.0").
    const names = error.problems.map((p) => p.split(/[.:]/)[0]);
    expect(new Set(names)).toEqual(new Set(["PORT", "ADMIN_EMAILS", "SMTP_URL", "COOKIE_SECURE"]));
    for (const name of ["PORT", "ADMIN_EMAILS", "SMTP_URL", "COOKIE_SECURE"])
      expect(error.message).toContain(name);
    expect(error.message.startsWith("Invalid configuration:")).toBe(true);
  });

  it("ignores variables it does not know", () => {
    expect(() => load({ PATH: "/usr/bin", SOMETHING_ELSE: "whatever" })).not.toThrow();
  });
});

describe("WITNESSES, WITNESS_QUORUM and WITNESS_MAX_LAG", () => {
  // Real cosignature/v1 keys, as `npm run witness -- vkey` prints them.
  let a: string;
  let b: string;
  let logKey: string;
  beforeAll(async () => {
    const vkey = async (name: string, type: SignatureType) =>
      formatVerifierKey((await generateSigner(name, type)).signer);
    a = await vkey("witness-a", SIG_COSIGNATURE_V1);
    b = await vkey("witness-b", SIG_COSIGNATURE_V1);
    logKey = await vkey("some-log", SIG_ED25519);
  });

  it("runs unwitnessed by default, with a lag of 60 seconds", () => {
    const config = load({});
    expect(config.WITNESSES).toEqual([]);
    expect(config.WITNESS_QUORUM).toBe(0);
    expect(config.WITNESS_MAX_LAG).toBe(60);
  });

  it("reads VKEY@URL pairs, and the quorum defaults to all of them", () => {
    const config = load({ WITNESSES: `${a}@http://127.0.0.1:7001/, ${b}@https://w.example/x` });
    expect(config.WITNESSES).toEqual([
      { vkey: a, url: "http://127.0.0.1:7001" },
      { vkey: b, url: "https://w.example/x" },
    ]);
    expect(config.WITNESS_QUORUM).toBe(2);
    const one = load({ WITNESSES: `${a}@http://a,${b}@http://b`, WITNESS_QUORUM: "1" });
    expect(one.WITNESS_QUORUM).toBe(1);
    expect(load({ WITNESS_MAX_LAG: "5" }).WITNESS_MAX_LAG).toBe(5);
  });

  it.each([
    ["no URL", () => a, /witness 1 is not VKEY@URL/],
    ["an ftp URL", () => `${a}@ftp://w`, /witness 1 has no http:\/\/ or https:\/\/ URL/],
    ["a log key (type 0x01)", () => `${logKey}@http://w`, /is not a cosignature\/v1/],
    ["a wrong key hash", () => `${a.replace(/\+[0-9a-f]{8}\+/, "+00000000+")}@http://w`, /hash/],
    ["the same key twice", () => `${a}@http://a,${a}@http://b`, /same witness key twice/],
  ])("refuses %s, naming WITNESSES", (_, value, message) => {
    const error = configErrorOf({ WITNESSES: value() });
    for (const problem of error.problems) expect(problem.startsWith("WITNESSES:")).toBe(true);
    expect(error.message).toMatch(message);
  });

  it("refuses a quorum above the number of witnesses, or of zero", () => {
    expect(configErrorOf({ WITNESSES: `${a}@http://a`, WITNESS_QUORUM: "2" }).message).toContain(
      "WITNESS_QUORUM: must be at most the number of witnesses in WITNESSES (1)",
    );
    expect(configErrorOf({ WITNESS_QUORUM: "1" }).message).toContain("WITNESS_QUORUM");
    expect(configErrorOf({ WITNESS_QUORUM: "0" }).message).toContain(
      "WITNESS_QUORUM: must be greater than zero",
    );
    expect(configErrorOf({ WITNESS_MAX_LAG: "0" }).message).toContain("WITNESS_MAX_LAG");
  });
});
