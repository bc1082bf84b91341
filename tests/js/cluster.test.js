// A cluster of three kurve nodes on a real nats-server (CONTRACT §9), through the official
// phoenix client: one presence in lobby:main across nodes, a user on two nodes as one key
// with two metas, chat across nodes, a killed node's members leaving, and NATS going away
// for 10 s and coming back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, guest, get, connect, join, push, waitFor, nextEvent, disconnectAll } from "./harness.js";
import { startNats } from "../support/nats.js";

const SECRET = "cluster-test-secret-0123456789abcdef";
let nats;
const nodes = {};

async function startNode(id) {
  return startServer({ args: ["--cluster", nats.url, "--node-id", id], env: { KURVE_SECRET: SECRET } });
}

before(async () => {
  nats = await startNats();
  for (const id of ["a", "b", "c"]) nodes[id] = await startNode(id);
  // Every node lists all three before any test starts.
  for (const node of Object.values(nodes)) {
    await waitFor(async () => {
      const { status, text } = await get(node.http, "/api/cluster");
      return status === 200 && JSON.parse(text).nodes.length === 3;
    }, 15000, "three nodes in /api/cluster");
  }
});

after(async () => {
  for (const node of Object.values(nodes)) await node?.stop("SIGKILL");
  await nats?.cleanup();
});

let counter = 0;
/** A fresh guest signed in on `node` (tokens are valid on every node: one secret). */
async function user(name) {
  return guest(nodes.a.http, `${name}${++counter}`);
}

function socketOn(t, node, token) {
  const socket = connect(nodes[node].url, token);
  t.after(() => disconnectAll(socket));
  return socket;
}

const sorted = (xs) => [...xs].sort();
const same = (a, b) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));

test("clients spread over three nodes see one presence in lobby:main", async (t) => {
  const spread = ["a", "b", "c", "a", "b", "c"];
  const users = [];
  const views = [];
  for (const node of spread) {
    const u = await user("spread");
    users.push(u);
    const { presence } = await join(socketOn(t, node, u.token), "lobby:main");
    views.push({ node, presence });
  }
  const ids = users.map((u) => u.user.id);
  for (const { node, presence } of views) {
    await waitFor(() => ids.every((id) => presence.keys().includes(id)), 10000, `everyone in the presence of a client on ${node}`);
    for (const id of ids) {
      const metas = presence.metas(id);
      assert.equal(metas.length, 1, `one meta for ${id} on ${node}, got ${JSON.stringify(metas)}`);
      assert.equal(metas[0].status, "lobby");
    }
  }
  // Every client's view is the same set of refs.
  const refs = (view) => view.presence.presence.list((id, { metas }) => metas.map((m) => m.phx_ref)).flat();
  const first = refs(views[0]);
  for (const view of views) assert.ok(same(refs(view), first), `same refs on every client`);
});

test("a user with tabs on two nodes is one key with two metas, and a closed tab leaves everywhere", async (t) => {
  const twin = await user("twin");
  const watcher = await user("watch");
  const { presence } = await join(socketOn(t, "c", watcher.token), "lobby:main");
  const onA = socketOn(t, "a", twin.token);
  await join(onA, "lobby:main");
  await join(socketOn(t, "b", twin.token), "lobby:main");
  await waitFor(() => presence.metas(twin.user.id).length === 2, 10000, "two metas for the twin on node c");
  const phxRefs = presence.metas(twin.user.id).map((m) => m.phx_ref);
  assert.equal(new Set(phxRefs).size, 2, `distinct refs: ${phxRefs}`);
  await disconnectAll(onA);
  await waitFor(() => presence.metas(twin.user.id).length === 1, 10000, "one meta left after closing the tab on a");
});

test("chat crosses nodes exactly once", async (t) => {
  const speaker = await user("speak");
  const listeners = [];
  for (const node of ["b", "c"]) {
    const u = await user(`listen${node}`);
    const { channel } = await join(socketOn(t, node, u.token), "lobby:main");
    const got = [];
    channel.on("chat", (m) => got.push(m));
    listeners.push({ node, got });
  }
  const { channel } = await join(socketOn(t, "a", speaker.token), "lobby:main");
  // Let the listeners' nodes subscribe (they already have members in lobby:main).
  const body = `hello from a ${Date.now()}`;
  const reply = await push(channel, "chat", { body });
  assert.equal(reply.status, "ok");
  for (const { node, got } of listeners) {
    await waitFor(() => got.some((m) => m.body === body), 5000, `chat on ${node}`);
  }
  await new Promise((r) => setTimeout(r, 300));
  for (const { node, got } of listeners) {
    assert.equal(got.filter((m) => m.body === body).length, 1, `exactly one copy on ${node}`);
    assert.equal(got.find((m) => m.body === body).user.id, speaker.user.id);
  }
});

test("a node with no subscriber of a topic receives none of its traffic", async (t) => {
  const received = async (node) => {
    const { text } = await get(nodes[node].http, "/metrics");
    return Number(/^kurve_cluster_broadcasts_total\{direction="in"\} (\d+)/m.exec(text)?.[1] ?? "0");
  };
  const u = await user("alone");
  const { channel } = await join(socketOn(t, "a", u.token), "lobby:solo");
  // A member of lobby:solo on node c only after the first round.
  const before = { b: await received("b"), c: await received("c") };
  for (let i = 0; i < 3; i++) assert.equal((await push(channel, "chat", { body: `solo ${i}` })).status, "ok");
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await received("b"), before.b, "b has no member of lobby:solo: nothing arrives");
  assert.equal(await received("c"), before.c, "c has no member of lobby:solo: nothing arrives");
  // With a member on c, c receives it (and b still does not).
  const listener = await user("solo");
  const { channel: onC } = await join(socketOn(t, "c", listener.token), "lobby:solo");
  const got = [];
  onC.on("chat", (m) => got.push(m.body));
  // c subscribes to the topic's subject as its member joins (a few ms).
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await push(channel, "chat", { body: "now c listens" })).status, "ok");
  await waitFor(() => got.includes("now c listens"), 5000, "c to get lobby:solo's chat once it has a member");
  assert.ok((await received("c")) > before.c);
  assert.equal(await received("b"), before.b, "b still receives nothing");
});

test("NATS away for 10 s: nodes stay up, and presence converges when it is back", async (t) => {
  const before = await user("before");
  const { presence } = await join(socketOn(t, "a", before.token), "lobby:main");
  const other = await user("other");
  await join(socketOn(t, "b", other.token), "lobby:main");
  await waitFor(() => presence.keys().includes(other.user.id), 10000, "b's member on a before the outage");

  await nats.stop();
  await waitFor(async () => (await get(nodes.a.http, "/healthz")).status === 503, 10000, "a unhealthy without NATS");
  // Local play goes on: a new member on a is seen on a.
  const during = await user("during");
  await join(socketOn(t, "a", during.token), "lobby:main");
  await waitFor(() => presence.keys().includes(during.user.id), 5000, "a local join during the outage");
  await new Promise((r) => setTimeout(r, 10000));
  await nats.start();

  for (const node of Object.values(nodes)) {
    await waitFor(async () => (await get(node.http, "/healthz")).status === 200, 20000, "healthy again");
  }
  // b's member (and a's new one) are in everyone's presence again.
  const late = await user("late");
  const { presence: onC } = await join(socketOn(t, "c", late.token), "lobby:main");
  const ids = [before.user.id, other.user.id, during.user.id, late.user.id];
  await waitFor(() => ids.every((id) => onC.keys().includes(id)), 15000, "c sees members of a and b after the outage");
  await waitFor(() => ids.every((id) => presence.keys().includes(id)), 15000, "a sees members of b and c after the outage");
});

test("kill -9 of a node: its members leave the others' presence within 10 s", async (t) => {
  const victim = await user("victim");
  const watcher = await user("watcher");
  const { presence } = await join(socketOn(t, "a", watcher.token), "lobby:main");
  const socket = connect(nodes.c.url, victim.token, { reconnectAfterMs: () => 60000 });
  t.after(() => disconnectAll(socket));
  await join(socket, "lobby:main");
  await waitFor(() => presence.keys().includes(victim.user.id), 10000, "the victim seen on a");
  const killedAt = Date.now();
  nodes.c.proc.kill("SIGKILL");
  await waitFor(() => !presence.keys().includes(victim.user.id), 10000, "the victim gone from a's presence");
  const took = Date.now() - killedAt;
  assert.ok(took <= 10000, `left after ${took} ms`);
  const { text } = await get(nodes.a.http, "/api/cluster");
  await waitFor(async () => JSON.parse((await get(nodes.a.http, "/api/cluster")).text).nodes.length === 2, 5000, `c gone from /api/cluster (${text})`);
});
