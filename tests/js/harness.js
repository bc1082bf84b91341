// Test harness: starts a real kurve-server and connects the official phoenix client.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { Socket, Presence } from "phoenix";
import WebSocket from "ws";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Starts the server binary on a free port; resolves to { url, http, stop, proc }. */
export async function startServer({ args = [], env = {} } = {}) {
  const bin = process.env.KURVE_SERVER_BIN ?? path.join(repo, "target/debug/kurve-server");
  const proc = spawn(
    bin,
    ["--bind", "127.0.0.1:0", "--database-url", "sqlite::memory:", ...args],
    {
      env: { ...process.env, KURVE_TEST_HOOKS: "true", RUST_LOG: process.env.RUST_LOG ?? "warn", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  proc.stderr.on("data", (d) => {
    stderr += d;
    if (process.env.KURVE_TEST_VERBOSE) process.stderr.write(d);
  });
  const http = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), 20000);
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on("exit", (code) => reject(new Error(`server exited with ${code}:\n${stderr}`)));
  });
  const stop = async (signal = "SIGTERM") => {
    if (proc.exitCode !== null) return proc.exitCode;
    proc.kill(signal);
    const [code] = await once(proc, "exit");
    return code;
  };
  return { http, url: http.replace(/^http/, "ws"), stop, proc, stderr: () => stderr };
}

/** POSTs JSON and returns { status, body }. */
export async function post(http, route, body, headers = {}) {
  const res = await fetch(http + route, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, body: json };
}

/** Signs in as a guest; resolves to { token, user }. */
export async function guest(http, name) {
  const { status, body } = await post(http, "/api/guest", { name });
  if (status !== 200) throw new Error(`guest sign-in failed: ${status} ${JSON.stringify(body)}`);
  return body;
}

/** A connected official phoenix Socket using `ws` as its transport. */
export function connect(url, token, opts = {}) {
  const socket = new Socket(`${url}/socket`, {
    transport: WebSocket,
    params: { token },
    reconnectAfterMs: () => 50,
    rejoinAfterMs: () => 100,
    ...opts,
  });
  socket.connect();
  return socket;
}

/**
 * Joins a channel; resolves to { channel, reply, presence } or rejects with the error
 * reply. Presence is attached before the join, as apps do, so the presence_state that
 * follows the join reply is never missed.
 */
export function join(socket, topic, params = {}) {
  const channel = socket.channel(topic, params);
  const presence = trackPresence(channel);
  return new Promise((resolve, reject) => {
    channel
      .join()
      .receive("ok", (reply) => resolve({ channel, reply, presence }))
      .receive("error", (reply) => reject(Object.assign(new Error(`join ${topic} refused: ${JSON.stringify(reply)}`), { reply })))
      .receive("timeout", () => reject(new Error(`join ${topic} timed out`)));
  });
}

/** Pushes an event; resolves to { status, response }. */
export function push(channel, event, payload = {}) {
  return new Promise((resolve) => {
    channel
      .push(event, payload)
      .receive("ok", (response) => resolve({ status: "ok", response }))
      .receive("error", (response) => resolve({ status: "error", response }))
      .receive("timeout", () => resolve({ status: "timeout" }));
  });
}

/** Polls `predicate` until it is true or `ms` pass. */
export async function waitFor(predicate, ms = 5000, what = "condition") {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Tracks a channel's presence with the official Presence class. */
export function trackPresence(channel) {
  const presence = new Presence(channel);
  const view = { presence, syncs: 0 };
  presence.onSync(() => {
    view.syncs += 1;
  });
  view.keys = () => presence.list((id) => id).sort();
  view.metas = (id) => presence.list((key, { metas }) => (key === id ? metas : null)).find(Boolean) ?? [];
  return view;
}

export { Socket, Presence, WebSocket };
