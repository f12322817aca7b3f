import { TRAIL_EXTENSIONS } from "./codes.server";

// The received resource as the trail keeps it (docs/decisions/013-fhir-balp-mapping.md): JSON
// with object keys sorted at every level, arrays in their order, no whitespace. What the trail
// assigns itself is left out (id, meta.versionId, meta.lastUpdated, its seq/key/signature
// extensions), and so are null, "", [] and {}, which FHIR JSON does not allow and which carry
// no meaning. The same event always gives the same text.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function clean(value: unknown): Json | undefined {
  if (value === null || value === undefined || value === "") return undefined;
  if (Array.isArray(value)) {
    const items = value.map(clean).filter((v): v is Json => v !== undefined);
    return items.length ? items : undefined;
  }
  if (typeof value === "object") {
    const out: { [key: string]: Json } = {};
    for (const key of Object.keys(value).sort()) {
      const v = clean((value as Record<string, unknown>)[key]);
      if (v !== undefined) out[key] = v;
    }
    return Object.keys(out).length ? out : undefined;
  }
  if (typeof value === "number" && !Number.isFinite(value)) return undefined;
  return value as Json;
}

/** Removes the trail's own extensions from a resource's top-level extension list. */
export function withoutTrailExtensions(extension: unknown): unknown {
  if (!Array.isArray(extension)) return extension;
  return extension.filter(
    (e) => !TRAIL_EXTENSIONS.includes((e as { url?: unknown } | null)?.url as string),
  );
}

/** A received FHIR resource as canonical JSON, without what the trail assigns itself. */
export function canonicalResource(resource: Record<string, unknown>): string {
  const { id: _id, meta, extension, ...rest } = resource;
  const { versionId: _v, lastUpdated: _l, ...keptMeta } = (meta ?? {}) as Record<string, unknown>;
  return JSON.stringify(
    clean({ ...rest, meta: keptMeta, extension: withoutTrailExtensions(extension) }),
  );
}
