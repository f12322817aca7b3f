// What verification reports. A finding names positions and ids, never field contents (no PHI).

export const FINDING_KINDS = [
  "modified",
  "bad_signature",
  "missing",
  "inserted",
  "duplicated",
  "reordered",
  "bad_checkpoint",
  "unknown_key",
  "rollback",
  "anchor",
  "unwitnessed",
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export const FINDING_LABELS: Record<FindingKind, string> = {
  modified: "Modified",
  bad_signature: "Bad signature",
  missing: "Missing",
  inserted: "Inserted",
  duplicated: "Duplicated",
  reordered: "Reordered",
  bad_checkpoint: "Bad checkpoint",
  unknown_key: "Unknown key",
  rollback: "Rolled back",
  anchor: "Head missing or unreadable",
  unwitnessed: "Not vouched for by a quorum of witnesses",
};

/** One thing found wrong. It names positions and ids only, never field contents (no PHI). */
export type Finding = {
  kind: FindingKind;
  target:
    | "record"
    | "checkpoint"
    | "user"
    | "source"
    | "invitation"
    | "notice"
    | "session"
    | "database"
    | "head"
    | "witness";
  seq?: number;
  logId?: string | null;
  /** A checkpoint number, a row's id, the head file, or a witness's key name. */
  ref?: string;
  detail: string;
};
