// The actions of the records the trail writes about its own cases and notices (docs/decisions/020).
// They are not among the actions a source may send (app/trail/actions.ts), so no source can
// write one; and they are read only from the trail's own source.

export const CASE_ACTION = {
  /** A patient asks why about a record: opens a case. Part of the record: the record's log id. */
  ask: "ask_why",
  /** An auditor answers: the case is answered. Part of the record: the question's log id. */
  answer: "answer_why",
} as const;

export const NOTICE_ACTION = {
  /** A patient's notice settings changed (address confirmed, choices, off). */
  settings: "notice_settings",
  /** A notice of new accesses was e-mailed. */
  sent: "notice_sent",
} as const;

/** What the records that carry the trail's own bookkeeping name as their part of the record. */
export const NOTICES_TABLE = "notices";

const OWN: readonly string[] = [...Object.values(CASE_ACTION), ...Object.values(NOTICE_ACTION)];

/** Whether an action is one of the trail's own case or notice records. */
export function isBookkeepingAction(action: string): boolean {
  return OWN.includes(action);
}
