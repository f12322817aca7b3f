import fs from "node:fs";
import path from "node:path";
import type { Witness } from "./verify.server";

// The newest head this installation has verified, kept outside the database (beside the keys,
// by default), so that replacing the database with an older copy is noticed.

export function readWitness(file: string): Witness | null {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  const parsed = JSON.parse(text) as { number: number; treeSize: number; rootHash: string };
  return {
    number: parsed.number,
    treeSize: parsed.treeSize,
    rootHash: Buffer.from(parsed.rootHash, "hex"),
  };
}

export function writeWitness(file: string, witness: Witness): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  const body = {
    number: witness.number,
    treeSize: witness.treeSize,
    rootHash: witness.rootHash.toString("hex"),
  };
  fs.writeFileSync(temp, JSON.stringify(body) + "\n", { mode: 0o600 });
  fs.renameSync(temp, file);
}

/** Where the fingerprints of mailed incidents are kept: beside the witness, outside the database. */
export function alertLogPath(witnessFile: string): string {
  return `${witnessFile}.alerts`;
}

export function readAlerted(file: string): Set<string> {
  try {
    return new Set(fs.readFileSync(file, "utf8").split("\n").filter(Boolean));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return new Set();
    throw error;
  }
}

export function markAlerted(file: string, fingerprint: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, `${fingerprint}\n`, { mode: 0o600 });
}
