/**
 * The source id of the records the trail writes about its own use (logins, views, questions,
 * answers, notices). No source system may take this name: its records would pass for the trail's.
 */
export const SELF_SOURCE = "audit-trail";
