// CONTRACT §6: /socket/longpoll through the official client's LongPoll transport (phoenix
// 1.8's uses fetch in Node), mixed with WebSocket clients; and the raw protocol where the
// client would hide it (statuses in the body, the 100-line post limit, dead sessions).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { decode } from "@msgpack/msgpack";
import { LongPoll, Socket } from "phoenix";
import {
  startServer, guest, connect, join, push, waitFor, disconnectAll, nextEvent, within, rawSocket,
} from "./harness.js";

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv?.stop();
});

let counter = 0;
async function signIn(name) {
  return guest(srv.http, `${name}${++counter}`);
}

/** An official client Socket on the LongPoll transport. */
function connectLongPoll(token, opts = {}) {
  const socket = new Socket(`${srv.url}/socket`, {
    transport: LongPoll,
    params: { token },
    reconnectAfterMs: () => 50,
    rejoinAfterMs: () => 100,
    ...opts,
  });
  socket.connect();
  return socket;
}

/** GET or POST /socket/longpoll with a raw query; resolves to { http, body }. */
async function lp(method, query, body) {
  const res = await fetch(`${srv.http}/socket/longpoll?${query}`, {
    method,
    headers: method === "POST" ? { "content-type": "application/x-ndjson" } : {},
    body,
  });
  return { http: res.status, body: await res.json() };
}

/** Opens a raw session: resolves to the query that names it (user token, then session). */
async function rawSession(token) {
  const base = `token=${encodeURIComponent(token)}&vsn=2.0.0`;
  const { http, body } = await lp("GET", base);
  assert.equal(http, 200, "every long-poll answer is HTTP 200");
  assert.equal(body.status, 410, `a new session answers 410, got ${JSON.stringify(body)}`);
  assert.equal(typeof body.token, "string", "with its token");
  return `${base}&token=${encodeURIComponent(body.token)}`;
}

/** The value of a /metrics line (0 when absent). */
async function metric(prefix) {
  const text = await (await fetch(`${srv.http}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  return line ? Number(line.split(" ").pop()) : 0;
}

test("long-poll and WebSocket clients share lobby presence and chat", async (t) => {
  const a = await signIn("lp");
  const b = await signIn("ws");
  const lpSocket = connectLongPoll(a.token);
  const wsSocket = connect(srv.url, b.token);
  t.after(() => disconnectAll(lpSocket, wsSocket));

  const overLongPoll = await join(lpSocket, "lobby:main");
  assert.equal(lpSocket.transport, LongPoll, "the socket speaks long-poll");
  const overWs = await join(wsSocket, "lobby:main");
  await waitFor(
    () => overLongPoll.presence.keys().includes(b.user.id) && overWs.presence.keys().includes(a.user.id),
    5000,
    "each to see the other in presence",
  );
  assert.equal(overWs.presence.metas(a.user.id)[0].name, a.user.name);

  const heard = nextEvent(overWs.channel, "chat");
  const sent = await push(overLongPoll.channel, "chat", { body: "over http" });
  assert.equal(sent.status, "ok", `chat over long-poll: ${JSON.stringify(sent)}`);
  const chat = await heard;
  assert.equal(chat.body, "over http");
  assert.equal(chat.user.id, a.user.id);

  const heardOverLongPoll = [];
  overLongPoll.channel.on("chat", (c) => heardOverLongPoll.push(c.body));
  await push(overWs.channel, "chat", { body: "over ws" });
  await waitFor(() => heardOverLongPoll.includes("over ws"), 5000, "the broadcast to reach the long-poll client");
});

test("a long-poll player and a WebSocket player play one room: JSON snapshot and consecutive JSON ticks", async (t) => {
  const a = await signIn("lpp");
  const b = await signIn("wsp");
  const lpSocket = connectLongPoll(a.token);
  const wsSocket = connect(srv.url, b.token);
  t.after(() => disconnectAll(lpSocket, wsSocket));
  const lobby = await join(lpSocket, "lobby:main");
  const created = await push(lobby.channel, "create_room", { name: "mixed", max_players: 2 });
  assert.equal(created.status, "ok", JSON.stringify(created));
  const topic = `room:${created.response.room_id}`;

  const lpRoom = lpSocket.channel(topic, { as: "player" });
  const lpTicks = [];
  const lpSnapshots = [];
  lpRoom.on("snapshot", (s) => lpSnapshots.push(s));
  lpRoom.on("tick", (tick) => lpTicks.push(tick));
  const wsRoom = wsSocket.channel(topic, { as: "player" });
  const wsTicks = [];
  const wsSnapshots = [];
  wsRoom.on("snapshot", (buf) => wsSnapshots.push(decode(new Uint8Array(buf))));
  wsRoom.on("tick", (buf) => wsTicks.push(decode(new Uint8Array(buf))));
  const joined = (ch) =>
    within(new Promise((resolve, reject) => ch.join().receive("ok", resolve).receive("error", reject)), 5000, `join ${ch.topic}`);
  const lpReply = await joined(lpRoom);
  await joined(wsRoom);
  assert.equal(lpReply.you.role, "player");
  await waitFor(() => lpSnapshots.length === 1 && wsSnapshots.length === 1, 5000, "both snapshots");

  const snap = lpSnapshots[0];
  assert.equal(typeof snap, "object", "the snapshot arrives as a JSON object over long-poll");
  assert.ok(!(snap instanceof ArrayBuffer), "not binary");
  assert.deepEqual(Object.keys(snap).sort(), Object.keys(wsSnapshots[0]).sort(), "the same fields as the binary snapshot");
  assert.deepEqual(snap.config, wsSnapshots[0].config, "the same values");

  for (const ch of [lpRoom, wsRoom]) {
    const r = await push(ch, "ready");
    assert.equal(r.status, "ok", `ready: ${JSON.stringify(r)}`);
  }
  await waitFor(() => lpTicks.length >= 120, 15000, "two seconds of ticks over long-poll");
  // Steer: a turn from the long-poll player shows in its head's heading.
  const seat = snap.players.find((p) => p.id === a.user.id)?.seat ?? lpReply.you.seat ?? 0;
  const before = lpTicks.length;
  assert.equal((await push(lpRoom, "input", { turn: 1 })).status, "timeout", "inputs get no reply");
  await waitFor(() => lpTicks.length >= before + 30, 5000, "ticks after the input");

  for (let i = 1; i < lpTicks.length; i++) {
    assert.equal(lpTicks[i].tick, lpTicks[i - 1].tick + 1, `consecutive long-poll ticks at ${i}`);
  }
  const byTick = new Map(wsTicks.map((tk) => [tk.tick, tk]));
  let compared = 0;
  for (const tk of lpTicks) {
    const twin = byTick.get(tk.tick);
    if (!twin) continue;
    assert.deepEqual(tk, twin, `tick ${tk.tick} has the same content on both transports`);
    compared += 1;
  }
  assert.ok(compared > 60, `compared ${compared} ticks`);
  const headings = lpTicks.slice(before).flatMap((tk) => (tk.heads ?? []).filter((h) => h.s === seat).map((h) => h.h));
  assert.ok(new Set(headings).size > 1, `the long-poll player's input turned its head: ${headings.slice(0, 5)}`);
});

test("raw protocol: 403 in the body for a bad token, 410 for a session that is gone, 400 past 100 lines", async () => {
  const refused = await lp("GET", "token=forged&vsn=2.0.0");
  assert.equal(refused.http, 200);
  assert.deepEqual(refused.body, { status: 403 });

  const g = await signIn("raw");
  const query = await rawSession(g.token);
  const join = JSON.stringify(["1", "1", "lobby:main", "phx_join", {}]);
  const posted = await lp("POST", query, join);
  assert.deepEqual(posted.body, { status: 200 });
  const polled = await lp("GET", query);
  assert.equal(polled.body.status, 200, JSON.stringify(polled.body));
  assert.ok(polled.body.messages.every((m) => typeof m === "string"), "messages are strings");
  const frames = polled.body.messages.map((m) => JSON.parse(m));
  assert.deepEqual(frames[0].slice(0, 4), ["1", "1", "lobby:main", "phx_reply"]);
  assert.equal(frames[0][4].status, "ok");

  const heartbeat = JSON.stringify([null, "2", "phoenix", "heartbeat", {}]);
  const tooMany = await lp("POST", query, Array(101).fill(heartbeat).join("\n"));
  assert.equal(tooMany.body.status, 400, `101 frames are refused: ${JSON.stringify(tooMany.body)}`);
  const hundred = await lp("POST", query, Array(100).fill(heartbeat).join("\n"));
  assert.deepEqual(hundred.body, { status: 200 }, "100 frames are taken");
  let replies = 0;
  while (replies < 100) {
    const { body } = await lp("GET", query);
    assert.equal(body.status, 200, `the heartbeat replies: ${JSON.stringify(body)}`);
    replies += body.messages.filter((m) => JSON.parse(m)[3] === "phx_reply").length;
  }
  assert.equal(replies, 100, "one reply per heartbeat, none lost");

  const sessionToken = new URLSearchParams(query).getAll("token").pop();
  const unknown = await lp("POST", `vsn=2.0.0&token=${encodeURIComponent(sessionToken)}x`, heartbeat);
  assert.equal(unknown.body.status, 410, "a post on no session");
});

test("an empty window answers 204 with the token", { timeout: 30000 }, async () => {
  const g = await signIn("idle");
  const query = await rawSession(g.token);
  const started = Date.now();
  const { body } = await lp("GET", query);
  assert.equal(body.status, 204, JSON.stringify(body));
  assert.equal(typeof body.token, "string", "every GET answer carries the token");
  assert.ok(Date.now() - started >= 9000, "held for the window");
});

test("a session that stops polling ends after 15 s and its presence leaves", { timeout: 60000 }, async (t) => {
  const a = await signIn("gone");
  const b = await signIn("watch");
  const lpSocket = connectLongPoll(a.token);
  const wsSocket = connect(srv.url, b.token);
  t.after(() => disconnectAll(wsSocket));
  // A lobby of its own: nothing is sent to the stopped session, so it ends by being idle
  // (with traffic queued for it, it would be dropped sooner, at the outbound bound).
  await join(lpSocket, "lobby:lp_quiet");
  const watcher = await join(wsSocket, "lobby:lp_quiet");
  await waitFor(() => watcher.presence.keys().includes(a.user.id), 5000, "the long-poll member");
  const open = await metric("kurve_longpoll_sessions_open");
  assert.ok(open >= 1, `a session is open (${open})`);
  // The client stops polling (its pending request is aborted); the server hears nothing more.
  const stoppedAt = Date.now();
  lpSocket.disconnect();
  await waitFor(() => !watcher.presence.keys().includes(a.user.id), 25000, "the long-poll member to leave");
  const took = Date.now() - stoppedAt;
  assert.ok(took >= 14000, `not before 15 s (${took} ms)`);
  assert.ok(took <= 20000, `soon after 15 s (${took} ms)`);
});

test("V1 sockets receive snapshot and tick as JSON events", async (t) => {
  const host = await signIn("v1host");
  const hostSocket = connect(srv.url, host.token);
  t.after(() => disconnectAll(hostSocket));
  const lobby = await join(hostSocket, "lobby:main");
  const created = await push(lobby.channel, "create_room", { name: "v1", max_players: 2 });
  const id = created.response.room_id;

  const v = await signIn("v1");
  const raw = await rawSocket(srv.url, { token: v.token, vsn: "1.0.0" });
  t.after(() => raw.close());
  raw.send({ topic: `room:${id}`, event: "phx_join", payload: { as: "spectator" }, ref: "1" });
  const frame = await raw.expect((f) => f && f.event === "snapshot", 5000, "a JSON snapshot");
  assert.equal(frame.topic, `room:${id}`);
  assert.equal(typeof frame.payload.tick, "number", `a JSON snapshot: ${JSON.stringify(frame).slice(0, 200)}`);
  assert.ok(Array.isArray(frame.payload.players), "with its players");
});
