// kurve-netem in front of a server (tests/support/netem.js): HTTP and the official
// client's WebSocket both cross it, and each is delayed by at least the profile's
// round trip (a lower bound only: a loaded machine may add, never remove, delay).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, guest, connect, join } from "./harness.js";
import { startNetem } from "../support/netem.js";

const RTT_MS = 200;

let server;
let netem;

before(async () => {
  server = await startServer();
  netem = await startNetem({ upstream: server.http, profile: `rtt:${RTT_MS}` });
});

after(async () => {
  await netem?.stop();
  await server?.stop();
});

test("HTTP and the socket work through the proxy, a round trip later", async () => {
  const asked = performance.now();
  const res = await fetch(`${netem.http}/healthz`);
  assert.equal(res.status, 200, "the request crossed the proxy");
  assert.equal(await res.text(), "ok");
  const took = performance.now() - asked;
  assert.ok(took >= RTT_MS, `a request takes at least one round trip (${took} ms)`);

  const { token } = await guest(netem.http, "netem js");
  const opened = performance.now();
  const socket = connect(netem.url, token);
  try {
    const { reply } = await join(socket, "lobby:main");
    assert.ok(Array.isArray(reply.rooms), `the lobby join was answered: ${JSON.stringify(reply)}`);
    const joined = performance.now() - opened;
    assert.ok(joined >= 2 * RTT_MS, `the upgrade and the join take a round trip each (${joined} ms)`);
  } finally {
    socket.disconnect();
  }
});
