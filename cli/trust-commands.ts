import os from "node:os";
import { parseArgs } from "node:util";
import type { AppContext } from "../app/context.server";
import { formatFindings } from "../app/trail/alerts.server";
import { resetTrust } from "../app/trail/trust-reset.server";
import { UsageError } from "./trail-commands";

const MAX_REASON = 500;

/** `trust reset --reason "..."`: the operator re-anchors the trail on purpose. Exit 0 or 1. */
export async function trustCommand(ctx: () => AppContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { reason: { type: "string" } },
    allowPositionals: true,
  });
  const [action, ...extra] = positionals;
  if (action !== "reset" || extra.length > 0) {
    throw new UsageError('trust takes: reset --reason "why the head is reset"');
  }
  const reason = values.reason?.trim() ?? "";
  if (!reason) throw new UsageError('trust reset needs --reason "..." (it is recorded and mailed)');
  if (reason.length > MAX_REASON) {
    throw new UsageError(`--reason may be at most ${MAX_REASON} characters`);
  }
  const result = await resetTrust(ctx(), reason, `${os.userInfo().username} (cli)`);
  if (!result.ok) {
    console.log("Trust reset refused: the trail itself fails verification.");
    console.log("Restore a good copy of the database (and its keys) first; then reset the head.");
    for (const line of formatFindings(result.findings)) console.log(`  ${line}`);
    return 1;
  }
  console.log(
    `The trail is now anchored at checkpoint #${result.head!.number} (${result.head!.treeSize} records).`,
  );
  for (const row of result.removed) console.log(`  removed ${row}: it failed its check`);
  console.log(
    result.delivery.via === "smtp"
      ? "The admins were mailed."
      : `The admins' message is in ${result.delivery.file}.`,
  );
  return 0;
}
