import type { LinksFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import {
  Form,
  Link,
  Links,
  Meta,
  Outlet,
  Scripts,
  ScrollRestoration,
  isRouteErrorResponse,
  useRouteError,
  useRouteLoaderData,
} from "@remix-run/react";
import type { ReactNode } from "react";
import { isIntegrityError, getOptionalUser } from "./auth.server";
import { ROLE_LABELS } from "./models/user.server";
import { useNonce } from "./nonce";
import styles from "./styles.css";

export const links: LinksFunction = () => [
  { rel: "stylesheet", href: styles },
  { rel: "icon", href: "/favicon.ico" },
];

export const meta: MetaFunction = () => [{ title: "EHR Audit Trail" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  // An account or session that fails its integrity check shows as signed out here; /home says why.
  const found = await getOptionalUser(context.app, request).catch((error: unknown) => {
    if (isIntegrityError(error)) return null;
    throw error;
  });
  return {
    viewer: found
      ? {
          name: found.user.name,
          roleLabel: ROLE_LABELS[found.user.role],
          isAuditor: found.user.role === "auditor",
        }
      : null,
  };
}

export function Layout({ children }: { children: ReactNode }) {
  const nonce = useNonce();
  const data = useRouteLoaderData<typeof loader>("root");
  const viewer = data?.viewer ?? null;
  return (
    <html lang="en">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <Meta />
        <Links />
      </head>
      <body>
        <a className="skip-link" href="#main">
          Skip to content
        </a>
        <header className="site-header">
          <Link to="/" className="brand">
            EHR Audit Trail
          </Link>
          <nav aria-label="Account">
            {viewer ? (
              <Form method="post" action="/logout" className="inline-form">
                <Link to="/home" className="nav-link">
                  Records
                </Link>
                {viewer.isAuditor ? (
                  <>
                    <Link to="/dashboard" className="nav-link">
                      Dashboard
                    </Link>
                    <Link to="/cases" className="nav-link">
                      Questions
                    </Link>
                  </>
                ) : (
                  <Link to="/notices" className="nav-link">
                    Notices
                  </Link>
                )}
                <span className="viewer">
                  {viewer.name} · {viewer.roleLabel}
                </span>
                <button type="submit" className="link-button">
                  Log out
                </button>
              </Form>
            ) : (
              <>
                <Link to="/login">Log in</Link>
                <Link to="/register">Register</Link>
              </>
            )}
          </nav>
        </header>
        <main id="main">{children}</main>
        <ScrollRestoration nonce={nonce} />
        <Scripts nonce={nonce} />
      </body>
    </html>
  );
}

export default function App() {
  return <Outlet />;
}

export function ErrorBoundary() {
  const error = useRouteError();
  const status = isRouteErrorResponse(error) ? error.status : 500;
  return (
    <section className="card" aria-labelledby="error-title">
      <h1 id="error-title">{status === 404 ? "Page not found" : "Something went wrong"}</h1>
      <p>
        {status === 404
          ? "There is no page at this address."
          : "The request could not be completed. Please try again."}
      </p>
      <p>
        <Link to="/">Go to the start page</Link>
      </p>
    </section>
  );
}
