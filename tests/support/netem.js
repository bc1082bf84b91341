// Starts kurve-netem, the network proxy (delay, jitter, a bandwidth cap, stalls), in
// front of a server for the JavaScript suites. Node built-ins only, like server.js.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import path from "node:path";
import { repo } from "./server.js";

/** How long the proxy may take to print its `listening on` line. */
const START_TIMEOUT_MS = 10000;

/**
 * Spawns `target/debug/kurve-netem` (or $KURVE_NETEM_BIN) on a free port in front of
 * `upstream` (`http://127.0.0.1:PORT`, `ws://…` or `127.0.0.1:PORT`) with `profile`
 * (`lan`, `broadband`, `mobile`, `bad`, `rtt:150`, `rtt=50,jitter=10,...`) and `seed`,
 * and waits for its `listening on` line. Resolves to { port, http, url, proc, stop(),
 * stderr() }: point a page at `http` and every request and WebSocket of it crosses the
 * proxy. `stop` ends it and resolves to its exit code.
 */
export async function startNetem({ upstream, profile = "broadband", seed = 1 }) {
  const bin = process.env.KURVE_NETEM_BIN ?? path.join(repo, "target/debug/kurve-netem");
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run cargo build -p kurve-tests --bin kurve-netem first`);
  const target = String(upstream).replace(/^(https?|wss?):\/\//, "").replace(/\/.*$/, "");
  const proc = spawn(bin, ["--listen", "127.0.0.1:0", "--upstream", target, "--profile", profile, "--seed", String(seed)], {
    cwd: repo,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr.on("data", (d) => {
    stderr += d;
    if (process.env.KURVE_TEST_VERBOSE) process.stderr.write(d);
  });
  const port = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`kurve-netem did not start:\n${stderr}`)), START_TIMEOUT_MS);
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on [\d.]+:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`kurve-netem exited with ${code}:\n${stderr}`));
    });
  });
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    proc.kill("SIGTERM");
    const kill = setTimeout(() => proc.kill("SIGKILL"), 5000);
    const [code] = await once(proc, "exit");
    clearTimeout(kill);
    return code;
  };
  const http = `http://127.0.0.1:${port}`;
  return { port, http, url: http.replace(/^http/, "ws"), proc, stop, stderr: () => stderr };
}
