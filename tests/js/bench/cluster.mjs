// Cluster figures for docs/PERF.md (a benchmark, not a test). Starts its own nats-server,
// PostgreSQL and nodes (release build):
//
//   cargo build --release -p kurve-server
//   (cd tests/js && KURVE_SERVER_BIN=$PWD/../../target/release/kurve-server node bench/cluster.mjs [joins] [seconds])
//
// 1. Join storm: `joins` clients (default 1,000), signed in as guests and spread round
//    robin over the nodes, join one lobby; the time until every client's official
//    `Presence` lists all of them, the servers' CPU, and the bytes the nodes sent each
//    other through NATS. Once on one node alone (no cluster), once on three nodes.
// 2. Relay: a room on node a, one player on a and one on node b. Each player flips its
//    turn every 200 ms for `seconds` (default 30) and times each flip until the first
//    tick that shows its head obeying (heading starts or stops changing): input → effect
//    for a local and for a remote player (flips made while the head is not moving are
//    not counted).
// 3. Relayed fan-out: `rooms` rooms on node a (default 20), two players each on a, six
//    spectators each on node b. Node b's CPU with the spectators, less its CPU just
//    before they joined, per frame it relays (one per room per tick) and per frame it
//    delivers (six per relayed frame).
import { readFileSync } from "node:fs";
import { Presence, Socket } from "phoenix";
import WebSocket from "ws";
import { decode } from "@msgpack/msgpack";
import { spawnServer } from "../../support/server.js";
import { startNats } from "../../support/nats.js";
import { startPostgres } from "../../support/postgres.js";

const JOINS = Number(process.argv[2] ?? 1000);
const SECONDS = Number(process.argv[3] ?? 30);
const ROOMS = Number(process.argv[4] ?? 20);
const SECRET = "bench-secret-0123456789abcdef0123456789";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function metric(http, prefix) {
  const text = await (await fetch(`${http}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith(prefix))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
}

async function guest(http, name) {
  for (;;) {
    const res = await fetch(`${http}/api/guest`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name }),
    });
    if (res.status === 200) return res.json();
    if (res.status !== 503 && res.status !== 429) throw new Error(`guest ${name}: ${res.status}`);
    await sleep(50);
  }
}

function connect(url, token) {
  const socket = new Socket(`${url}/socket`, { transport: WebSocket, params: { token }, reconnectAfterMs: () => 1000 });
  socket.connect();
  return socket;
}

function joinChannel(socket, topic, params = {}) {
  const channel = socket.channel(topic, params);
  return new Promise((resolve, reject) => {
    channel.join().receive("ok", (reply) => resolve({ channel, reply })).receive("error", reject).receive("timeout", () => reject(new Error("timeout")));
  });
}

async function startCluster(count) {
  if (count === 1) {
    const node = await spawnServer({ args: ["--limits", "off"], env: { KURVE_TEST_HOOKS: "false" } });
    return { nodes: [node], stop: async () => node.stop() };
  }
  const nats = await startNats();
  const postgres = await startPostgres();
  const nodes = [];
  for (const id of ["a", "b", "c"].slice(0, count)) {
    nodes.push(await spawnServer({
      args: ["--cluster", nats.url, "--node-id", id, "--limits", "off"],
      database: postgres.url,
      env: { KURVE_SECRET: SECRET, KURVE_TEST_HOOKS: "false" },
    }));
  }
  for (const node of nodes) {
    for (;;) {
      const body = await (await fetch(`${node.http}/api/cluster`)).json();
      if (body.nodes.length === count) break;
      await sleep(100);
    }
  }
  return {
    nodes,
    stop: async () => {
      for (const node of nodes) await node.stop();
      await nats.cleanup();
      postgres.stop();
    },
  };
}

async function joinStorm(count) {
  const cluster = await startCluster(count);
  const { nodes } = cluster;
  const tokens = [];
  for (let i = 0; i < JOINS; i++) tokens.push((await guest(nodes[i % nodes.length].http, `s${i}`)).token);
  const sockets = tokens.map((token, i) => connect(nodes[i % nodes.length].url, token));
  await sleep(1000);
  const cpu0 = nodes.map((n) => cpuSeconds(n.proc.pid));
  const bytes0 = await Promise.all(nodes.map((n) => metric(n.http, "kurve_cluster_bytes_out_total")));
  const started = Date.now();
  const presences = sockets.map((socket) => {
    const channel = socket.channel("lobby:storm");
    const presence = new Presence(channel);
    channel.join();
    return presence;
  });
  for (;;) {
    const complete = presences.filter((p) => p.list().length === JOINS).length;
    if (complete === JOINS) break;
    if (Date.now() - started > 120000) throw new Error(`only ${complete} of ${JOINS} complete after 120 s`);
    await sleep(50);
  }
  const took = (Date.now() - started) / 1000;
  const cpu = nodes.map((n, i) => cpuSeconds(n.proc.pid) - cpu0[i]);
  const bytes = (await Promise.all(nodes.map((n) => metric(n.http, "kurve_cluster_bytes_out_total")))).map((b, i) => b - bytes0[i]);
  for (const s of sockets) s.disconnect();
  await cluster.stop();
  return { nodes: count, took, cpu: cpu.reduce((a, b) => a + b, 0), cpuPerNode: cpu, natsBytes: bytes.reduce((a, b) => a + b, 0) };
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** A player that flips its turn every 300 ms and times each flip until its head obeys. */
function flipper(channel, seat) {
  const samples = [];
  let turn = 0;
  let sentAt = null;
  let lastH = null;
  channel.on("tick", (buf) => {
    const now = performance.now();
    const head = decode(new Uint8Array(buf)).heads?.find((h) => h.s === seat);
    if (!head || head.d === 0) {
      // Not moving (countdown, dead, between rounds): no sample spans it.
      lastH = null;
      sentAt = null;
      return;
    }
    if (lastH !== null && sentAt !== null) {
      const turning = head.h !== lastH;
      if (turning === (turn !== 0)) {
        samples.push(now - sentAt);
        sentAt = null;
      }
    }
    lastH = head.h;
  });
  const timer = setInterval(() => {
    turn = turn === 0 ? 1 : 0;
    sentAt = performance.now();
    channel.push("input", { turn });
  }, 200);
  for (const ev of ["phase", "round_start"]) channel.on(ev, () => channel.push("ready", {}));
  return { samples, stop: () => clearInterval(timer) };
}

async function relay() {
  const cluster = await startCluster(3);
  const [a, b] = cluster.nodes;
  const [ga, gb] = [await guest(a.http, "local"), await guest(b.http, "remote")];
  const sa = connect(a.url, ga.token);
  const sb = connect(b.url, gb.token);
  const { channel: lobby } = await joinChannel(sa, "lobby:main");
  const id = await new Promise((resolve) => lobby.push("create_room", { name: "bench", max_players: 2 }).receive("ok", (r) => resolve(r.room_id)));
  await sleep(500);
  const { channel: ca, reply: ra } = await joinChannel(sa, `room:${id}`, { as: "player" });
  const { channel: cb, reply: rb } = await joinChannel(sb, `room:${id}`, { as: "player" });
  const local = flipper(ca, ra.you.seat);
  const remote = flipper(cb, rb.you.seat);
  let ticksB = 0;
  cb.on("tick", () => ticksB++);
  ca.push("ready", {});
  cb.push("ready", {});
  await sleep(3000);
  const cpuB0 = cpuSeconds(b.proc.pid);
  const ticks0 = ticksB;
  const natsA0 = await metric(a.http, "kurve_cluster_bytes_out_total");
  const msgsA0 = await metric(a.http, "kurve_cluster_messages_out_total");
  const t0 = Date.now();
  local.samples.length = 0;
  remote.samples.length = 0;
  await sleep(SECONDS * 1000);
  const secs = (Date.now() - t0) / 1000;
  const result = {
    local: [...local.samples].sort((x, y) => x - y),
    remote: [...remote.samples].sort((x, y) => x - y),
    ticksPerSec: (ticksB - ticks0) / secs,
    natsBytesPerSec: ((await metric(a.http, "kurve_cluster_bytes_out_total")) - natsA0) / secs,
    natsMsgsPerSec: ((await metric(a.http, "kurve_cluster_messages_out_total")) - msgsA0) / secs,
    cpuB: (cpuSeconds(b.proc.pid) - cpuB0) / secs,
  };
  local.stop();
  remote.stop();
  sa.disconnect();
  sb.disconnect();
  await cluster.stop();
  return result;
}

async function fanout() {
  const cluster = await startCluster(3);
  const [a, b] = cluster.nodes;
  const sockets = [];
  const rooms = [];
  for (let i = 0; i < ROOMS; i++) {
    const players = [];
    for (let p = 0; p < 2; p++) {
      const socket = connect(a.url, (await guest(a.http, `p${i}x${p}`)).token);
      sockets.push(socket);
      players.push(socket);
    }
    const { channel: lobby } = await joinChannel(players[0], "lobby:main");
    const id = await new Promise((resolve) => lobby.push("create_room", { name: `f${i}`, max_players: 2 }).receive("ok", (r) => resolve(r.room_id)));
    for (const socket of players) {
      const { channel } = await joinChannel(socket, `room:${id}`, { as: "player" });
      channel.push("ready", {});
      for (const ev of ["phase", "round_start"]) channel.on(ev, () => channel.push("ready", {}));
    }
    rooms.push(id);
  }
  await sleep(5000);
  const cpuB0 = cpuSeconds(b.proc.pid);
  await sleep(10000);
  const idle = (cpuSeconds(b.proc.pid) - cpuB0) / 10;
  let delivered = 0;
  for (const id of rooms) {
    for (let s = 0; s < 6; s++) {
      const socket = connect(b.url, (await guest(b.http, `w${id}${s}`)).token);
      sockets.push(socket);
      const { channel } = await joinChannel(socket, `room:${id}`, { as: "spectator" });
      channel.on("tick", () => delivered++);
    }
  }
  await sleep(3000);
  const cpu1 = cpuSeconds(b.proc.pid);
  const cpuA1 = cpuSeconds(a.proc.pid);
  const d0 = delivered;
  const t0 = Date.now();
  await sleep(SECONDS * 1000);
  const secs = (Date.now() - t0) / 1000;
  const busy = (cpuSeconds(b.proc.pid) - cpu1) / secs;
  const busyA = (cpuSeconds(a.proc.pid) - cpuA1) / secs;
  const deliveredPerSec = (delivered - d0) / secs;
  const relayedPerSec = deliveredPerSec / 6;
  for (const socket of sockets) socket.disconnect();
  await cluster.stop();
  return { idle, busy, busyA, deliveredPerSec, relayedPerSec };
}

const one = await joinStorm(1);
console.log(`join storm, 1 node:  ${JOINS} joins, all see all after ${one.took.toFixed(2)} s, server CPU ${one.cpu.toFixed(2)} s`);
const three = await joinStorm(3);
console.log(`join storm, 3 nodes: ${JOINS} joins, all see all after ${three.took.toFixed(2)} s, servers' CPU ${three.cpu.toFixed(2)} s (${three.cpuPerNode.map((c) => c.toFixed(2)).join(" + ")}), NATS bytes out ${(three.natsBytes / 1024).toFixed(0)} KiB`);
const r = await relay();
const fmt = (xs) => `p50 ${quantile(xs, 0.5).toFixed(1)} ms, p99 ${quantile(xs, 0.99).toFixed(1)} ms (n=${xs.length})`;
console.log(`input → effect, player on the room's node: ${fmt(r.local)}`);
console.log(`input → effect, player on another node:    ${fmt(r.remote)}`);
console.log(`relayed ticks: ${r.ticksPerSec.toFixed(1)}/s; room node → NATS ${(r.natsBytesPerSec / 1024).toFixed(1)} KiB/s, ${r.natsMsgsPerSec.toFixed(1)} msgs/s; node b CPU ${(r.cpuB * 100).toFixed(1)} % = ${(r.cpuB * 1e6 / r.ticksPerSec).toFixed(1)} µs per relayed frame (incl. its heartbeats and presence)`);
const f = await fanout();
console.log(`fan-out: ${ROOMS} rooms on a, 6 spectators each on b: b delivered ${f.deliveredPerSec.toFixed(0)} frames/s from ${f.relayedPerSec.toFixed(0)} relayed/s; b CPU ${(f.busy * 100).toFixed(1)} % (idle ${(f.idle * 100).toFixed(1)} %) = ${((f.busy - f.idle) * 1e6 / f.relayedPerSec).toFixed(1)} µs per relayed frame, ${((f.busy - f.idle) * 1e6 / f.deliveredPerSec).toFixed(1)} µs per delivered frame; a CPU ${(f.busyA * 100).toFixed(1)} %`);
process.exit(0);
