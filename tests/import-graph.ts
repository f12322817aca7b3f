import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

const ROOT = path.resolve(import.meta.dirname, "..");
const EXTENSIONS = [".ts", ".tsx", "/index.ts"];

/** A project module's file, for a relative or `~/` specifier; null for packages. */
function resolve(from: string, specifier: string): string | null {
  const base = specifier.startsWith("~/")
    ? path.join(ROOT, "app", specifier.slice(2))
    : specifier.startsWith(".")
      ? path.resolve(path.dirname(from), specifier)
      : null;
  if (!base) return null;
  const file = [base, ...EXTENSIONS.map((e) => base + e)].find(
    (f) => fs.existsSync(f) && fs.statSync(f).isFile(),
  );
  if (!file) throw new Error(`${from}: cannot resolve ${specifier}`);
  return file;
}

/** The modules a file loads when it is imported: its static imports and re-exports, types left out. */
function staticImports(file: string): string[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
  const specifiers: string[] = [];
  for (const s of source.statements) {
    if (ts.isImportDeclaration(s) && !s.importClause?.isTypeOnly) {
      specifiers.push((s.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isExportDeclaration(s) && s.moduleSpecifier && !s.isTypeOnly) {
      specifiers.push((s.moduleSpecifier as ts.StringLiteral).text);
    }
  }
  return specifiers.flatMap((sp) => resolve(file, sp) ?? []);
}

/**
 * Every project module loaded, transitively, when `entry` (relative to the repository) is
 * loaded: dynamic `import()`s are not followed, as they load only when they run.
 */
export function loadedModules(entry: string): Set<string> {
  const seen = new Set<string>();
  const queue = [path.join(ROOT, entry)];
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    queue.push(...staticImports(file));
  }
  return new Set([...seen].map((f) => path.relative(ROOT, f)));
}
