import type { AppContext } from "../app/context.server";
import { formatFindings } from "../app/trail/alerts.server";
import { checkpointNote, headOf, noteVerifierKey } from "../app/trail/checkpoint-note.server";
import { verifyNow } from "../app/trail/guard.server";
import { UsageError } from "./trail-commands";

/** `checkpoint`: verifies the database, then prints its newest checkpoint note. Exit 0 or 1. */
export async function checkpointCommand(ctx: () => AppContext, args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError("checkpoint takes no arguments");
  const app = ctx();
  const report = verifyNow(app);
  if (!report.ok) {
    // Only the note goes to stdout, so a script that keeps it never keeps anything else.
    console.error(
      `The trail fails verification (${report.findings.length} finding(s)); no checkpoint is printed.`,
    );
    for (const line of formatFindings(report.findings)) console.error(`  ${line}`);
    return 1;
  }
  process.stdout.write(await checkpointNote(app, headOf(report.checkpoint)));
  return 0;
}

/** `vkey`: prints the log's note verifier key, for witnesses and clients to pin. */
export function vkeyCommand(ctx: () => AppContext, args: string[]): number {
  if (args.length > 0) throw new UsageError("vkey takes no arguments");
  console.log(noteVerifierKey(ctx().keys));
  return 0;
}
