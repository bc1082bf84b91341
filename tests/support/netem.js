// Starts kurve-netem, the network proxy (delay, jitter, a bandwidth cap, stalls), in
// front of a server for the JavaScript suites. Node built-ins only, like server.js.
import { existsSync } from "node:fs";
import path from "node:path";
import { repo, spawnListening } from "./server.js";

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
  const args = ["--listen", "127.0.0.1:0", "--upstream", target, "--profile", profile, "--seed", String(seed)];
  const { proc, match, stop, stderr } = await spawnListening(bin, args, {
    name: "kurve-netem",
    pattern: /listening on [\d.]+:(\d+)/,
    timeoutMs: START_TIMEOUT_MS,
    killAfterMs: 5000,
  });
  const port = Number(match[1]);
  const http = `http://127.0.0.1:${port}`;
  return { port, http, url: http.replace(/^http/, "ws"), proc, stop: () => stop(), stderr };
}
