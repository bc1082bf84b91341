// ESLint for the web client (`npm run lint`): the recommended JavaScript and
// typescript-eslint sets, nothing stricter. The type checker (`npm run typecheck`) finds
// what needs types; this finds the rest (unused code, suspicious constructs).
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import globals from "globals";
import tseslint from "typescript-eslint";

export default defineConfig(
  { ignores: ["dist/", "node_modules/"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  // The game runs in the browser.
  { files: ["src/**/*.ts"], languageOptions: { globals: globals.browser } },
  // Tests and configuration run in Node.
  { files: ["test/**/*.mjs", "*.config.{js,ts}"], languageOptions: { globals: globals.node } },
);
