import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createRequestHandler } from "@remix-run/express";
import type { ServerBuild } from "@remix-run/node";
import express from "express";
import type { Config } from "../app/config.server";
import { createAppContext, type AppContext } from "../app/context.server";
import { startDailyAnchor } from "../app/trail/anchor-mail.server";
import { startNotices } from "../app/services/notices.server";
import { createSignerPool } from "../app/trail/signer-pool.server";
import { startWitnessing, type Witnessing } from "../app/trail/witnessing.server";
import { startOutsideWriteWatch } from "../app/trail/outside-write-watch.server";
import { startWalCheckpointer } from "../db/wal-checkpointer";
import { requestGuards } from "./request-guards";

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const BUILD_ENTRY = path.join(PROJECT_ROOT, "build", "index.js");

function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'self'",
    // 'wasm-unsafe-eval': the login and registration pages compile the OPAQUE client's
    // WebAssembly (decision record 017). It allows WebAssembly only, not eval of scripts.
    `script-src 'self' 'nonce-${nonce}' 'wasm-unsafe-eval'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Express app: security headers on every response, static assets, then Remix. */
export function createHttpApp(ctx: AppContext, build: ServerBuild): express.Express {
  const app = express();
  app.disable("x-powered-by");
  if (ctx.config.TRUST_PROXY !== false) app.set("trust proxy", ctx.config.TRUST_PROXY);
  app.use((_req, res, next) => {
    const nonce = randomBytes(16).toString("base64");
    res.locals.cspNonce = nonce;
    res.set({
      "Content-Security-Policy": contentSecurityPolicy(nonce),
      "X-Frame-Options": "DENY",
      "X-Content-Type-Options": "nosniff",
      // Not "no-referrer": with it browsers send "Origin: null", which fails Remix's CSRF check.
      "Referrer-Policy": "same-origin",
      "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
      "Cross-Origin-Opener-Policy": "same-origin",
      // Pages carry PHI: no shared or browser cache keeps them. Static assets override this.
      "Cache-Control": "no-store",
    });
    if (ctx.config.COOKIE_SECURE) {
      res.set("Strict-Transport-Security", "max-age=31536000; includeSubDomains");
    }
    next();
  });
  app.use(
    "/build",
    express.static(path.join(PROJECT_ROOT, "public", "build"), {
      immutable: true,
      maxAge: "1y",
    }),
  );
  app.use(express.static(path.join(PROJECT_ROOT, "public"), { maxAge: "1h" }));
  app.use(requestGuards());
  app.all(
    "*",
    createRequestHandler({
      build,
      mode: ctx.config.NODE_ENV,
      getLoadContext: (req, res) => ({
        app: ctx,
        cspNonce: res.locals.cspNonce as string,
        clientAddress: req.ip ?? req.socket.remoteAddress ?? "unknown",
      }),
    }),
  );
  return app;
}

export type RunningServer = {
  ctx: AppContext;
  witnessing: Witnessing;
  server: Server;
  url: string;
  close: () => Promise<void>;
};

/** Opens the database and keys, then listens; throws ConfigError or KeyError before listening. */
export async function startServer(
  config: Config,
): Promise<RunningServer & { keysCreated: boolean }> {
  const ctx = createAppContext(config);
  // Records and checkpoints are signed on every core, never on the thread that serves requests.
  const pool = createSignerPool(ctx.keys.signing.privateKey);
  ctx.signer = pool.sign;
  // Nor does it copy the write-ahead log back into the database file inside a commit.
  const checkpointer = startWalCheckpointer(ctx.conn);
  let server: Server;
  let witnessing: Witnessing;
  try {
    const build = (await import(pathToFileURL(BUILD_ENTRY).href)) as ServerBuild;
    const app = createHttpApp(ctx, build);
    witnessing = await startWitnessing(ctx);
    server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(config.PORT, config.HOST, () => resolve(s));
      s.once("error", reject);
    });
  } catch (error) {
    await Promise.all([pool.close(), checkpointer.stop()]);
    throw error;
  }
  const stopDailyAnchor = startDailyAnchor(ctx);
  const stopNotices = startNotices(ctx);
  const stopWatch = startOutsideWriteWatch(ctx);
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.PORT;
  const host = ["0.0.0.0", "::", "127.0.0.1", "::1"].includes(config.HOST)
    ? "localhost"
    : config.HOST;
  return {
    ctx,
    witnessing,
    server,
    keysCreated: ctx.keysCreated,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => {
          // The witnesses' sender, the daily anchor, the notices, the watch for other processes'
          // writes and the log's checkpoints stop first: they use the database.
          const stopped = [
            witnessing.stop(),
            stopDailyAnchor(),
            stopNotices(),
            stopWatch(),
            checkpointer.stop(),
          ];
          void Promise.all(stopped).then(async () => {
            ctx.conn.sqlite.close();
            await pool.close();
            resolve();
          });
        });
        server.closeAllConnections();
      }),
  };
}
