import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../app/config.server";
import { createAppContext, type AppContext } from "../app/context.server";
import { KeyError } from "../app/keys.server";
import { createInvitation } from "../app/models/invitation.server";
import { addSource, listSources, revokeSource, SourceError } from "../app/models/source.server";
import { DEMO_LOGINS, seedDemo } from "../app/services/demo.server";
import { aggregateCommand } from "./aggregate-commands";
import { checkpointCommand, vkeyCommand } from "./checkpoint-commands";
import { importCommand, UsageError } from "./trail-commands";
import { verifyCommand } from "./verify-command";
import { trustCommand } from "./trust-commands";

const HELP = `EHR audit trail command line

Usage: npm run cli -- <command> [options]

Commands:
  invite patient --patient-id <MRN> [--days N]
                      Print a single-use activation code for a patient account bound to <MRN>.
  invite auditor [--days N]
                      Print a single-use invitation code for an audit company account.
  source add <NAME>   Register a source system and print its API bearer token (shown once).
  source revoke <NAME>
                      Revoke a source's token.
  source list         List the source systems.
  import <FILE.ndjson> [--source NAME] [--batch N]
                      Append one event per line. Every line is checked first: a bad line stops
                      the import and stores nothing. Then events are stored in batches of N
                      (500), each sealed by its own checkpoint.
  verify [--db PATH] [--public-key PEM ... | --keys DIR] [--head FILE | --no-head]
                      Verify a copy of the database with public keys only. Exit 0 when clean,
                      1 on any finding. --head names the trusted tree head (default
                      TRAIL_HEAD_PATH, or trail-head.json in --keys); a trail with checkpoints
                      and no readable head is a finding. --no-head checks the database's own
                      consistency only, and says so. Without --db or DATABASE_PATH, and with
                      no data/app.db, it verifies the demo database.
  verify --export <FILE> [--public-key PEM ... | --keys DIR]
                      Verify a CSV or FHIR export: its signature, its checkpoint, and each
                      record's seq and signature. Exit 0 when intact, 1 otherwise.
  trust reset --reason "..."
                      After a deliberate restore or a lost head file: anchor the trail at its
                      own newest checkpoint, remove session, source and invitation rows that
                      fail their checks, record the reset on the trail and mail the admins.
                      Refused while the records or checkpoints themselves fail verification.
  checkpoint [--mail] Verify the database, then print its newest checkpoint as a C2SP signed
                      note (c2sp.org/tlog-checkpoint), signed with the note key. Exit 1, with
                      the findings, when the database does not verify. --mail instead mails the
                      admins the anchor: the note GET /checkpoint serves, with the witnesses'
                      cosignatures (the server also mails it once a day).
  vkey                Print the log's note verifier key (name+hash+base64), for witnesses
                      and clients to pin.
  aggregate keygen [--dir DIR] [--bits N]
                      Generate the audit company's Paillier key pair (default 2048 bits) into
                      DIR (default KEYS_DIR): paillier-public.json for the trails,
                      paillier-private.json (0600) for the audit company alone.
  aggregate sum FILE... [--out F] [--key PUBLIC.json] [--public-key PEM ...]
                      Add counter files from GET /api/aggregates, from one or more trails, with
                      public keys only: each file's trail signature and checkpoint are checked,
                      all must be under one Paillier key (--key pins it), and no trail's days
                      may be given twice. --public-key pins the trails' signing keys.
  aggregate open FILE [--key PRIVATE.json] [--public-key PEM ...] [--json]
                      Decrypt a counter file or a sum with the Paillier private key (default
                      KEYS_DIR/paillier-private.json) and print the totals.
  demo                Create the demo accounts and records in the configured database.
  help                Show this help.

The database and keys come from DATABASE_PATH and KEYS_DIR (defaults: data/app.db, keys/).
Exit codes: 0 success, 1 failure or findings, 2 usage error.`;

function context(): AppContext {
  return createAppContext(loadConfig(process.env));
}

function parseDays(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const days = Number(value);
  if (!Number.isInteger(days) || days < 1 || days > 365) {
    throw new UsageError("--days must be a whole number from 1 to 365");
  }
  return days;
}

function invite(args: string[]): void {
  const { values, positionals } = parseArgs({
    args,
    options: { "patient-id": { type: "string" }, days: { type: "string" } },
    allowPositionals: true,
  });
  const [role, ...extra] = positionals;
  if ((role !== "patient" && role !== "auditor") || extra.length > 0) {
    throw new UsageError("invite takes one user type: patient or auditor");
  }
  const patientId = values["patient-id"]?.trim();
  if (role === "patient" && !patientId) {
    throw new UsageError("invite patient needs --patient-id <MRN>");
  }
  if (role === "auditor" && patientId !== undefined) {
    throw new UsageError("invite auditor takes no --patient-id");
  }
  const days = parseDays(values.days);
  const issued = createInvitation(context(), { role, patientId, days });
  console.log(issued.code);
  console.error(
    `Single-use ${role} code${patientId ? ` for patient ${patientId}` : ""}, valid until ${issued.expiresAt.toISOString()}.`,
  );
}

function source(args: string[]): void {
  const [action, name, ...extra] = args;
  if (action === "list" && !name) {
    for (const s of listSources(context())) {
      console.log(
        `${s.name}\tcreated ${s.createdAt.toISOString()}${s.revokedAt ? `\trevoked ${s.revokedAt.toISOString()}` : ""}`,
      );
    }
    return;
  }
  if ((action !== "add" && action !== "revoke") || !name || extra.length) {
    throw new UsageError("source takes: add <NAME>, revoke <NAME> or list");
  }
  if (action === "add") {
    const { token } = addSource(context(), name);
    console.log(token);
    console.error(`Source "${name}" added. Keep the token secret; it is not shown again.`);
  } else if (revokeSource(context(), name)) {
    console.error(`Source "${name}" revoked.`);
  } else {
    throw new SourceError(`no active source named "${name}"`);
  }
}

async function demo(): Promise<void> {
  const { users: created, records } = await seedDemo(context());
  console.log(`${created} demo account(s) and ${records} demo record(s) created.`);
  for (const l of DEMO_LOGINS) console.log(`  ${l.role.padEnd(8)} ${l.username} / ${l.password}`);
}

export async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case "help":
      case "--help":
      case "-h":
        console.log(HELP);
        return command === undefined ? 2 : 0;
      case "invite":
        invite(rest);
        return 0;
      case "demo":
        await demo();
        return 0;
      case "source":
        source(rest);
        return 0;
      case "import":
        return await importCommand(context(), rest);
      case "verify":
        return await verifyCommand(rest);
      case "trust":
        return await trustCommand(context, rest);
      case "checkpoint":
        return await checkpointCommand(context, rest);
      case "vkey":
        return vkeyCommand(context, rest);
      case "aggregate":
        return await aggregateCommand(rest);
      default:
        throw new UsageError(`unknown command: ${command}`);
    }
  } catch (error) {
    if (
      error instanceof UsageError ||
      (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      console.error(`error: ${(error as Error).message}\nRun "npm run cli -- --help" for usage.`);
      return 2;
    }
    if (error instanceof ConfigError || error instanceof KeyError || error instanceof SourceError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await runCli(process.argv.slice(2));
