// Long-poll figures for docs/PERF.md (a benchmark, not a test):
//
//   cargo build --release -p kurve-server
//   (cd tests/js && KURVE_SERVER_BIN=../../target/release/kurve-server node bench/longpoll.mjs [sessions])
//
// 1. Idle sessions: `sessions` long-poll sessions (default 2,000) in lobbies of 200, each
//    polling as the official client does. Server RSS per session, and the requests per
//    second and server CPU they cost while nothing happens.
// 2. One 6-player room at 60 Hz, two players on long-poll (official LongPoll transport)
//    and four on WebSocket, each sending `input` every 100 ms: time from an input to the
//    next tick the player receives, by transport.
import { readFileSync } from "node:fs";
import { LongPoll, Socket } from "phoenix";
import WebSocket from "ws";
import { spawnServer } from "../../support/server.js";

const SESSIONS = Number(process.argv[2] ?? 2000);
const LOBBY_SIZE = 200;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function procStatus(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(status.match(/VmRSS:\s+(\d+)/)[1]);
}

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
  const res = await fetch(`${http}/api/guest`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  if (res.status !== 200) throw new Error(`guest ${name}: ${res.status}`);
  return res.json();
}

/** A session polling like the official client: one GET in flight, again at once. */
async function idleSession(http, token, lobby, stop) {
  const base = `${http}/socket/longpoll?token=${encodeURIComponent(token)}&vsn=2.0.0`;
  const opened = await (await fetch(base)).json();
  const url = `${base}&token=${encodeURIComponent(opened.token)}`;
  const join = JSON.stringify(["1", "1", `lobby:${lobby}`, "phx_join", {}]);
  await fetch(url, { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: join });
  (async () => {
    while (!stop.done) {
      try {
        await (await fetch(url)).json();
      } catch {
        await sleep(100);
      }
    }
  })();
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function idle(server) {
  const pid = server.proc.pid;
  await sleep(500);
  const before = procStatus(pid);
  const stop = { done: false };
  const tokens = [];
  for (let i = 0; i < SESSIONS; i++) tokens.push((await guest(server.http, `idle${i}`)).token);
  for (let i = 0; i < SESSIONS; i += 50) {
    await Promise.all(
      tokens.slice(i, i + 50).map((t, j) => idleSession(server.http, t, `lp${Math.floor((i + j) / LOBBY_SIZE)}`, stop)),
    );
  }
  await sleep(12000); // every session past its first empty window
  const steady = procStatus(pid);
  const requests0 = await metric(server.http, "kurve_longpoll_requests_total");
  const cpu0 = cpuSeconds(pid);
  const WINDOW_S = 30;
  await sleep(WINDOW_S * 1000);
  const requests1 = await metric(server.http, "kurve_longpoll_requests_total");
  const cpu1 = cpuSeconds(pid);
  const open = await metric(server.http, "kurve_longpoll_sessions_open");
  stop.done = true;
  const perSession = ((steady - before) / SESSIONS).toFixed(1);
  const rate = (requests1 - requests0 - 2) / WINDOW_S; // minus this script's two /metrics reads
  console.log(`idle: ${open} sessions open (of ${SESSIONS}), lobbies of ${LOBBY_SIZE}`);
  console.log(`idle: RSS ${before} KiB -> ${steady} KiB: ${perSession} KiB per session`);
  console.log(`idle: ${rate.toFixed(1)} requests/s (${(rate / SESSIONS).toFixed(3)} per session), server CPU ${(((cpu1 - cpu0) / WINDOW_S) * 100).toFixed(1)} %`);
}

function player(url, token, transport) {
  const socket = new Socket(`${url}/socket`, {
    transport: transport === "longpoll" ? LongPoll : WebSocket,
    params: { token },
  });
  socket.connect();
  return socket;
}

function joinChannel(socket, topic, params = {}) {
  const channel = socket.channel(topic, params);
  return new Promise((resolve, reject) =>
    channel.join().receive("ok", (reply) => resolve({ channel, reply })).receive("error", reject),
  );
}

async function latency(server) {
  const transports = ["longpoll", "longpoll", "websocket", "websocket", "websocket", "websocket"];
  const players = [];
  for (const [i, transport] of transports.entries()) {
    const g = await guest(server.http, `lat${i}`);
    players.push({ transport, socket: player(server.url, g.token, transport), samples: [], pending: [] });
  }
  const { channel: lobby } = await joinChannel(players[0].socket, "lobby:main");
  const roomId = await new Promise((resolve) =>
    lobby.push("create_room", { name: "latency", max_players: 6 }).receive("ok", (r) => resolve(r.room_id)),
  );
  for (const p of players) {
    const { channel } = await joinChannel(p.socket, `room:${roomId}`, { as: "player" });
    p.channel = channel;
    channel.on("tick", () => {
      const now = performance.now();
      for (const sent of p.pending) p.samples.push(now - sent);
      p.pending = [];
    });
  }
  for (const p of players) await new Promise((r) => p.channel.push("ready", {}).receive("ok", r));
  await sleep(4000); // the countdown
  let turn = 1;
  const timer = setInterval(() => {
    turn = -turn;
    for (const p of players) {
      p.pending.push(performance.now());
      p.channel.push("input", { turn });
    }
  }, 100);
  await sleep(30000);
  clearInterval(timer);
  for (const kind of ["longpoll", "websocket"]) {
    const samples = players.filter((p) => p.transport === kind).flatMap((p) => p.samples).sort((a, b) => a - b);
    console.log(
      `latency: ${kind}: input -> next tick p50 ${percentile(samples, 50).toFixed(2)} ms, p99 ${percentile(samples, 99).toFixed(2)} ms (${samples.length} inputs)`,
    );
  }
  for (const p of players) p.socket.disconnect();
}

const server = await spawnServer({ args: ["--points-per-opponent", "100"], env: { KURVE_TEST_HOOKS: "false" } });
try {
  await idle(server);
  await latency(server);
} finally {
  await server.stop();
}
process.exit(0);
