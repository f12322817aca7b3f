import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
  SIG_COSIGNATURE_V1,
  generateSigner,
  parseSignerKey,
  type NoteSigner,
} from "../app/crypto/note";

const KEY_FILE = "witness.key";

/**
 * The witness's cosigning key, a signer key string of type 0x04 in DIR/witness.key, created with
 * mode 0600 on first use. `name` only names a new key.
 */
export async function loadOrCreateWitnessKey(dataDir: string, name?: string): Promise<NoteSigner> {
  const file = path.join(dataDir, KEY_FILE);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(file)) {
    const { skey } = await generateSigner(
      name ?? `witness-${randomBytes(4).toString("hex")}`,
      SIG_COSIGNATURE_V1,
    );
    try {
      // "wx": two first starts at once must not both write a key; the loser reads the winner's.
      fs.writeFileSync(file, `${skey}\n`, { flag: "wx", mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  if ((fs.statSync(file).mode & 0o077) !== 0) {
    throw new Error(`${file} is readable by others: chmod 600 it`);
  }
  const signer = await parseSignerKey(fs.readFileSync(file, "utf8").trim());
  if (signer.type !== SIG_COSIGNATURE_V1) throw new Error(`${file} is not a cosignature key`);
  return signer;
}
