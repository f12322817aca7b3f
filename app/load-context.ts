import type { AppContext } from "./context.server";

declare module "@remix-run/node" {
  interface AppLoadContext {
    /** Configuration, keys and database, built once when the server starts. */
    app: AppContext;
    /** This response's Content-Security-Policy nonce for inline scripts. */
    cspNonce: string;
    /** The client's address, as the server (and TRUST_PROXY) sees it. */
    clientAddress: string;
  }
}

export {};
