// Starts a real kurve-server for the JavaScript suites (tests/js, tests/e2e).
// Node built-ins only, so both suites can import it whatever their own packages.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** How long the server may take to print its `listening on` line. */
const START_TIMEOUT_MS = 20000;

/**
 * Spawns `target/debug/kurve-server` (or $KURVE_SERVER_BIN) with `database` (in memory
 * by default),
 * test hooks and the per-address limits off (override with `env: { KURVE_LIMITS: "on" }`), bound to `bind` (a free port by default), and waits for the line it prints
 * once it listens. Resolves to { http, url, proc, stop(signal), stderr() }; `stop` sends
 * `signal` (SIGTERM by default), escalates to SIGKILL after 10 s, and resolves to the exit code.
 */
export async function spawnServer({ args = [], env = {}, bind = "127.0.0.1:0", database = "sqlite::memory:" } = {}) {
  const bin = process.env.KURVE_SERVER_BIN ?? path.join(repo, "target/debug/kurve-server");
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run cargo build -p kurve-server first`);
  const proc = spawn(bin, ["--bind", bind, "--database-url", database, ...args], {
    cwd: repo,
    // Every test client comes from 127.0.0.1, so the per-address budgets (CONTRACT §8)
    // are off unless a suite turns them on (tests/js/limits.test.js does).
    env: { ...process.env, KURVE_TEST_HOOKS: "true", KURVE_LIMITS: "off", RUST_LOG: process.env.RUST_LOG ?? "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr.on("data", (d) => {
    stderr += d;
    if (process.env.KURVE_TEST_VERBOSE) process.stderr.write(d);
  });
  const http = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), START_TIMEOUT_MS);
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${stderr}`));
    });
  });
  const stop = async (signal = "SIGTERM") => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    proc.kill(signal);
    const kill = setTimeout(() => proc.kill("SIGKILL"), 10000);
    const [code] = await once(proc, "exit");
    clearTimeout(kill);
    return code;
  };
  return { http, url: http.replace(/^http/, "ws"), proc, stop, stderr: () => stderr };
}
