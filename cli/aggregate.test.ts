// The command line of the aggregates: the audit company's keygen and open, and the
// aggregator's sum, which holds the public key only and never loads the private key's module.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { access, appendAll, auditCompany, expectedCounts, makeTrail } from "../tests/aggregates";
import { CLI_TIMEOUT, runCli } from "../tests/cli";
import { loadedModules } from "../tests/import-graph";
import { PAILLIER_PUBLIC_FILE } from "../app/crypto/paillier.server";
import { buildAggregateFile } from "../app/services/aggregates.server";

const PRIVATE_MODULE = "app/crypto/paillier-private.server.ts";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ehr-aggregate-cli-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("the aggregator's code path", () => {
  test.each([
    "cli/aggregate-sum.ts",
    "cli/aggregate-commands.ts",
    "cli/main.ts",
    "app/routes/api.aggregates.ts",
  ])("%s never loads the Paillier private key's module", (entry) => {
    const loaded = loadedModules(entry);
    expect(loaded.has("app/crypto/paillier.server.ts") || entry.endsWith("main.ts")).toBe(true);
    expect([...loaded].filter((m) => m === PRIVATE_MODULE)).toEqual([]);
  });

  test("the audit company's command does load it: the check sees what it looks for", () => {
    expect(loadedModules("cli/aggregate-open.ts").has(PRIVATE_MODULE)).toBe(true);
  });
});

test(
  "keygen writes the key pair apart, once",
  () => {
    const made = runCli(["aggregate", "keygen", "--dir", dir], {});
    expect(made.status).toBe(0);
    expect(made.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.statSync(path.join(dir, "paillier-private.json")).mode & 0o777).toBe(0o600);
    const publicKey = JSON.parse(
      fs.readFileSync(path.join(dir, PAILLIER_PUBLIC_FILE), "utf8"),
    ) as object;
    expect(Object.keys(publicKey).sort()).toEqual(["g", "key_id", "n", "type"]);
    const again = runCli(["aggregate", "keygen", "--dir", dir], {});
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already exist/);
    expect(runCli(["aggregate", "keygen", "--bits", "1024"], {}).status).toBe(2);
  },
  CLI_TIMEOUT * 3,
);

test(
  "sum with the public key alone, then open with the private key, gives the plain totals",
  async () => {
    const A = [
      access("2026-11-01", "read", "lab_results", 0),
      access("2026-11-02", "copy", "imaging", 1),
    ];
    const B = [
      access("2026-11-01", "read", "lab_results", 0),
      access("2026-11-01", "read", "vital_signs", 1),
    ];
    const files: string[] = [];
    for (const [origin, inputs] of [
      ["clinic-a", A],
      ["clinic-b", B],
    ] as const) {
      const ctx = await makeTrail(origin, "audit-co");
      await appendAll(ctx, [...inputs]);
      const built = await buildAggregateFile(ctx, "test", { from: "2026-11-01", to: "2026-11-02" });
      if (!built.ok) throw new Error(built.reason);
      files.push(path.join(dir, `${origin}.json`));
      fs.writeFileSync(files.at(-1)!, JSON.stringify(built.file));
    }
    const company = await auditCompany();
    // The aggregator's folder holds the public key and nothing else.
    const aggregator = path.join(dir, "aggregator");
    fs.mkdirSync(aggregator);
    fs.copyFileSync(company.publicFile, path.join(aggregator, PAILLIER_PUBLIC_FILE));
    const sumFile = path.join(dir, "sum.json");
    const env = { KEYS_DIR: aggregator };
    const key = path.join(aggregator, PAILLIER_PUBLIC_FILE);
    const summed = runCli(["aggregate", "sum", ...files, "--out", sumFile, "--key", key], env);
    expect(summed.stderr).toMatch(/Summed 2 counter file\(s\), 2026-11-01 to 2026-11-02/);
    expect(summed.status).toBe(0);

    const opened = runCli(
      ["aggregate", "open", sumFile, "--key", company.privateFile, "--json"],
      env,
    );
    expect(opened.status).toBe(0);
    const cells = (
      JSON.parse(opened.stdout) as {
        cells: { day: string; dimension: string; key: string; count: number }[];
      }
    ).cells;
    const counts = new Map(
      cells.filter((c) => c.count > 0).map((c) => [`${c.day} ${c.dimension} ${c.key}`, c.count]),
    );
    expect(counts).toEqual(expectedCounts(A, B));
    const table = runCli(["aggregate", "open", sumFile, "--key", company.privateFile], env);
    expect(table.stdout).toMatch(/^2026-11-01 +action +read +3$/m);
    expect(table.stdout).toMatch(/^ +table +vital_signs +1$/m);
    expect(table.stdout).toMatch(/4 access\(es\) in all\./);

    // One changed ciphertext: refused, named, and nothing written.
    const changed = JSON.parse(fs.readFileSync(files[1]!, "utf8")) as {
      counters: { ciphertext: string }[];
    };
    changed.counters[2]!.ciphertext = changed.counters[3]!.ciphertext;
    fs.writeFileSync(files[1]!, JSON.stringify(changed));
    const out = path.join(dir, "refused.json");
    const refused = runCli(["aggregate", "sum", ...files, "--out", out], env);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/clinic-b\.json: the trail's signature does not match/);
    expect(fs.existsSync(out)).toBe(false);
    const unopened = runCli(["aggregate", "open", files[1]!, "--key", company.privateFile], env);
    expect(unopened.status).toBe(1);
    expect(unopened.stdout).toBe("");
  },
  CLI_TIMEOUT * 5,
);
