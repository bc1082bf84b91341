// Test harness: starts a real kurve-server and connects the official phoenix client.
import { spawnServer } from "../support/server.js";
import { Socket, Presence } from "phoenix";
import WebSocket from "ws";

/** Starts the server binary on a free port; resolves to { url, http, stop, proc, stderr }. */
export function startServer(options = {}) {
  return spawnServer(options);
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
      .receive("error", (reply) => reject(Object.assign(new Error(`join ${topic} refused: ${JSON.stringify(reply)}`), { reply, channel })))
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

// ---------------------------------------------------------------------------
// Additions for the protocol test suite.

/** Rejects with `what` if `promise` does not settle within `ms`. */
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves with the payload of the next `event` on `channel` (bounded by `ms`). */
export function nextEvent(channel, event, ms = 5000) {
  let ref;
  const p = new Promise((resolve) => {
    ref = channel.on(event, (payload) => resolve(payload));
  });
  return within(p, ms, `event ${event} on ${channel.topic}`).finally(() => channel.off(event, ref));
}

/** Builds `${url}/socket/websocket?…` with the given query (undefined values dropped). */
export function socketUrl(url, query = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) qs.set(k, v);
  return `${url}/socket/websocket?${qs}`;
}

/**
 * Attempts a WebSocket upgrade and reports what happened without keeping the socket:
 * { status, body } for a refused upgrade (HTTP status from `unexpected-response`),
 * or { status: 101, protocol } when it opened (the socket is then closed).
 */
export function upgrade(url, query = {}, protocols = undefined, ms = 5000, headers = {}) {
  return within(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(socketUrl(url, query), protocols, { headers });
      ws.on("error", (err) => reject(err));
      ws.on("unexpected-response", (req, res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (body += d));
        res.on("end", () => {
          ws.removeAllListeners("error");
          ws.on("error", () => {});
          ws.terminate();
          let json = body;
          try {
            json = JSON.parse(body);
          } catch {}
          resolve({ status: res.statusCode, body: json });
        });
      });
      ws.on("open", () => {
        const protocol = ws.protocol;
        ws.close(1000);
        resolve({ status: 101, protocol });
      });
    }),
    ms,
    "the upgrade to finish",
  );
}

/**
 * A raw WebSocket speaking frames by hand. Text frames are JSON-parsed when possible
 * (else kept as strings); binary frames are Buffers. `expect(pred, ms, what)` resolves
 * with the first received frame (not yet taken) that matches and takes it. `all` keeps
 * every frame in arrival order.
 */
export async function rawSocket(url, { token, vsn = "2.0.0", protocols, query = {}, headers = {} } = {}) {
  const ws = new WebSocket(socketUrl(url, { token, vsn, ...query }), protocols, { headers });
  const raw = { ws, frames: [], all: [], waiters: [], closeInfo: null };
  const deliver = () => {
    for (const w of [...raw.waiters]) {
      const i = raw.frames.findIndex(w.pred);
      if (i >= 0) {
        const [frame] = raw.frames.splice(i, 1);
        raw.waiters.splice(raw.waiters.indexOf(w), 1);
        w.resolve(frame);
      }
    }
  };
  ws.on("message", (data, isBinary) => {
    let frame = data;
    if (!isBinary) {
      const text = data.toString("utf8");
      try {
        frame = JSON.parse(text);
      } catch {
        frame = text;
      }
    }
    raw.frames.push(frame);
    raw.all.push(frame);
    deliver();
  });
  ws.on("error", () => {});
  raw.closed = new Promise((resolve) => {
    ws.on("close", (code, reason) => {
      raw.closeInfo = { code, reason: reason.toString() };
      resolve(raw.closeInfo);
      // Nothing more will arrive: fail whoever still waits (and free their timers).
      for (const w of raw.waiters.splice(0)) w.reject(new Error(`socket closed (${code}) while waiting for ${w.what}`));
    });
  });
  raw.send = (frame) =>
    ws.send(typeof frame === "string" || Buffer.isBuffer(frame) || frame instanceof Uint8Array ? frame : JSON.stringify(frame));
  raw.expect = (pred, ms = 5000, what = "a matching frame") =>
    within(
      new Promise((resolve, reject) => {
        raw.waiters.push({ pred, resolve, reject, what });
        deliver();
        if (raw.closeInfo && raw.waiters.some((w) => w.pred === pred)) {
          raw.waiters = raw.waiters.filter((w) => w.pred !== pred);
          reject(new Error(`socket already closed (${raw.closeInfo.code}) while waiting for ${what}`));
        }
      }),
      ms,
      `${what} (received so far: ${JSON.stringify(raw.frames).slice(0, 600)})`,
    ).catch((err) => {
      raw.waiters = raw.waiters.filter((w) => w.pred !== pred);
      throw err;
    });
  /** The reply to `ref` (a V2 `phx_reply` frame with that ref). */
  raw.reply = (ref, ms = 5000) =>
    raw.expect((f) => Array.isArray(f) && f[1] === ref && f[3] === "phx_reply", ms, `the reply to ref ${ref}`);
  raw.close = () => {
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.terminate();
  };
  await within(
    new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)));
      ws.once("close", (code) => reject(new Error(`socket closed before opening (${code})`)));
    }),
    5000,
    "the raw socket to open",
  );
  return raw;
}

/** Joins `topic` on a raw V2 socket with join_ref = ref = `ref`; resolves to the reply frame. */
export async function rawJoin(raw, topic, ref, payload = {}) {
  raw.send([ref, ref, topic, "phx_join", payload]);
  return raw.reply(ref);
}

/** GETs a route; resolves to { status, text }. */
export async function get(http, route, headers = {}) {
  const res = await fetch(http + route, { headers });
  return { status: res.status, text: await res.text() };
}

/** Disconnects official sockets, ignoring ones already gone. Resolves when all are closed. */
export async function disconnectAll(...sockets) {
  await Promise.all(
    sockets
      .filter(Boolean)
      .map((s) => new Promise((resolve) => {
        const t = setTimeout(resolve, 2000);
        s.disconnect(() => {
          clearTimeout(t);
          resolve();
        }, 1000);
      })),
  );
}
