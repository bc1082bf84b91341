// Loads a module of src/ in node:test: the TypeScript is transpiled (types stripped, no
// type check: `npm run build` does that) with every module it imports from src/, into a
// scratch directory under node_modules/.cache, so that its package imports
// (`@msgpack/msgpack`) resolve as the bundler resolves them.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, posix, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "..", "src");
const cache = join(here, "..", "node_modules", ".cache");

/** `from "./x"` and `import("./x")` with a relative specifier. */
const RELATIVE_IMPORT = /(\bfrom\s*|\bimport\s*\(\s*)(["'])(\.\.?\/[^"']*)\2/g;

/** The src/ file a relative specifier names (`./x` is `x.ts` or `x/index.ts`). */
function resolve(fromFile, spec) {
  const base = posix.join(posix.dirname(fromFile), spec);
  for (const f of [`${base}.ts`, `${base}/index.ts`]) if (existsSync(join(src, f))) return f;
  throw new Error(`${fromFile}: cannot resolve ${spec}`);
}

const outName = (file) => file.replace(/\.ts$/, ".mjs");

/** Imports `src/<file>` (e.g. "wire.ts") as an ES module. */
export async function loadTs(file) {
  mkdirSync(cache, { recursive: true });
  const out = mkdtempSync(join(cache, "kurve-test-"));
  const done = new Set();
  const emit = (f) => {
    if (done.has(f)) return;
    done.add(f);
    const js = ts.transpileModule(readFileSync(join(src, f), "utf8"), {
      compilerOptions: { target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.ESNext },
      fileName: f,
    }).outputText;
    const linked = js.replace(RELATIVE_IMPORT, (_, pre, q, spec) => {
      const dep = resolve(f, spec);
      emit(dep);
      let rel = relative(dirname(f), outName(dep)).split("\\").join("/");
      if (!rel.startsWith(".")) rel = `./${rel}`;
      return `${pre}${q}${rel}${q}`;
    });
    const target = join(out, outName(f));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, linked);
  };
  emit(file);
  try {
    return await import(pathToFileURL(join(out, outName(file))).href);
  } finally {
    // Node keeps loaded modules in memory; the files are no longer needed.
    rmSync(out, { recursive: true, force: true });
  }
}
