import type { VerifiedStatus } from "~/services/trail-view.server";

/** "Verified: N records · checkpoint #N signed <time> · key <short id>". */
export function VerifiedLine({ status }: { status: VerifiedStatus }) {
  const signedAt = status.signedAt ? status.signedAt.replace("T", " ").slice(0, 19) : "—";
  return (
    <p role="status" className="verified">
      <span aria-hidden="true">✓ </span>Verified: {status.records} records · checkpoint #
      {status.checkpointNumber} signed {signedAt} UTC · key{" "}
      {status.keyId ? status.keyId.slice(0, 12) : "none"}
    </p>
  );
}
