// Graceful shutdown (CONTRACT §1): tell every joined client, close with a code that makes
// clients come back (1001/1012, never 1000), exit 0 within 10 s.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  startServer, guest, get, connect, join, within, waitFor, disconnectAll, rawSocket, rawJoin,
} from "./harness.js";

const COME_BACK = [1001, 1012];

for (const signal of ["SIGTERM", "SIGINT"]) {
  test(`${signal}: joined clients get server_shutdown, the socket closes with 1012/1001, exit 0 within 10 s`, async (t) => {
    const srv = await startServer();
    t.after(() => srv.stop("SIGKILL"));

    // Two official clients in two lobbies, no reconnect storm against the dead port.
    const clients = [];
    for (const [name, topic] of [["Shutter", "lobby:main"], ["Other", "lobby:other"]]) {
      const g = await guest(srv.http, name);
      const socket = connect(srv.url, g.token, { reconnectAfterMs: () => 60000 });
      t.after(() => disconnectAll(socket));
      const { channel } = await join(socket, topic);
      const c = { name, topic, socket, channel, events: [], closes: [] };
      channel.on("server_shutdown", (p) => c.events.push({ event: "server_shutdown", payload: p }));
      socket.onClose((e) => c.closes.push({ code: e.code, afterShutdownEvent: c.events.length > 0 }));
      clients.push(c);
    }
    // A raw socket to see the exact frames and their order.
    const g = await guest(srv.http, "Rawly");
    const raw = await rawSocket(srv.url, { token: g.token });
    t.after(() => raw.close());
    await rawJoin(raw, "lobby:main", "1");

    const started = Date.now();
    srv.proc.kill(signal);
    const exited = new Promise((resolve) => srv.proc.once("exit", (code, sig) => resolve({ code, sig })));

    const frame = await raw.expect((f) => Array.isArray(f) && f[3] === "server_shutdown", 10000, "server_shutdown on the raw socket");
    assert.equal(frame[0], "1", `expected server_shutdown to carry the join_ref "1", got ${JSON.stringify(frame)}`);
    assert.equal(frame[2], "lobby:main", `expected server_shutdown on lobby:main, got ${JSON.stringify(frame)}`);
    const closed = await within(raw.closed, 10000, "the raw socket to close");
    assert.ok(COME_BACK.includes(closed.code), `expected close code 1012 or 1001 (never 1000), got ${JSON.stringify(closed)}`);

    for (const c of clients) {
      await waitFor(() => c.closes.length > 0, 10000, `${c.name}: the socket to close`);
      assert.equal(c.events.length, 1, `${c.name} (${c.topic}): expected one server_shutdown event, got ${JSON.stringify(c.events)}`);
      assert.equal(c.closes[0].afterShutdownEvent, true, `${c.name}: expected server_shutdown before the close`);
      assert.ok(COME_BACK.includes(c.closes[0].code), `${c.name}: expected close code 1012 or 1001 (never 1000), got ${c.closes[0].code}`);
    }

    const exit = await within(exited, Math.max(1, 10000 - (Date.now() - started)), `the server to exit within 10 s of ${signal}`);
    assert.deepEqual(exit, { code: 0, sig: null }, `expected exit code 0 after ${signal}, got ${JSON.stringify(exit)}`);
  });
}

// Regression: with stderr gone (`kurve-server 2>&1 | head`, a dead log collector) logging
// used to panic inside the signal task before shutdown was cancelled.
test(
  "SIGTERM with stdout/stderr closed still exits 0 within 10 s",
  async (t) => {
    const srv = await startServer({ env: { RUST_LOG: "info" } });
    t.after(() => srv.stop("SIGKILL"));
    // "listening on" is printed before the signal handler is installed; a served request
    // shows the runtime is up (a SIGTERM in the first instants kills the process outright).
    assert.equal((await get(srv.http, "/healthz")).status, 200, "expected /healthz 200 before the signal");
    const exited = new Promise((resolve) => srv.proc.once("exit", (code, sig) => resolve({ code, sig })));
    srv.proc.stdout.destroy();
    srv.proc.stderr.destroy();
    srv.proc.kill("SIGTERM");
    const exit = await within(exited, 10000, "the server to exit within 10 s of SIGTERM with its output closed");
    assert.deepEqual(exit, { code: 0, sig: null }, `expected exit code 0, got ${JSON.stringify(exit)}`);
  },
);
