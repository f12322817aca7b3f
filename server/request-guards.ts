import type { NextFunction, Request, RequestHandler, Response as ExpressResponse } from "express";
import { DRAIN_LIMIT } from "../app/utils/http.server";

/** The most a form may send: ours are a few hundred bytes. */
export const FORM_BODY_LIMIT = 64 * 1024;

const FORM_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data"];

// The bearer-token API: its callers are servers, and no cookie gives them authority. Its routes
// check their own JSON bodies. Matched on the path as Remix sees it: case-insensitive, with
// "/api/../login" already resolved to "/login".
const API_PATH = /^\/api\//i;

function originOf(url: string | undefined): string | null {
  try {
    return url ? new URL(url).origin : null;
  } catch {
    return null;
  }
}

/**
 * This server's origin as the browser sees it. X-Forwarded-Host and -Proto count only when
 * Express's own `trust proxy` setting trusts the peer, exactly as for `req.protocol`.
 */
function ownOrigin(req: Request): string | null {
  const forwarded = req.get("X-Forwarded-Host");
  const trust = req.app.get("trust proxy fn") as (
    address: string | undefined,
    i: number,
  ) => boolean;
  const host =
    forwarded && trust(req.socket.remoteAddress, 0) ? forwarded.split(",")[0] : req.get("Host");
  return originOf(`${req.protocol}://${host?.trim()}`);
}

/**
 * Whether a browser sent this from one of our own pages: the Origin header when present ("null"
 * never matches); else Sec-Fetch-Site; else the Referer. A request with none of them is refused
 * too: every browser we support sends Origin on a POST.
 */
function fromOwnPage(req: Request): boolean {
  const own = ownOrigin(req);
  const origin = req.get("Origin");
  if (origin !== undefined) return own !== null && originOf(origin) === own;
  const site = req.get("Sec-Fetch-Site");
  if (site !== undefined) return site === "same-origin";
  return own !== null && originOf(req.get("Referer")) === own;
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  413: "Content Too Large",
  415: "Unsupported Media Type",
};

/** Answers with a small page; the unread rest of the body is drained (bounded) so the answer arrives. */
function refuse(req: Request, res: ExpressResponse, status: number, message: string) {
  if (!req.complete) {
    let drained = 0;
    req.on("data", (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > DRAIN_LIMIT) req.socket.destroy();
    });
    req.resume();
  }
  const title = `${status} ${TITLES[status]}`;
  res
    .status(status)
    .type("html")
    .send(
      `<!doctype html><html lang="en"><meta charset="utf-8"><title>${title}</title>` +
        `<h1>${title}</h1><p>${message}</p><p><a href="/">Back to the start page</a></p></html>`,
    );
}

/**
 * Reads the body up to `limit` bytes and puts it back into the request for Remix to read again,
 * then calls `done` with it: null when it is larger, or the client went away. `done` runs in the
 * same tick as the end of the stream: an empty body's "end" event follows on the next tick, and
 * if it fires before Remix listens, Remix waits for the body forever. For the same reason `read()`
 * is only called with data waiting.
 */
function readAhead(req: Request, limit: number, done: (body: Buffer | null) => void) {
  if (req.complete && req.readableLength === 0) return done(Buffer.alloc(0));
  const chunks: Buffer[] = [];
  let size = 0;
  const settle = (body: Buffer | null) => {
    req.off("readable", onReadable);
    req.off("close", onClose);
    done(body);
  };
  const onClose = () => settle(null);
  const onReadable = () => {
    while (req.readableLength > 0) {
      const chunk = req.read() as Buffer;
      size += chunk.length;
      chunks.push(chunk);
      if (size > limit) return settle(null);
    }
    if (!req.complete) return;
    const body = Buffer.concat(chunks);
    if (body.length > 0) req.unshift(body);
    settle(body);
  };
  req.on("readable", onReadable);
  req.on("close", onClose);
}

function checkForm(req: Request, res: ExpressResponse, next: NextFunction) {
  const type = req.get("Content-Type") ?? "";
  const mediaType = type.split(";")[0]!.trim().toLowerCase();
  if (!FORM_TYPES.includes(mediaType)) {
    return refuse(
      req,
      res,
      415,
      "Forms are sent as application/x-www-form-urlencoded or multipart/form-data.",
    );
  }
  const tooLarge = `A form may send at most ${FORM_BODY_LIMIT / 1024} KiB.`;
  if (Number(req.get("Content-Length") ?? 0) > FORM_BODY_LIMIT)
    return refuse(req, res, 413, tooLarge);
  const unreadable = () => refuse(req, res, 400, "The form data could not be read.");
  readAhead(req, FORM_BODY_LIMIT, (body) => {
    if (body === null) return req.destroyed ? undefined : refuse(req, res, 413, tooLarge);
    // Synchronously (see readAhead): an empty form is valid, an empty multipart body is not.
    if (body.length === 0) return mediaType === FORM_TYPES[0] ? next() : unreadable();
    // The parser the routes use, so a body that passes here cannot fail there.
    new Response(new Uint8Array(body), { headers: { "Content-Type": type } })
      .formData()
      .then(() => next(), unreadable);
  });
}

/**
 * One guard for every request that changes something: outside the API, it must come from one
 * of our own pages (403), and be a form (415) of at most FORM_BODY_LIMIT bytes (413) that parses
 * (400). Remix's own origin check runs only on document requests and answers 500.
 */
/**
 * Whether the request's URL can be built the way Remix builds it (protocol, Host, target). An
 * absolute-form target ("POST http://host/login"), "*" or a malformed Host cannot, and would
 * otherwise reach Remix and fail there with a 500.
 */
function addressable(req: Request): boolean {
  if (!req.originalUrl.startsWith("/")) return false;
  try {
    new URL(`${req.protocol}://${req.get("Host")}${req.originalUrl}`);
    return true;
  } catch {
    return false;
  }
}

export function requestGuards(): RequestHandler {
  return (req, res, next) => {
    if (!addressable(req)) {
      return refuse(req, res, 400, "The request's target or Host header is not a valid address.");
    }
    if (req.method === "GET" || req.method === "HEAD") return next();
    if (API_PATH.test(new URL(`http://localhost${req.originalUrl}`).pathname)) return next();
    if (!fromOwnPage(req)) {
      return refuse(req, res, 403, "This request did not come from one of this site's pages.");
    }
    checkForm(req, res, next);
  };
}
