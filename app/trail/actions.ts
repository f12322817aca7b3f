/** The actions a record can name (design.md), shared by the API, the filters and the forms. */
export const ACTIONS = [
  "create",
  "read",
  "update",
  "delete",
  "execute",
  "print",
  "copy",
  "query",
  "export",
  "login",
  "logout",
] as const;

export type Action = (typeof ACTIONS)[number];
