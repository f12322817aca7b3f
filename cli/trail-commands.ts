import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { parseArgs } from "node:util";
import type { AppContext } from "../app/context.server";
import { appendRecords } from "../app/trail/append.server";
import { parseBody, toRecordInput, type Event } from "../app/trail/ingest.server";
import { SELF_SOURCE } from "../app/trail/self-source";
import { createSignerPool } from "../app/trail/signer-pool.server";
import { progressBar } from "./progress";

export class UsageError extends Error {}

async function* ndjsonLines(file: string): AsyncGenerator<{ line: number; text: string }> {
  const input = fs.createReadStream(file, { encoding: "utf8" });
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line += 1;
    if (text.trim()) yield { line, text };
  }
}

function parseLine(line: number, text: string): Event {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`line ${line}: not valid JSON`);
  }
  if (typeof json === "object" && json !== null && "records" in json) {
    throw new Error(`line ${line}: each line holds one event, not a batch`);
  }
  const parsed = parseBody(json);
  if (!parsed.ok) {
    const [field, message] = Object.entries(parsed.errors)[0]!;
    throw new Error(`line ${line}: ${field}: ${message}`);
  }
  return parsed.events[0]!;
}

/**
 * Imports an NDJSON file: every line is checked first, so a bad line stores nothing; then the
 * events are appended in batches, each committed with its own checkpoint.
 */
export async function importCommand(ctx: AppContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      source: { type: "string", default: "import" },
      batch: { type: "string", default: "500" },
    },
    allowPositionals: true,
  });
  const [file, ...extra] = positionals;
  if (!file || extra.length) throw new UsageError("import takes one NDJSON file");
  const batchSize = Number(values.batch);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new UsageError("--batch must be a whole number from 1 to 10000");
  }
  if (values.source === SELF_SOURCE) {
    throw new UsageError(`--source "${SELF_SOURCE}" is reserved for the trail's own records`);
  }
  if (!fs.existsSync(file)) throw new UsageError(`no such file: ${file}`);

  const size = fs.statSync(file).size;
  const checking = progressBar("Checking ", "bytes");
  let events = 0;
  let read = 0;
  try {
    for await (const { line, text } of ndjsonLines(file)) {
      parseLine(line, text);
      events += 1;
      read += Buffer.byteLength(text) + 1;
      if (events % 1000 === 0) checking.update(Math.min(read, size), size);
    }
  } catch (error) {
    checking.done();
    console.error(`Import refused, nothing stored: ${(error as Error).message}`);
    return 1;
  }
  checking.update(size, size);
  checking.done(`Checked ${events} events`);
  if (events === 0) {
    console.error("The file holds no events; nothing stored.");
    return 1;
  }

  const pool = createSignerPool(ctx.keys.signing.privateKey);
  const importing = progressBar("Importing");
  let stored = 0;
  let lastLine = 0;
  let batch: { line: number; event: Event }[] = [];
  const flush = async () => {
    if (!batch.length) return;
    await appendRecords(
      ctx,
      batch.map((b) => toRecordInput(b.event, values.source!)),
      { signer: pool.sign, triggeredBy: `import ${path.basename(file)}` },
    );
    stored += batch.length;
    lastLine = batch[batch.length - 1]!.line;
    batch = [];
    importing.update(stored, events);
  };
  try {
    for await (const { line, text } of ndjsonLines(file)) {
      batch.push({ line, event: parseLine(line, text) });
      if (batch.length >= batchSize) await flush();
    }
    await flush();
  } catch (error) {
    importing.done();
    console.error(
      `Import stopped: ${(error as Error).message}. ${stored} events up to line ${lastLine} were stored and sealed; ` +
        `the rest were not.`,
    );
    return 1;
  } finally {
    await pool.close();
  }
  importing.done(`Imported ${stored} events`);
  console.log(`Imported ${stored} events from ${file} as source "${values.source}".`);
  return 0;
}
