import { Link, isRouteErrorResponse, useRouteError } from "@remix-run/react";

export const INTEGRITY_TEXT =
  "The audit trail failed verification, so no records are shown. The administrators have been alerted.";

const DEFAULTS: Record<number, { title: string; text: string }> = {
  401: {
    title: "Please log in",
    text: "You need to log in to see this page. No records are shown without a login.",
  },
  404: { title: "Page not found", text: "There is nothing to show at this address." },
  503: { title: "Data integrity compromised", text: INTEGRITY_TEXT },
};

/** A route's error page by status: login needed, not found, integrity compromised, or other. */
export function RouteErrorPage({
  overrides = {},
  back = { to: "/home", label: "Go to the records" },
}: {
  overrides?: Partial<Record<number, { title: string; text: string }>>;
  back?: { to: string; label: string };
}) {
  const error = useRouteError();
  const status = isRouteErrorResponse(error) ? error.status : 500;
  const { title, text } = overrides[status] ??
    DEFAULTS[status] ?? {
      title: "Something went wrong",
      text: "The page could not be shown. Please try again.",
    };
  return (
    <section className="card narrow" aria-labelledby="error-title">
      <h1 id="error-title">{title}</h1>
      <p role="alert" className="alert alert-error">
        {text}
      </p>
      <p>
        <Link to={status === 401 ? "/login" : back.to}>
          {status === 401 ? "Go to the login page" : back.label}
        </Link>
      </p>
    </section>
  );
}
