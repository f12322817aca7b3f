import type { VerifiedStatus } from "~/services/trail-view.server";
import type { WitnessStatus } from "~/trail/witness-status.server";

/** "witnessed by k of n, checkpoint #N, T seconds ago", or why it is not (yet). */
function witnessText(w: WitnessStatus): string {
  if (w.lagging) {
    return `not yet witnessed: the newest records are still waiting for the witnesses' cosignatures${
      w.checkpointNumber === null ? "" : ` (last cosigned: checkpoint #${w.checkpointNumber})`
    }`;
  }
  if (w.secondsAgo === null)
    return `awaiting the witnesses (${w.cosigners} of ${w.witnesses} so far)`;
  return `witnessed by ${w.cosigners} of ${w.witnesses}, checkpoint #${w.checkpointNumber}, ${w.secondsAgo} seconds ago`;
}

/** "Verified: N records · checkpoint #N signed <time> · key <short id> · witnessed by …". */
export function VerifiedLine({ status }: { status: VerifiedStatus }) {
  const signedAt = status.signedAt ? status.signedAt.replace("T", " ").slice(0, 19) : "—";
  return (
    <p role="status" className="verified">
      <span aria-hidden="true">✓ </span>Verified: {status.records} records · checkpoint #
      {status.checkpointNumber} signed {signedAt} UTC · key{" "}
      {status.keyId ? status.keyId.slice(0, 12) : "none"}
      {status.witnesses ? ` · ${witnessText(status.witnesses)}` : null}
    </p>
  );
}
