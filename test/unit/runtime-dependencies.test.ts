/**
 * The packages an installed backdrill needs at run time are exactly its `dependencies`: nothing
 * only tests use (a production host should not install Testcontainers' PostgreSQL module), and
 * nothing the built program imports missing. Checked against the source: every bare import in
 * src/ (tests excluded) is a dependency or a Node built-in, and every dependency is imported.
 */
import { readdir, readFile } from "node:fs/promises";
import { builtinModules } from "node:module";
import path from "node:path";
import { expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && /\.c?ts$/.test(entry.name) && !entry.name.endsWith(".test.ts"))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? `${parts[0]}/${parts[1]}` : (parts[0] ?? specifier);
}

it("imports in src/ are the runtime dependencies, and only test packages are devDependencies", async () => {
  const manifest = JSON.parse(await readFile(path.join(ROOT, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  const imported = new Set<string>();
  for (const file of await sourceFiles(path.join(ROOT, "src"))) {
    const text = await readFile(file, "utf8");
    // `import type` is erased at build time: only value imports must resolve on a production host.
    const statements = text.matchAll(
      /^\s*(?:import|export)\s(?!type\s)[^;]*?from\s*["']([^"'.][^"']*)["']/gm,
    );
    const dynamic = text.matchAll(/\bimport\(\s*["']([^"'.][^"']*)["']\s*\)/g);
    // A CommonJS package loaded synchronously on demand (the logger's pino-pretty).
    const required = text.matchAll(/\bcreateRequire\([^)]*\)\(\s*["']([^"'.][^"']*)["']\s*\)/g);
    for (const match of [...statements, ...dynamic, ...required]) {
      const specifier = match[1] ?? "";
      if (specifier.startsWith("node:") || builtinModules.includes(specifier)) continue;
      imported.add(packageOf(specifier));
    }
  }
  // Loaded by path, not by an import statement: the chart library is inlined into the HTML page.
  imported.add("uplot");
  const dependencies = Object.keys(manifest.dependencies).sort();
  expect([...imported].filter((name) => !dependencies.includes(name)).sort()).toEqual([]);
  // A type-only package is a devDependency; a runtime dependency no source imports is a leftover.
  expect(dependencies.filter((name) => !imported.has(name))).toEqual([]);
  expect(dependencies).not.toContain("@testcontainers/postgresql");
});
