import { PaillierKeyError } from "../app/crypto/paillier.server";
import { UsageError } from "./trail-commands";

// `aggregate keygen | sum | open`. Each subcommand is loaded only when it runs: `sum` must
// never load the module that reads the Paillier private key (checked in cli/aggregate.test.ts).

export async function aggregateCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case "sum":
        return (await import("./aggregate-sum")).sumCommand(rest);
      case "open":
        return (await import("./aggregate-open")).openCommand(rest);
      case "keygen":
        return await (await import("./aggregate-open")).keygenCommand(rest);
      default:
        throw new UsageError("aggregate takes: keygen, sum FILE... or open FILE");
    }
  } catch (error) {
    if (!(error instanceof PaillierKeyError)) throw error;
    console.error(error.message);
    return 1;
  }
}
