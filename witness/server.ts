import http from "node:http";
import { NoteError, decodeNoteText, type NoteSigner } from "../app/crypto/note";
import { addCheckpoint, latestCheckpoint, type Reply } from "./add-checkpoint";
import type { WitnessState } from "./state";

/** 63 proof lines and a checkpoint with a few dozen signatures fit with room to spare. */
const MAX_BODY_BYTES = 64 * 1024;

async function readBody(request: http.IncomingMessage): Promise<Uint8Array | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function answer(
  request: http.IncomingMessage,
  state: WitnessState,
  witness: NoteSigner,
): Promise<Reply & { allow?: string }> {
  const { pathname, searchParams } = new URL(request.url ?? "/", "http://witness");
  if (pathname === "/checkpoint") {
    if (request.method !== "GET") return { status: 405, body: "GET only\n", allow: "GET" };
    return latestCheckpoint(state, witness, searchParams.get("origin"));
  }
  if (pathname !== "/add-checkpoint") return { status: 404, body: "no such endpoint\n" };
  if (request.method !== "POST") return { status: 405, body: "POST only\n", allow: "POST" };
  const bytes = await readBody(request);
  if (!bytes) return { status: 400, body: `request body over ${MAX_BODY_BYTES} bytes\n` };
  try {
    return await addCheckpoint(state, witness, decodeNoteText(bytes));
  } catch (error) {
    if (error instanceof NoteError) return { status: 400, body: `${error.message}\n` };
    throw error;
  }
}

/**
 * The witness's HTTP interface: POST /add-checkpoint (c2sp.org/tlog-witness), and GET /checkpoint
 * for the newest checkpoint it cosigned (not in the spec: a read for clients that check a log).
 */
export function createWitnessServer(state: WitnessState, witness: NoteSigner): http.Server {
  return http.createServer((request, response) => {
    answer(request, state, witness).then(
      ({ status, body, contentType, allow }) => {
        response.writeHead(status, {
          "Content-Type": contentType ?? "text/plain; charset=utf-8",
          ...(allow ? { Allow: allow } : {}),
          // An oversize body is left unread: close rather than read it to the end.
          ...(status === 400 && !request.complete ? { Connection: "close" } : {}),
        });
        response.end(body);
      },
      (error: unknown) => {
        console.error("witness: add-checkpoint failed", error);
        response.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
        response.end("internal error\n");
      },
    );
  });
}
