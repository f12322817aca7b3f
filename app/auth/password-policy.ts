// NIST SP 800-63B: at least 12 characters here, at least 64 allowed, no composition rules.
// The server never sees the password, so the browser applies this and tells the server the
// verdict, never the password (decision record 017).
export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 128;

export const PASSWORD_CHECKS = ["ok", "short", "long", "mismatch"] as const;
export type PasswordCheck = (typeof PASSWORD_CHECKS)[number];

const codePoints = (s: string) => [...s].length;

/** The verdict on a new password and its confirmation. */
export function checkNewPassword(password: string, confirmation: string): PasswordCheck {
  if (codePoints(password) < PASSWORD_MIN) return "short";
  if (codePoints(password) > PASSWORD_MAX) return "long";
  return password === confirmation ? "ok" : "mismatch";
}
