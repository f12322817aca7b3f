export class BodyError extends Error {
  constructor(
    public readonly status: 400 | 413 | 415,
    public readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A JSON error response: `{ "error": { "code", "message", "fields"? } }`. */
export function jsonError(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
  fields?: Record<string, string>,
) {
  return Response.json(
    { error: { code, message, ...(fields ? { fields } : {}) } },
    { status, headers },
  );
}

/**
 * How much of a refused body is still read, and thrown away, so that the client gets the answer:
 * closing the connection on a client that is still uploading resets it, and the answer is lost.
 */
export const DRAIN_LIMIT = 16 * 1024 * 1024;

async function discardRest(reader: ReadableStreamDefaultReader<Uint8Array>, alreadyRead: number) {
  let size = alreadyRead;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) return;
      size += next.value.byteLength;
      if (size > DRAIN_LIMIT) return await reader.cancel();
    }
  } catch {
    // The client went away: nothing is left to drain.
  }
}

/** Reads a JSON body of at most `limit` bytes; refuses other content types (415) and larger bodies (413). */
export async function readJsonBody(
  request: Request,
  limit: number,
  types: readonly string[] = ["application/json"],
): Promise<unknown> {
  const type = (request.headers.get("Content-Type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (!types.includes(type)) {
    throw new BodyError(415, "unsupported_media_type", `The body must be ${types.join(" or ")}.`);
  }
  const tooLarge = new BodyError(
    413,
    "payload_too_large",
    `The body may be at most ${limit} bytes.`,
  );
  const reader = request.body?.getReader();
  if (!reader) return parseJson([]);
  const declared = Number(request.headers.get("Content-Length") ?? "0");
  if (declared > limit) {
    // Not awaited: the 413 goes out while the rest is read.
    void discardRest(reader, 0);
    throw tooLarge;
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const next = await reader.read();
    if (next.done) break;
    size += next.value.byteLength;
    if (size > limit) {
      void discardRest(reader, size);
      throw tooLarge;
    }
    chunks.push(next.value);
  }
  return parseJson(chunks);
}

function parseJson(chunks: Uint8Array[]): unknown {
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new BodyError(400, "invalid_json", "The body is not valid JSON.");
  }
}
