// What several test files need alike: bytes written as commented hex digits (the wire
// tests' frames), and a match played by the Rust simulation (`kurve-sim-trace`).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Bytes from hex digits; `#` starts a comment to the end of the line. */
export const hex = (s) =>
  Uint8Array.from(
    s
      .replace(/#.*$/gm, "")
      .replace(/\s+/g, "")
      .match(/../g),
    (b) => parseInt(b, 16),
  );

/**
 * A scripted match as `kurve-sim-trace` prints it (every tick message and every head at
 * full precision). Needs the binary built (`cargo build -p kurve-tests --bin
 * kurve-sim-trace`; scripts/test.sh builds every target first) or its path in KURVE_SIM_TRACE.
 */
export function simTrace(seed, players, ticks) {
  const bin = process.env.KURVE_SIM_TRACE ?? join(root, "target", "debug", "kurve-sim-trace");
  assert.ok(existsSync(bin), `${bin} is missing: cargo build -p kurve-tests --bin kurve-sim-trace`);
  const out = execFileSync(bin, ["--seed", String(seed), "--players", String(players), "--ticks", String(ticks)], {
    maxBuffer: 1 << 30,
  });
  return JSON.parse(out.toString());
}
