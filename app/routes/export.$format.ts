import type { LoaderFunctionArgs } from "@remix-run/node";
import { INTEGRITY_COMPROMISED, requireUser } from "~/auth.server";
import { EXPORT_FORMATS, startExport, type ExportFormat } from "~/services/export.server";
import { parseRecordQuery } from "~/services/record-query.server";

const TYPES: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8",
  fhir: "application/fhir+json; charset=utf-8",
};

const text = (status: number, message: string) =>
  new Response(message, { status, headers: { "Content-Type": "text/plain; charset=utf-8" } });

/** GET /export/csv and /export/fhir, with the view's filters: a signed, streamed download. */
export async function loader({ request, params, context }: LoaderFunctionArgs) {
  const { user } = await requireUser(context.app, request);
  const format = params.format as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) return text(404, "No such export format.");
  const query = parseRecordQuery(new URL(request.url).searchParams, user);
  if (!query.ok) return text(400, `Invalid filters: ${Object.values(query.errors).join(" ")}`);
  const started = await startExport(context.app, user, query.filters, format);
  if (!started.ok) {
    return started.reason === "empty"
      ? text(409, "The trail holds no records yet.")
      : text(503, `${INTEGRITY_COMPROMISED}: nothing is exported.`);
  }
  return new Response(started.stream, {
    headers: {
      "Content-Type": TYPES[format],
      "Content-Disposition": `attachment; filename="${started.filename}"`,
      "Cache-Control": "no-store",
    },
  });
}
