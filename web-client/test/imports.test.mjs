// The web client's import rule (src/games/index.ts, "Invariant"), checked rather than
// remembered: the pages reach a game only through the registry (`games/index.ts`) and the
// interface (`games/types.ts`); a game imports neither the pages nor another game.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix, relative } from "node:path";
import { fileURLToPath } from "node:url";

const src = join(dirname(fileURLToPath(import.meta.url)), "..", "src");

/** Every .ts file under src/, as a path relative to it. */
function files(dir = src) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [relative(src, join(dir, e.name)).split("\\").join("/")] : [],
  );
}

/** The src/ modules a file imports (types included), as paths relative to src/. */
function imports(file) {
  const text = readFileSync(join(src, file), "utf8");
  const out = [];
  for (const m of text.matchAll(/\bfrom\s*["'](\.\.?\/[^"']*)["']|\bimport\s*["'](\.\.?\/[^"']*)["']/g)) {
    const spec = m[1] ?? m[2];
    const base = posix.normalize(posix.join(posix.dirname(file), spec));
    out.push(base.endsWith(".css") ? base : files().includes(`${base}.ts`) ? `${base}.ts` : `${base}/index.ts`);
  }
  return out;
}

/** The pages: what shows a whole view and owns its channel. */
const PAGES = ["main.ts", "lobby.ts", "replay.ts", "room/index.ts", "admin.ts", "signin.ts"];
const gameOf = (f) => f.match(/^games\/([^/]+)\//)?.[1] ?? null;

test("a game imports neither the pages, nor the registry, nor another game", () => {
  const bad = [];
  for (const f of files().filter((f) => f.startsWith("games/"))) {
    for (const i of imports(f)) {
      if (PAGES.includes(i)) bad.push(`${f} → ${i} (a page)`);
      if (f !== "games/index.ts" && i === "games/index.ts") bad.push(`${f} → ${i} (the registry)`);
      const g = gameOf(f);
      if (g && gameOf(i) && gameOf(i) !== g) bad.push(`${f} → ${i} (another game)`);
    }
  }
  assert.deepEqual(bad, []);
});

test("outside games/ only the registry and the interface are imported from it", () => {
  const bad = [];
  for (const f of files().filter((f) => !f.startsWith("games/"))) {
    for (const i of imports(f)) {
      if (i.startsWith("games/") && i !== "games/index.ts" && i !== "games/types.ts") bad.push(`${f} → ${i}`);
    }
  }
  assert.deepEqual(bad, []);
});

test("the rule sees the imports it is about", () => {
  assert.ok(imports("games/index.ts").includes("games/bumper/index.ts"), "the registry lists Bumper");
  assert.ok(imports("room/index.ts").includes("games/index.ts"), "the room page picks through the registry");
});
