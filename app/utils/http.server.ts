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
  const declared = Number(request.headers.get("Content-Length") ?? "0");
  if (declared > limit)
    throw new BodyError(413, "payload_too_large", `The body may be at most ${limit} bytes.`);
  const reader = request.body?.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const next = await reader?.read();
    if (!next || next.done) break;
    size += next.value.byteLength;
    if (size > limit) {
      await reader?.cancel();
      throw new BodyError(413, "payload_too_large", `The body may be at most ${limit} bytes.`);
    }
    chunks.push(next.value);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new BodyError(400, "invalid_json", "The body is not valid JSON.");
  }
}
