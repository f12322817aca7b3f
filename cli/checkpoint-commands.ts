import { parseArgs } from "node:util";
import type { AppContext } from "../app/context.server";
import { formatFindings } from "../app/trail/alerts.server";
import { mailAnchor } from "../app/trail/anchor-mail.server";
import { checkpointNote, headOf, noteVerifierKey } from "../app/trail/checkpoint-note.server";
import { verifyNow } from "../app/trail/guard.server";
import { refreshWitnessedHeads } from "../app/trail/witness-anchor.server";
import { publishedCheckpoint } from "../app/trail/witness-status.server";
import { UsageError } from "./trail-commands";

/**
 * `checkpoint [--mail]`: verifies the database, then prints its newest checkpoint note, or with
 * --mail mails the admins the anchor (the note GET /checkpoint serves, cosignatures included) and
 * says where it went. Exit 0 or 1.
 */
export async function checkpointCommand(ctx: () => AppContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { mail: { type: "boolean" } },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError("checkpoint takes no arguments but --mail");
  const app = ctx();
  // What the witnesses cosigned comes first: a rolled-back database prints and mails nothing.
  await refreshWitnessedHeads(app);
  const report = verifyNow(app);
  if (!report.ok) {
    // Only the note goes to stdout, so a script that keeps it never keeps anything else.
    console.error(
      `The trail fails verification (${report.findings.length} finding(s)); no checkpoint is ${values.mail ? "mailed" : "printed"}.`,
    );
    for (const line of formatFindings(report.findings)) console.error(`  ${line}`);
    return 1;
  }
  if (!values.mail) {
    process.stdout.write(await checkpointNote(app, headOf(report.checkpoint)));
    return 0;
  }
  const published = await publishedCheckpoint(app, report.checkpoint);
  const delivery = await mailAnchor(app, published);
  const what = `The anchor (${published.treeSize} records, checkpoint #${published.number ?? 0}, cosigned by ${published.cosigners} of ${published.witnesses} witnesses)`;
  if (delivery.via === "smtp") {
    console.log(
      `${what} was mailed to ${app.config.ADMIN_EMAILS.join(", ")} (message ${delivery.messageId}).`,
    );
  } else {
    console.log(`${what} was written to ${delivery.file} (SMTP_URL or ADMIN_EMAILS is unset).`);
  }
  return 0;
}

/** `vkey`: prints the log's note verifier key, for witnesses and clients to pin. */
export function vkeyCommand(ctx: () => AppContext, args: string[]): number {
  if (args.length > 0) throw new UsageError("vkey takes no arguments");
  console.log(noteVerifierKey(ctx().keys));
  return 0;
}
