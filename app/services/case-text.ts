// The text of a question or an answer: what a person typed, length-limited before it reaches the trail.

export const QUESTION_MAX = 500;
export const ANSWER_MAX = 2000;

/** How a question's and an answer's notes begin, so that the access list labels them. */
export const QUESTION_PREFIX = "Question: ";
export const ANSWER_PREFIX = "Answer: ";

export type CaseText = { ok: true; text: string } | { ok: false; error: string };

// Control characters other than tab and line breaks have no place in a question.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** A question's or answer's text from a form field: trimmed, 1 to `max` characters. */
export function parseCaseText(raw: unknown, max: number): CaseText {
  if (typeof raw !== "string") return { ok: false, error: "Write a short text." };
  const text = raw.replace(/\r\n?/g, "\n").trim();
  if (text.length === 0) return { ok: false, error: "Write a short text." };
  if (text.length > max) return { ok: false, error: `At most ${max} characters, please.` };
  if (CONTROL.test(text))
    return { ok: false, error: "The text has characters that cannot be stored." };
  return { ok: true, text };
}

/** The text of a question's or answer's notes, without its label. */
export function stripLabel(notes: string): string {
  for (const prefix of [QUESTION_PREFIX, ANSWER_PREFIX]) {
    if (notes.startsWith(prefix)) return notes.slice(prefix.length);
  }
  return notes;
}
