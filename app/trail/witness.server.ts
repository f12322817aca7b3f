import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { Witness } from "./verify.server";

// The newest head this installation has verified, kept outside the database (beside the keys,
// by default), so that replacing the database with an older copy is noticed. It fails closed:
// a database with checkpoints and no readable head is a finding, never a pass
// (docs/decisions/010-fail-closed-anchor.md).

/** What was found where the head should be. */
export type HeadRead =
  | { state: "found"; file: string; head: Witness }
  | { state: "missing"; file: string }
  | { state: "unreadable"; file: string; reason: string }
  /** The operator chose to check the database's own consistency only (`verify --no-head`). */
  | { state: "not_checked" };

const headFile = z
  .object({
    number: z.number().int().nonnegative(),
    treeSize: z.number().int().nonnegative(),
    rootHash: z.string().regex(/^[0-9a-f]{64}$/),
    lastLogId: z.string().max(64).nullable().optional(),
  })
  .strict();

const MAX_HEAD_BYTES = 4096;

/**
 * A small regular file's text. Opened without blocking and checked before it is read: a FIFO,
 * a directory or a device put in its place fails instead of stalling the server.
 */
function readSmallFile(file: string, maxBytes: number): string {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw Object.assign(new Error("not a regular file"), { code: "ENOTFILE" });
    if (stat.size > maxBytes) throw Object.assign(new Error("too large"), { code: "EFBIG" });
    return fs.readFileSync(fd, "utf8");
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads the head file; never throws. */
export function readHead(file: string): HeadRead {
  let text: string;
  try {
    text = readSmallFile(file, MAX_HEAD_BYTES);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { state: "missing", file };
    return { state: "unreadable", file, reason: `cannot be read (${code ?? "error"})` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { state: "unreadable", file, reason: "is not JSON" };
  }
  const parsed = headFile.safeParse(json);
  if (!parsed.success) return { state: "unreadable", file, reason: "is not a tree head" };
  const { number, treeSize, rootHash, lastLogId } = parsed.data;
  return {
    state: "found",
    file,
    head: {
      number,
      treeSize,
      rootHash: Buffer.from(rootHash, "hex"),
      lastLogId: lastLogId ?? null,
    },
  };
}

/** Replaces the head file atomically (write a temporary file, then rename). */
export function writeHead(file: string, head: Witness): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  const body = {
    number: head.number,
    treeSize: head.treeSize,
    rootHash: head.rootHash.toString("hex"),
    lastLogId: head.lastLogId ?? null,
  };
  fs.writeFileSync(temp, JSON.stringify(body) + "\n", { mode: 0o600 });
  fs.renameSync(temp, file);
}

/** Where the fingerprints of mailed incidents are kept: beside the head, outside the database. */
export function alertLogPath(headFile: string): string {
  return `${headFile}.alerts`;
}

/** Fingerprints already mailed. An unreadable log counts as none: mailing twice beats silence. */
export function readAlerted(file: string): Set<string> {
  try {
    return new Set(
      readSmallFile(file, 16 * 1024 * 1024)
        .split("\n")
        .filter(Boolean),
    );
  } catch {
    return new Set();
  }
}

export function markAlerted(file: string, fingerprint: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, `${fingerprint}\n`, { mode: 0o600 });
}
