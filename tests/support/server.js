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
  const { proc, match, stop, stderr } = await spawnListening(bin, ["--bind", bind, "--database-url", database, ...args], {
    name: "server",
    pattern: /listening on (http:\/\/\S+)/,
    timeoutMs: START_TIMEOUT_MS,
    killAfterMs: 10000,
    // Every test client comes from 127.0.0.1, so the per-address budgets (CONTRACT §8)
    // are off unless a suite turns them on (tests/js/limits.test.js does).
    env: { KURVE_TEST_HOOKS: "true", KURVE_LIMITS: "off", RUST_LOG: process.env.RUST_LOG ?? "warn", ...env },
  });
  const http = match[1];
  return { http, url: http.replace(/^http/, "ws"), proc, stop, stderr };
}

/**
 * Spawns `bin` with `args` (and `env` over this process's) from the repository, and
 * waits until its stdout matches `pattern`, the line a binary prints once it listens.
 * Resolves to { proc, match, stop(signal), stderr() }; `stop` sends `signal` (SIGTERM by
 * default), escalates to SIGKILL after `killAfterMs`, and resolves to the exit code.
 */
export async function spawnListening(bin, args, { name, pattern, timeoutMs, killAfterMs, env = {} }) {
  const proc = spawn(bin, args, {
    cwd: repo,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr.on("data", (d) => {
    stderr += d;
    if (process.env.KURVE_TEST_VERBOSE) process.stderr.write(d);
  });
  const match = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${stderr}`)), timeoutMs);
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${stderr}`));
    });
  });
  const stop = async (signal = "SIGTERM") => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    proc.kill(signal);
    const kill = setTimeout(() => proc.kill("SIGKILL"), killAfterMs);
    const [code] = await once(proc, "exit");
    clearTimeout(kill);
    return code;
  };
  return { proc, match, stop, stderr: () => stderr };
}
