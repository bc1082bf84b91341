// lobby:<name> topics (CONTRACT §4) through the official phoenix Socket/Channel/Presence.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServer, guest, get, connect, join, push, waitFor, within, nextEvent, disconnectAll,
} from "./harness.js";

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv?.stop();
});

let counter = 0;
/** Signs in a fresh guest (unique name) and connects a socket; disconnected after the test. */
async function client(t, name = "user", opts = {}) {
  const g = await guest(srv.http, `${name}${++counter}`);
  const socket = connect(srv.url, g.token, opts);
  t.after(() => disconnectAll(socket));
  return { ...g, socket };
}

function sameKeys(view, ids) {
  const want = [...ids].sort();
  const have = view.keys();
  return have.length === want.length && have.every((k, i) => k === want[i]);
}

async function expectKeys(view, ids, what) {
  await waitFor(() => sameKeys(view, ids), 5000, `${what}: presence keys ${JSON.stringify([...ids].sort())} (have ${JSON.stringify(view.keys())})`);
}

test("join lobby:main replies {rooms: [...]}", async (t) => {
  const a = await client(t, "rooms");
  const { reply } = await join(a.socket, "lobby:main");
  assert.deepEqual(Object.keys(reply), ["rooms"], `expected only "rooms" in the join reply, got ${JSON.stringify(reply)}`);
  assert.ok(Array.isArray(reply.rooms), `expected rooms to be an array, got ${JSON.stringify(reply.rooms)}`);
  const listing = await get(srv.http, "/api/rooms?lobby=main");
  assert.equal(listing.status, 200, `expected GET /api/rooms?lobby=main 200, got ${listing.status} ${listing.text}`);
  assert.deepEqual(JSON.parse(listing.text), { rooms: reply.rooms }, "expected the HTTP room listing to match the join reply");
  for (const room of reply.rooms) {
    for (const field of ["id", "name", "lobby", "phase", "players", "spectators", "max_players", "private"]) {
      assert.ok(field in room, `expected RoomSummary field ${field} in ${JSON.stringify(room)}`);
    }
  }
});

test("presence: three clients converge, one leaves", async (t) => {
  const topic = "lobby:presence3";
  const cs = [await client(t, "p"), await client(t, "p"), await client(t, "p")];
  const joined = [];
  for (const c of cs) joined.push(await join(c.socket, topic));
  const ids = cs.map((c) => c.user.id);
  for (const [i, j] of joined.entries()) {
    await expectKeys(j.presence, ids, `client ${i}`);
    for (const c of cs) {
      const metas = j.presence.metas(c.user.id);
      assert.equal(metas.length, 1, `client ${i}: expected one meta for ${c.user.id}, got ${JSON.stringify(metas)}`);
      assert.equal(metas[0].name, c.user.name, `client ${i}: expected meta name ${c.user.name}, got ${JSON.stringify(metas[0])}`);
      assert.equal(metas[0].status, "lobby", `client ${i}: expected status "lobby", got ${JSON.stringify(metas[0])}`);
      assert.equal(typeof metas[0].phx_ref, "string", `client ${i}: expected a string phx_ref, got ${JSON.stringify(metas[0])}`);
    }
  }

  // The third leaves its channel; the others see the key go.
  const left = [];
  joined[0].presence.presence.onLeave((key, current) => left.push({ key, remaining: current.metas.length }));
  await within(new Promise((resolve) => joined[2].channel.leave().receive("ok", resolve)), 5000, "leave ok");
  const rest = ids.slice(0, 2);
  await expectKeys(joined[0].presence, rest, "client 0 after client 2 left");
  await expectKeys(joined[1].presence, rest, "client 1 after client 2 left");
  assert.deepEqual(left, [{ key: ids[2], remaining: 0 }], `expected one onLeave for ${ids[2]} with no metas left, got ${JSON.stringify(left)}`);
});

test("presence: one user in two sockets is one key with two metas; closing a tab leaves one", async (t) => {
  const topic = "lobby:twotabs";
  const watcher = await client(t, "watch");
  const w = await join(watcher.socket, topic);
  const g = await guest(srv.http, `tabs${++counter}`);
  const tab1 = connect(srv.url, g.token);
  const tab2 = connect(srv.url, g.token);
  t.after(() => disconnectAll(tab1, tab2));
  const j1 = await join(tab1, topic);
  await join(tab2, topic);

  const ids = [watcher.user.id, g.user.id];
  await expectKeys(w.presence, ids, "watcher");
  await waitFor(() => w.presence.metas(g.user.id).length === 2, 5000, "two metas for the two-tab user");
  const refs = w.presence.metas(g.user.id).map((m) => m.phx_ref);
  assert.notEqual(refs[0], refs[1], `expected distinct phx_refs per tab, got ${JSON.stringify(refs)}`);
  await waitFor(() => j1.presence.metas(g.user.id).length === 2, 5000, "tab 1 sees its own two metas");

  await disconnectAll(tab2);
  await waitFor(() => w.presence.metas(g.user.id).length === 1, 5000, "one meta after closing a tab");
  assert.deepEqual(w.presence.keys(), [...ids].sort(), "expected the user still present with one tab");
  await waitFor(() => j1.presence.metas(g.user.id).length === 1, 5000, "tab 1 sees one meta left");
});

test("presence: a socket that dies without a close frame is removed", async (t) => {
  const topic = "lobby:abrupt";
  const a = await client(t, "alive");
  // No reconnect during the test: the dead socket must not come back and rejoin.
  const b = await client(t, "doomed", { reconnectAfterMs: () => 600000 });
  const ja = await join(a.socket, topic);
  await join(b.socket, topic);
  await expectKeys(ja.presence, [a.user.id, b.user.id], "before the drop");

  const conn = b.socket.conn;
  if (conn._socket) conn._socket.destroy();
  else conn.terminate();
  await expectKeys(ja.presence, [a.user.id], "after the abrupt drop");
});

test("chat is broadcast to everyone as {user:{id,name}, body, at}", async (t) => {
  const topic = "lobby:chat";
  const a = await client(t, "talker");
  const b = await client(t, "listener");
  const ja = await join(a.socket, topic);
  const jb = await join(b.socket, topic);
  const gotA = nextEvent(ja.channel, "chat");
  const gotB = nextEvent(jb.channel, "chat");
  const before = Date.now();
  const res = await push(ja.channel, "chat", { body: "  hello there  " });
  assert.equal(res.status, "ok", `expected chat ok, got ${JSON.stringify(res)}`);
  for (const [who, p] of [["sender", gotA], ["listener", gotB]]) {
    const msg = await p;
    assert.deepEqual(Object.keys(msg).sort(), ["at", "body", "user"], `${who}: expected exactly user/body/at, got ${JSON.stringify(msg)}`);
    assert.deepEqual(msg.user, { id: a.user.id, name: a.user.name }, `${who}: expected user {id,name} of the sender, got ${JSON.stringify(msg.user)}`);
    assert.equal(msg.body.trim(), "hello there", `${who}: expected the body, got ${JSON.stringify(msg.body)}`);
    assert.equal(typeof msg.at, "number", `${who}: expected a numeric timestamp, got ${JSON.stringify(msg.at)}`);
    assert.ok(Math.abs(msg.at - before) < 60000, `${who}: expected "at" in unix milliseconds near ${before}, got ${msg.at}`);
  }
});

test("chat errors: empty, blank, 281 chars → invalid_body; no or numeric body → bad_payload naming it; 280 chars (also emoji) ok", async (t) => {
  const a = await client(t, "chatty");
  const { channel } = await join(a.socket, "lobby:chaterr");
  for (const [what, payload] of [
    ["empty body", { body: "" }],
    ["blank body", { body: "   " }],
    ["only bidi controls and NUL", { body: "\u202e\u0000\u2066" }],
    ["281 chars", { body: "x".repeat(281) }],
    ["281 emoji (characters, not UTF-16 units)", { body: "😀".repeat(281) }],
  ]) {
    const res = await push(channel, "chat", payload);
    assert.deepEqual(res, { status: "error", response: { reason: "invalid_body" } }, `${what}: expected error invalid_body, got ${JSON.stringify(res)}`);
  }
  for (const [what, payload] of [
    ["no body", {}],
    ["numeric body", { body: 42 }],
  ]) {
    const res = await push(channel, "chat", payload);
    assert.deepEqual(res, { status: "error", response: { reason: "bad_payload", field: "body" } }, `${what}: got ${JSON.stringify(res)}`);
  }
  const ok = await push(channel, "chat", { body: "y".repeat(280) });
  assert.equal(ok.status, "ok", `expected a 280-char body to be accepted, got ${JSON.stringify(ok)}`);
  const emoji = await push(channel, "chat", { body: "😀".repeat(280) });
  assert.equal(emoji.status, "ok", `expected 280 emoji (560 UTF-16 units) to be accepted, got ${JSON.stringify(emoji)}`);
});

test("chat rate limit: the 6th message within 10 s is rate_limited and not broadcast", async (t) => {
  const a = await client(t, "spammer");
  const b = await client(t, "reader");
  const topic = "lobby:ratelimit";
  const ja = await join(a.socket, topic);
  const jb = await join(b.socket, topic);
  const seen = [];
  jb.channel.on("chat", (m) => seen.push(m.body));
  for (let i = 1; i <= 5; i++) {
    const res = await push(ja.channel, "chat", { body: `msg ${i}` });
    assert.equal(res.status, "ok", `expected message ${i} ok, got ${JSON.stringify(res)}`);
  }
  const sixth = await push(ja.channel, "chat", { body: "msg 6" });
  assert.deepEqual(sixth, { status: "error", response: { reason: "rate_limited" } }, `expected the 6th to be rate_limited, got ${JSON.stringify(sixth)}`);
  // Another user is not limited by the spammer; its message also orders the stream.
  const marker = nextEvent(jb.channel, "chat");
  assert.equal((await push(jb.channel, "chat", { body: "reader speaks" })).status, "ok", "expected another user's chat ok");
  await marker;
  await waitFor(() => seen.includes("reader speaks"), 5000, "the reader's own message");
  assert.deepEqual(seen, ["msg 1", "msg 2", "msg 3", "msg 4", "msg 5", "reader speaks"], `expected the rate-limited message not broadcast, got ${JSON.stringify(seen)}`);
});

test("unknown event → error unknown_event; create_room answers (no timeout)", async (t) => {
  const a = await client(t, "eventful");
  const { channel } = await join(a.socket, "lobby:events");
  const unknown = await push(channel, "no_such_event", { x: 1 });
  assert.deepEqual(unknown, { status: "error", response: { reason: "unknown_event" } }, `expected unknown_event, got ${JSON.stringify(unknown)}`);
  // create_room is being implemented; only require that it answers.
  const create = await push(channel, "create_room", { name: "test room" });
  assert.ok(["ok", "error"].includes(create.status), `expected create_room to answer ok or error, got ${JSON.stringify(create)}`);
  // The channel is still usable.
  assert.equal((await push(channel, "chat", { body: "still here" })).status, "ok", "expected chat ok after the errors");
});

test("lobby:Bad Name → unmatched topic error", async (t) => {
  const a = await client(t, "badname");
  for (const topic of ["lobby:Bad Name", "lobby:", `lobby:${"a".repeat(33)}`, "nonsense:main"]) {
    const err = await join(a.socket, topic).then(
      () => assert.fail(`expected joining ${topic} to be refused`),
      (e) => e,
    );
    err.channel?.leave();
    assert.deepEqual(err.reply, { reason: "unmatched topic" }, `${topic}: expected {reason: "unmatched topic"}, got ${JSON.stringify(err.reply)}`);
  }
  // The socket still joins a valid lobby afterwards.
  await join(a.socket, "lobby:valid_name-1");
});

test("a second lobby (lobby:other) is independent of lobby:main: presence and chat not shared", async (t) => {
  const a = await client(t, "mainer");
  const b = await client(t, "otherer");
  const ja = await join(a.socket, "lobby:main");
  const jb = await join(b.socket, "lobby:other");
  await waitFor(() => ja.presence.keys().includes(a.user.id), 5000, "A in lobby:main presence");
  await waitFor(() => jb.presence.keys().includes(b.user.id), 5000, "B in lobby:other presence");
  const leaked = [];
  jb.channel.on("chat", (m) => leaked.push(m.body));
  const own = nextEvent(ja.channel, "chat");
  assert.equal((await push(ja.channel, "chat", { body: "only in main" })).status, "ok", "expected chat ok in main");
  await own;
  // Then B's own message: by the time it is back, a leaked message would most likely be too.
  const ownB = nextEvent(jb.channel, "chat");
  assert.equal((await push(jb.channel, "chat", { body: "only in other" })).status, "ok", "expected chat ok in other");
  await ownB;
  assert.deepEqual(leaked, ["only in other"], `expected lobby:other to see only its own chat, got ${JSON.stringify(leaked)}`);
  assert.ok(!ja.presence.keys().includes(b.user.id), `expected B (lobby:other) absent from lobby:main presence ${JSON.stringify(ja.presence.keys())}`);
  assert.deepEqual(jb.presence.keys(), [b.user.id], `expected lobby:other presence to hold only B, got ${JSON.stringify(jb.presence.keys())}`);
});
