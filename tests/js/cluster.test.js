// A cluster of three kurve nodes on a real nats-server (CONTRACT §9), through the official
// phoenix client: one presence in lobby:main across nodes, a user on two nodes as one key
// with two metas, chat across nodes, a killed node's members leaving, and NATS going away
// for 10 s and coming back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { decode } from "@msgpack/msgpack";
import { startServer, guest, get, post, connect, join, push, waitFor, disconnectAll, within } from "./harness.js";
import { startNats, watchSubject } from "../support/nats.js";
import { startPostgres } from "../support/postgres.js";

const SECRET = "cluster-test-secret-0123456789abcdef";
let nats;
let postgres;
const nodes = {};

async function startNode(id) {
  return startServer({
    // Short matches (1 point per opponent), so one can be played to its end here.
    args: ["--cluster", nats.url, "--node-id", id, "--points-per-opponent", "1"],
    database: postgres.url,
    env: { KURVE_SECRET: SECRET },
  });
}

before(async () => {
  nats = await startNats();
  postgres = await startPostgres();
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
  postgres?.stop();
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

test("the per-user room budget (3 open rooms) holds across nodes", async (t) => {
  const u = await user("builder");
  const lobbies = {};
  for (const node of ["a", "b", "c"]) lobbies[node] = (await join(socketOn(t, node, u.token), "lobby:main")).channel;
  // No node has players yet (this runs before the room tests), so each room is made on
  // the node it is asked on: three nodes, one room each.
  const owners = [];
  for (const node of ["a", "b", "c"]) {
    const created = await push(lobbies[node], "create_room", { name: `budget ${node}` });
    assert.equal(created.status, "ok", JSON.stringify(created));
    const id = created.response.room_id;
    // Every node has the new room in its directory before the next one is asked for.
    for (const other of Object.keys(nodes)) {
      await waitFor(async () => {
        const room = JSON.parse((await get(nodes[other].http, "/api/rooms?lobby=main")).text).rooms.find((r) => r.id === id);
        if (room && other === "a") owners.push(room.node);
        return room !== undefined;
      }, 5000, `room ${id} listed on ${other}`);
    }
  }
  assert.ok(new Set(owners).size >= 2, `the three rooms run on more than one node: ${owners}`);
  for (const node of ["a", "b", "c"]) {
    const fourth = await push(lobbies[node], "create_room", { name: `one too many ${node}` });
    assert.equal(fourth.status, "error", `a fourth room asked on ${node}: ${JSON.stringify(fourth)}`);
    assert.equal(fourth.response.reason, "too_many_rooms");
  }
});

/** Joins room:<id> on `socket`, recording the snapshot, every tick (payload kept) and errors. */
function roomChannel(socket, id, params) {
  const channel = socket.channel(`room:${id}`, params);
  const r = { channel, snapshots: [], ticks: [], byTick: new Map(), errors: [], oks: [], phases: [] };
  channel.on("phase", (payload) => r.phases.push(payload.phase));
  channel.on("snapshot", (buf) => r.snapshots.push({ at: r.ticks.length, snap: decode(new Uint8Array(buf)) }));
  channel.on("tick", (buf) => {
    const tick = decode(new Uint8Array(buf));
    r.ticks.push(tick.tick);
    r.byTick.set(tick.tick, tick);
  });
  channel.onError((reason) => r.errors.push(reason));
  r.joined = within(new Promise((resolve, reject) => {
    channel.join()
      .receive("ok", (reply) => { r.oks.push(reply); resolve(reply); })
      .receive("error", (reply) => reject(Object.assign(new Error(`join refused: ${JSON.stringify(reply)}`), { reply })));
  }), 10000, `the join of room:${id}`);
  return r;
}

function assertConsecutive(ticks, what) {
  for (let i = 1; i < ticks.length; i++) {
    assert.equal(ticks[i], ticks[i - 1] + 1, `consecutive ${what} ticks: ${ticks[i]} after ${ticks[i - 1]}`);
  }
}

test("a room on node a is listed on b and c, played from b and spectated from c", async (t) => {
  const host = await user("host");
  const guestB = await user("playerb");
  const watchC = await user("watchc");
  const hostSocket = socketOn(t, "a", host.token);
  const { channel: lobbyA } = await join(hostSocket, "lobby:main");
  const lobbies = {};
  for (const [node, u] of [["b", guestB], ["c", watchC]]) {
    const socket = socketOn(t, node, u.token);
    const { channel } = await join(socket, "lobby:main");
    const added = [];
    channel.on("room_added", (room) => added.push(room));
    lobbies[node] = { socket, channel, added };
  }
  const created = await push(lobbyA, "create_room", { name: "across", max_players: 2 });
  assert.equal(created.status, "ok", JSON.stringify(created));
  const id = created.response.room_id;
  for (const node of ["b", "c"]) {
    await waitFor(() => lobbies[node].added.some((r) => r.id === id), 5000, `room_added on ${node}`);
    const listed = lobbies[node].added.find((r) => r.id === id);
    assert.equal(listed.node, "a", `the room says where it runs: ${JSON.stringify(listed)}`);
    const { text } = await get(nodes[node].http, "/api/rooms?lobby=main");
    assert.ok(JSON.parse(text).rooms.some((r) => r.id === id && r.node === "a"), `/api/rooms on ${node} lists it`);
  }

  const pa = roomChannel(hostSocket, id, { as: "player" });
  await pa.joined;
  const pb = roomChannel(lobbies.b.socket, id, { as: "player" });
  const replyB = await pb.joined;
  assert.equal(replyB.you.role, "player");
  assert.equal(typeof replyB.you.seat, "number");
  const sc = roomChannel(lobbies.c.socket, id, { as: "spectator" });
  const replyC = await sc.joined;
  assert.equal(replyC.you.role, "spectator");
  for (const r of [pa, pb, sc]) await waitFor(() => r.snapshots.length === 1, 5000, "a snapshot after the join");
  assert.deepEqual(sc.snapshots[0].snap.players.map((p) => p.id).sort(), [host.user.id, guestB.user.id].sort(), "c's snapshot shows both players");

  for (const r of [pa, pb]) assert.equal((await push(r.channel, "ready", {})).status, "ok");
  await waitFor(() => pb.ticks.length > 0 && sc.ticks.length > 0, 10000, "ticks on b and c");
  // Steer from b: hold a turn and see b's head turn in the ticks everyone gets.
  const seat = replyB.you.seat;
  const headingOf = (r, n) => r.byTick.get(n)?.heads?.find((h) => h.s === seat)?.h;
  await waitFor(() => sc.ticks.length > 0 && sc.byTick.get(sc.ticks.at(-1))?.heads?.some((h) => h.s === seat && h.d !== 0), 10000, "b's head moving (playing)");
  const before = sc.ticks.at(-1);
  // Inputs are not answered when taken (only refusals are).
  pb.channel.push("input", { turn: 1 });
  await new Promise((r) => setTimeout(r, 300));
  const after = sc.ticks.at(-1);
  const turned = [];
  for (let n = before + 1; n <= after; n++) if (headingOf(sc, n) !== undefined) turned.push(headingOf(sc, n));
  assert.ok(turned.length > 5 && new Set(turned).size > 3, `b's input turns its head: headings ${JSON.stringify(turned.slice(0, 10))}`);
  pb.channel.push("input", { turn: 0 });
  await new Promise((r) => setTimeout(r, 1000));

  // Every client got consecutive ticks from its snapshot on, and the same payloads.
  for (const [what, r] of [["a's player", pa], ["b's player", pb], ["c's spectator", sc]]) {
    assertConsecutive(r.ticks, what);
    assert.equal(r.ticks[0], r.snapshots[0].snap.tick + 1, `${what}'s first tick follows its snapshot`);
  }
  let compared = 0;
  for (const [n, tick] of sc.byTick) {
    if (!pa.byTick.has(n)) continue;
    assert.deepEqual(tick, pa.byTick.get(n), `tick ${n} on c equals tick ${n} on a`);
    assert.deepEqual(pb.byTick.get(n), tick, `tick ${n} on b equals tick ${n} on c`);
    compared++;
  }
  assert.ok(compared > 60, `compared ${compared} ticks`);
  assert.deepEqual([...pa.errors, ...pb.errors, ...sc.errors], [], "no channel errors");
  // The relay's lag is measured where the ticks arrive.
  await waitFor(async () => {
    const { text } = await get(nodes.c.http, "/metrics");
    return Number(/^kurve_cluster_relay_lag_seconds_count (\d+)/m.exec(text)?.[1] ?? "0") > 60;
  }, 10000, "kurve_cluster_relay_lag_seconds on c");

  // A wrong password is refused across nodes too; an unknown room is not_found.
  const locked = await push(lobbyA, "create_room", { name: "locked", private: true, password: "sesame" });
  const lockedId = locked.response.room_id;
  await waitFor(async () => {
    const wrong = roomChannel(lobbies.b.socket, lockedId, { as: "spectator", password: "nope" });
    const reason = await wrong.joined.then(() => "ok", (e) => e.reply?.reason ?? e.message);
    wrong.channel.leave();
    return reason === "wrong_password";
  }, 5000, "wrong_password for a private room on another node");
  const right = roomChannel(lobbies.c.socket, lockedId, { as: "spectator", password: "sesame" });
  await right.joined;
  right.channel.leave();

  // Placement: a has both players now (its heartbeat says so within a second), b and c
  // none, so a room asked for on a is made on b or c.
  await new Promise((r) => setTimeout(r, 1500));
  const placed = await push(lobbyA, "create_room", { name: "placed", max_players: 2 });
  assert.equal(placed.status, "ok", JSON.stringify(placed));
  await waitFor(async () => {
    const room = JSON.parse((await get(nodes.a.http, "/api/rooms?lobby=main")).text).rooms.find((r) => r.id === placed.response.room_id);
    return room && (room.node === "b" || room.node === "c");
  }, 5000, "the room placed on a node with fewer players");
});

test("a room's traffic goes over NATS only while a member is on another node", async (t) => {
  const host = await user("local");
  const { channel: lobby } = await join(socketOn(t, "a", host.token), "lobby:main");
  const created = await push(lobby, "create_room", { name: "homebody", max_players: 2 });
  assert.equal(created.status, "ok", JSON.stringify(created));
  const id = created.response.room_id;
  let home;
  await waitFor(async () => {
    const { text } = await get(nodes.a.http, "/api/rooms?lobby=main");
    home = JSON.parse(text).rooms.find((r) => r.id === id)?.node;
    return home !== undefined;
  }, 5000, "the new room in the listing");
  const away = home === "a" ? "b" : "a";
  // Anything published on the room's subject, whoever listens.
  const wire = await watchSubject(nats.url, `kurve.v1.t.room:${id}`);
  t.after(() => wire.close());

  // Both players on the room's own node: ticks flow, and none of it leaves the node.
  const players = [];
  for (const name of ["home1", "home2"]) {
    const u = await user(name);
    const r = roomChannel(socketOn(t, home, u.token), id, { as: "player" });
    await r.joined;
    players.push(r);
  }
  for (const r of players) assert.equal((await push(r.channel, "ready", {})).status, "ok");
  await waitFor(() => players.every((r) => r.ticks.length > 60), 10000, "ticks on the room's node");
  assert.equal(wire.count(), 0, "nothing on NATS while every member is on the room's node");

  // A spectator on another node: its ticks cross NATS, and stay consecutive.
  const watcher = await user("away");
  const sc = roomChannel(socketOn(t, away, watcher.token), id, { as: "spectator" });
  await sc.joined;
  await waitFor(() => sc.ticks.length > 30, 10000, `ticks on ${away}`);
  assertConsecutive(sc.ticks, "the remote spectator's");
  assert.equal(sc.ticks[0], sc.snapshots[0].snap.tick + 1, "the first tick follows the snapshot");
  assert.ok(wire.count() >= 30, `the room's ticks on NATS: ${wire.count()}`);

  // It leaves: the room's traffic stays home again, while the players still get ticks.
  await new Promise((resolve) => sc.channel.leave().receive("ok", resolve));
  await new Promise((r) => setTimeout(r, 300));
  const afterLeave = wire.count();
  const ticksBefore = players[0].ticks.length;
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(players[0].ticks.length > ticksBefore + 30, "the players still get ticks");
  assert.equal(wire.count(), afterLeave, "nothing on NATS once the remote member left");
  assert.deepEqual([...players.flatMap((r) => r.errors), ...sc.errors], [], "no channel errors");
});

test("register on a, log in on b, finish a match on c: one leaderboard everywhere", async (t) => {
  const stamp = Date.now().toString(36).slice(-5);
  const [nameA, nameB] = [`ana${stamp}`, `ben${stamp}`];
  const registered = await post(nodes.a.http, "/api/register", { name: nameA, password: "correct horse battery" });
  assert.equal(registered.status, 201, JSON.stringify(registered.body));
  const other = await post(nodes.a.http, "/api/register", { name: nameB, password: "another good phrase" });
  assert.equal(other.status, 201);
  const onB = await post(nodes.b.http, "/api/login", { name: nameA, password: "correct horse battery" });
  assert.equal(onB.status, 200, `the account made on a signs in on b: ${JSON.stringify(onB.body)}`);
  const onC = await post(nodes.c.http, "/api/login", { name: nameB, password: "another good phrase" });
  assert.equal(onC.status, 200);

  // Both play in a room on c: one from b (relayed), one from c.
  const host = connect(nodes.c.url, onC.body.token);
  const far = connect(nodes.b.url, onB.body.token);
  t.after(() => disconnectAll(host, far));
  const { channel: lobby } = await join(host, "lobby:main");
  const id = (await push(lobby, "create_room", { name: "final", max_players: 2 })).response.room_id;
  await waitFor(async () => JSON.parse((await get(nodes.b.http, "/api/rooms?lobby=main")).text).rooms.some((r) => r.id === id), 5000, "the room known on b");
  const players = [roomChannel(host, id, { as: "player" }), roomChannel(far, id, { as: "player" })];
  for (const r of players) await r.joined;
  // One drives straight into a wall, the other circles into its own trail: rounds end fast.
  const ends = [];
  players.forEach((r, i) => {
    const steer = () => r.channel.push("input", { turn: i === 0 ? 0 : 1 });
    r.channel.on("round_start", steer);
    r.channel.on("phase", steer);
    r.channel.on("match_end", (payload) => ends.push(payload));
  });
  for (const r of players) assert.equal((await push(r.channel, "ready", {})).status, "ok");
  await waitFor(() => ends.length === 2, 150000, "match_end on both players");

  const boards = [];
  for (const node of ["a", "b", "c"]) {
    await waitFor(async () => {
      const { text } = await get(nodes[node].http, "/api/leaderboard");
      const names = JSON.parse(text).players.map((e) => e.name);
      return names.includes(nameA) && names.includes(nameB);
    }, 5000, `both players on ${node}'s leaderboard`);
    boards.push((await get(nodes[node].http, "/api/leaderboard")).text);
  }
  assert.equal(boards[1], boards[0], "b's leaderboard is a's");
  assert.equal(boards[2], boards[0], "c's leaderboard is a's");
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

/** Restarts any node killed by an earlier test, and waits until every node lists three. */
async function allNodesUp() {
  for (const [id, node] of Object.entries(nodes)) {
    if (node.proc.exitCode !== null || node.proc.signalCode !== null) nodes[id] = await startNode(id);
  }
  for (const node of Object.values(nodes)) {
    await waitFor(async () => {
      const { status, text } = await get(node.http, "/api/cluster");
      return status === 200 && JSON.parse(text).nodes.length === 3;
    }, 20000, "three nodes in /api/cluster");
  }
}

/** A malformed input of each game, and the field its refusal names. */
const BAD_INPUT = { curve: [{ turn: 7 }, "turn"], bumper: [{ move: "east" }, "move"] };

// The same adoption for every game: the second run restarts the node the first one killed.
for (const game of ["curve", "bumper"]) {
  test(`kill -9 of a node: its members leave the others' presence within 10 s, and its ${game} room is adopted and played on`, async (t) => {
    await allNodesUp();
    // A room made from c's lobby lands on the node with the fewest players: that node dies.
    const host = await user("host");
    const hostSocket = socketOn(t, "c", host.token);
    const { channel: lobbyC } = await join(hostSocket, "lobby:main");
    const created = await push(lobbyC, "create_room", { name: `doomed ${game}`, max_players: 2, game });
    assert.equal(created.status, "ok", JSON.stringify(created));
    const id = created.response.room_id;
    let doomed = null;
    await waitFor(async () => {
      const room = JSON.parse((await get(nodes.a.http, "/api/rooms?lobby=main")).text).rooms.find((r) => r.id === id);
      assert.equal(room?.game ?? game, game, `the room plays ${game}: ${JSON.stringify(room)}`);
      doomed = room?.node ?? null;
      return doomed !== null;
    }, 5000, "the room listed");
    const [near, far] = ["a", "b", "c"].filter((n) => n !== doomed);

    const victim = await user("victim");
    const watcher = await user("watcher");
    const { presence } = await join(socketOn(t, near, watcher.token), "lobby:main");
    const victimSocket = connect(nodes[doomed].url, victim.token, { reconnectAfterMs: () => 60000 });
    t.after(() => disconnectAll(victimSocket));
    await join(victimSocket, "lobby:main");
    await waitFor(() => presence.keys().includes(victim.user.id), 10000, `the victim (on ${doomed}) seen on ${near}`);

    // Played by one player on each of the two other nodes.
    const [pa, pb] = [await user("adopta"), await user("adoptb")];
    const ra = roomChannel(socketOn(t, near, pa.token), id, { as: "player" });
    await ra.joined;
    const rb = roomChannel(socketOn(t, far, pb.token), id, { as: "player" });
    await rb.joined;
    for (const r of [ra, rb]) assert.equal(r.oks[0].config.game, game, `config.game: ${JSON.stringify(r.oks[0].config)}`);
    // Inputs from another node are parsed by the room's game: a bad one is refused through the relay.
    const [badInput, badField] = BAD_INPUT[game];
    const refused = await push(rb.channel, "input", badInput);
    assert.deepEqual(refused, { status: "error", response: { reason: "bad_payload", field: badField } }, `${JSON.stringify(badInput)} from ${far}: ${JSON.stringify(refused)}`);
    for (const r of [ra, rb]) assert.equal((await push(r.channel, "ready", {})).status, "ok");
    await waitFor(() => ra.snapshots.length === 1 && ra.ticks.length > 120 && rb.ticks.length > 120, 10000, "two seconds of ticks, on both nodes");
    // Killed in play, not in the countdown.
    await waitFor(() => ra.phases.includes("playing") && rb.phases.includes("playing"), 10000, "play begun, on both nodes");
    const inPlay = rb.ticks.length;
    await waitFor(() => rb.ticks.length > inPlay + 30, 5000, `half a second of play on ${far}`);
    assertConsecutive(rb.ticks, `the ticks relayed to ${far}`);
    const seated = [pa.user.id, pb.user.id].sort();
    const seats = [ra, rb].map((r, i) => [r.oks[0].you.seat, [pa, pb][i].user.id]).sort();

    const killedAt = Date.now();
    nodes[doomed].proc.kill("SIGKILL");
    await waitFor(() => !presence.keys().includes(victim.user.id), 10000, "the victim gone from the presence");
    const left = Date.now() - killedAt;
    assert.ok(left <= 10000, `left after ${left} ms`);
    await waitFor(async () => JSON.parse((await get(nodes[near].http, "/api/cluster")).text).nodes.length === 2, 5000, `${doomed} gone from /api/cluster`);

    // The room moves to a live node; both players get phx_error and their clients rejoin by themselves.
    let adoptedBy = null;
    await waitFor(async () => {
      const { text } = await get(nodes[near].http, "/api/rooms?lobby=main");
      adoptedBy = JSON.parse(text).rooms.find((r) => r.id === id)?.node ?? null;
      return adoptedBy === near || adoptedBy === far;
    }, 15000, "the room listed again, on a live node");
    const adopted = Date.now() - killedAt;
    await waitFor(() => ra.snapshots.length >= 2 && rb.snapshots.length >= 2, 20000, "fresh snapshots after the rejoin");
    assert.ok(ra.errors.length >= 1 && rb.errors.length >= 1, "both players' channels errored when the node died");
    const snap = ra.snapshots.at(-1).snap;
    assert.notEqual(snap.phase, "waiting", `the match goes on (phase ${snap.phase})`);
    assert.deepEqual(snap.players.map((p) => p.id).sort(), seated, "the same players are seated");
    for (const [i, r] of [ra, rb].entries()) {
      assert.ok(r.oks.length >= 2, `player ${i} rejoined`);
      assert.equal(r.oks.at(-1).you.seat, r.oks[0].you.seat, `player ${i} keeps its seat in the rejoin reply`);
      assert.equal(r.oks.at(-1).config.game, game, `player ${i}: config.game after the adoption`);
      assert.deepEqual(r.snapshots.at(-1).snap.players.map((p) => [p.seat, p.id]).sort(), seats, `player ${i}'s new snapshot has everyone in their seats`);
    }
    const mark = ra.ticks.length;
    await waitFor(() => ra.ticks.length > mark + 60 && rb.ticks.length > rb.snapshots.at(-1).at + 60, 10000, "ticks again on both nodes");
    const after = ra.ticks.slice(ra.snapshots.at(-1).at);
    assertConsecutive(after, "a player's ticks after the adoption");
    assert.equal(after[0], snap.tick + 1, "ticks follow the new snapshot");
    const afterB = rb.ticks.slice(rb.snapshots.at(-1).at);
    assertConsecutive(afterB, `the ticks relayed to ${far} after the adoption`);
    assert.equal(afterB[0], rb.snapshots.at(-1).snap.tick + 1, `ticks on ${far} follow its new snapshot`);
    console.log(`# kill -9 of ${doomed}: presence left after ${left} ms; ${game} room adopted by ${adoptedBy}, listed after ${adopted} ms`);
  });
}
