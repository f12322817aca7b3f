import type { AddressInfo } from "node:net";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";
import { ALERT_SUBJECT } from "../app/trail/alerts.server";

export type Mailbox = {
  /** Settings that send the admins' mail here. */
  env: Record<string, string>;
  mails: ParsedMail[];
  /** Waits until `count` messages have arrived (alerts are sent in the background). */
  received: (count?: number) => Promise<ParsedMail[]>;
  close: () => Promise<void>;
};

/** A real SMTP server on 127.0.0.1 (on `port`, or any free one) that keeps every message, parsed. */
export async function openMailbox(port = 0): Promise<Mailbox> {
  const mails: ParsedMail[] = [];
  const smtp = new SMTPServer({
    authOptional: true,
    // smtp-server's built-in certificate has expired: plain SMTP on loopback.
    disabledCommands: ["STARTTLS"],
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail) => {
          mails.push(mail);
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve, reject) => {
    smtp.once("error", reject);
    smtp.listen(port, "127.0.0.1", () => resolve());
  });
  const bound = (smtp.server.address() as AddressInfo).port;
  return {
    env: { SMTP_URL: `smtp://127.0.0.1:${bound}`, ADMIN_EMAILS: "security@hospital.test" },
    mails,
    async received(count = 1) {
      for (let waited = 0; mails.length < count; waited += 20) {
        if (waited > 10_000) throw new Error(`expected ${count} message(s), got ${mails.length}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return mails;
    },
    close: () => new Promise<void>((resolve) => smtp.close(() => resolve())),
  };
}

/** The text of every integrity alert received so far, one after the other. */
export const alertTexts = (mailbox: Mailbox): string =>
  mailbox.mails
    .filter((m) => m.subject?.startsWith(ALERT_SUBJECT))
    .map((m) => m.text)
    .join("\n");
