// Phoenix wire protocol details (PHOENIX_PROTOCOL §2–§4, §7): raw frames where the
// official client cannot produce them, the official client everywhere else.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServer, guest, get, connect, join, push, waitFor, within, nextEvent, disconnectAll,
  rawSocket, rawJoin,
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
/** An official client socket, disconnected after the test. */
async function client(t, name, opts = {}) {
  const g = await signIn(name);
  const socket = connect(srv.url, g.token, opts);
  t.after(() => disconnectAll(socket));
  return { ...g, socket };
}
/** A raw V2 (or V1) socket, terminated after the test. */
async function raw(t, name, opts = {}) {
  const g = await signIn(name);
  const r = await rawSocket(srv.url, { token: g.token, ...opts });
  t.after(() => r.close());
  return Object.assign(r, { user: g.user });
}
/**
 * Presence for `topic` from raw V2 frames: the last presence_state of join `joinRef`,
 * then the presence_diffs after it, applied like the JS Presence (joins, then leaves by
 * phx_ref). Returns {key: [meta, ...]}.
 */
function rawPresence(frames, joinRef, topic) {
  const i = frames.findLastIndex((f) => Array.isArray(f) && f[0] === joinRef && f[2] === topic && f[3] === "presence_state");
  if (i < 0) return {};
  const state = {};
  for (const [k, v] of Object.entries(frames[i][4])) state[k] = [...v.metas];
  for (const f of frames.slice(i + 1)) {
    if (!Array.isArray(f) || f[2] !== topic || f[3] !== "presence_diff") continue;
    for (const [k, v] of Object.entries(f[4].joins)) {
      const refs = new Set(v.metas.map((m) => m.phx_ref));
      state[k] = [...(state[k] ?? []).filter((m) => !refs.has(m.phx_ref)), ...v.metas];
    }
    for (const [k, v] of Object.entries(f[4].leaves)) {
      const refs = new Set(v.metas.map((m) => m.phx_ref));
      state[k] = (state[k] ?? []).filter((m) => !refs.has(m.phx_ref));
      if (state[k].length === 0) delete state[k];
    }
  }
  return state;
}
const isFrame = (join_ref, ref, topic, event) => (f) =>
  Array.isArray(f) && f[0] === join_ref && f[1] === ref && f[2] === topic && f[3] === event;

test("heartbeat: [null,ref,\"phoenix\",\"heartbeat\",{}] gets an ok reply with the same ref", async (t) => {
  const r = await raw(t, "hb");
  r.send([null, "5", "phoenix", "heartbeat", {}]);
  const reply = await r.reply("5");
  assert.deepEqual(reply, [null, "5", "phoenix", "phx_reply", { status: "ok", response: {} }], "expected the heartbeat reply frame");
});

test("official client heartbeats are acknowledged (short interval, socket stays open)", async (t) => {
  const c = await client(t, "hbclient", { heartbeatIntervalMs: 100 });
  let closes = 0;
  c.socket.onClose(() => (closes += 1));
  let acks = 0;
  c.socket.onMessage((m) => {
    if (m.topic === "phoenix" && m.event === "phx_reply" && m.payload.status === "ok") acks += 1;
  });
  await waitFor(() => acks >= 5, 10000, "five heartbeat replies");
  assert.equal(closes, 0, "expected no close while heartbeats are acknowledged (an unacked heartbeat closes the socket)");
});

test("push to a topic not joined → error reply with null join_ref (unmatched topic)", async (t) => {
  const r = await raw(t, "unmatched");
  r.send(["7", "8", "lobby:main", "chat", { body: "hello?" }]);
  assert.deepEqual(
    await r.reply("8"),
    [null, "8", "lobby:main", "phx_reply", { status: "error", response: { reason: "unmatched topic" } }],
    "expected an unmatched-topic error reply with null join_ref",
  );
  r.send([null, "9", "nowhere:1", "anything", {}]);
  assert.deepEqual(
    await r.reply("9"),
    [null, "9", "nowhere:1", "phx_reply", { status: "error", response: { reason: "unmatched topic" } }],
    "expected an unmatched-topic error reply for an unknown topic",
  );
  // The socket is fine afterwards.
  r.send([null, "10", "phoenix", "heartbeat", {}]);
  await r.reply("10");
});

test("phx_leave → ok reply, then phx_close with join_ref = ref = J; leaving again: ok, no close", async (t) => {
  const r = await raw(t, "leaver");
  const joinReply = await rawJoin(r, "lobby:main", "1");
  assert.equal(joinReply[0], "1", `expected the join reply to echo join_ref "1", got ${JSON.stringify(joinReply)}`);
  assert.equal(joinReply[4].status, "ok", `expected join ok, got ${JSON.stringify(joinReply)}`);
  await r.expect(isFrame("1", null, "lobby:main", "presence_state"), 5000, "presence_state after join");

  r.send(["1", "2", "lobby:main", "phx_leave", {}]);
  const reply = await r.reply("2");
  assert.deepEqual(reply, ["1", "2", "lobby:main", "phx_reply", { status: "ok", response: {} }], "expected the leave's ok reply");
  const close = await r.expect((f) => Array.isArray(f) && f[3] === "phx_close", 5000, "phx_close after leave");
  assert.deepEqual(close, ["1", "1", "lobby:main", "phx_close", {}], "expected phx_close with join_ref = ref = the join's ref");
  assert.ok(r.all.indexOf(reply) < r.all.indexOf(close), "expected the ok reply before phx_close");

  // The channel is gone: a push is now an unmatched topic.
  r.send(["1", "3", "lobby:main", "chat", { body: "after leave" }]);
  assert.deepEqual(await r.reply("3"), [null, "3", "lobby:main", "phx_reply", { status: "error", response: { reason: "unmatched topic" } }], "expected unmatched topic after leaving");

  // Leaving a topic not joined: ok reply and no phx_close (the heartbeat after it is a barrier).
  r.send(["1", "4", "lobby:main", "phx_leave", {}]);
  const again = await r.reply("4");
  assert.equal(again[4].status, "ok", `expected ok for leaving a topic not joined, got ${JSON.stringify(again)}`);
  r.send([null, "5", "phoenix", "heartbeat", {}]);
  await r.reply("5");
  const closes = r.all.filter((f) => Array.isArray(f) && f[3] === "phx_close");
  assert.equal(closes.length, 1, `expected no second phx_close, got ${JSON.stringify(closes)}`);
});

test("duplicate join on one socket: second join ok, phx_close for the old J, one presence meta", async (t) => {
  const r = await raw(t, "dup");
  const first = await rawJoin(r, "lobby:main", "1");
  assert.equal(first[4].status, "ok", `expected the first join ok, got ${JSON.stringify(first)}`);
  await r.expect(isFrame("1", null, "lobby:main", "presence_state"), 5000, "presence_state for J=1");

  r.send(["3", "3", "lobby:main", "phx_join", {}]);
  const second = await r.reply("3");
  assert.equal(second[0], "3", `expected the second join reply with join_ref "3", got ${JSON.stringify(second)}`);
  assert.equal(second[4].status, "ok", `expected the duplicate join to succeed, got ${JSON.stringify(second)}`);
  const close = await r.expect((f) => Array.isArray(f) && f[3] === "phx_close", 5000, "phx_close for the old join");
  assert.deepEqual(close, ["1", "1", "lobby:main", "phx_close", {}], "expected phx_close with the old join_ref as join_ref and ref");
  const firstState = r.all.find(isFrame("1", null, "lobby:main", "presence_state"));
  const oldRef = firstState?.[4][r.user.id]?.metas?.[0]?.phx_ref;
  await r.expect(isFrame("3", null, "lobby:main", "presence_state"), 5000, "presence_state for J=3");
  // Presence as the JS client would see it (state, then diffs): exactly one meta, the new one.
  await waitFor(() => {
    const metas = rawPresence(r.all, "3", "lobby:main")[r.user.id] ?? [];
    return metas.length === 1 && metas[0].phx_ref !== oldRef;
  }, 5000, `one fresh meta for the re-joined user (frames ${JSON.stringify(r.all)})`);

  // A push with the stale join_ref is dropped silently; the push after it is a barrier
  // (same socket, same lobby: its reply comes after any reply to the stale one).
  r.send(["1", "10", "lobby:main", "no_such_event", {}]);
  r.send(["3", "11", "lobby:main", "no_such_event", {}]);
  const fresh = await r.reply("11");
  assert.deepEqual(fresh, ["3", "11", "lobby:main", "phx_reply", { status: "error", response: { reason: "unknown_event" } }], "expected the current join to answer");
  assert.ok(!r.all.some((f) => Array.isArray(f) && f[1] === "10"), "expected no reply to a push with the stale join_ref");
  // A null join_ref is accepted for the joined topic (Phoenix ≥ 1.8.12) and answered with the current J.
  r.send([null, "12", "lobby:main", "no_such_event", {}]);
  assert.deepEqual(await r.reply("12"), ["3", "12", "lobby:main", "phx_reply", { status: "error", response: { reason: "unknown_event" } }], "expected a push with null join_ref answered on the current join");
});

test("official client: a second Channel on the same topic replaces the first (old one gets phx_close)", async (t) => {
  const c = await client(t, "twochan");
  const first = await join(c.socket, "lobby:main");
  let firstClosed = false;
  let firstErrored = false;
  first.channel.onClose(() => (firstClosed = true));
  first.channel.onError(() => (firstErrored = true));
  const second = await join(c.socket, "lobby:main");
  await waitFor(() => firstClosed, 5000, "phx_close for the first channel (its old join_ref)");
  assert.equal(firstErrored, false, "expected the replaced channel closed, not errored");
  assert.equal(second.channel.state, "joined", `expected the second channel joined, state ${second.channel.state}`);
  const res = await push(second.channel, "chat", { body: "from the second channel" });
  assert.equal(res.status, "ok", `expected chat ok on the second channel, got ${JSON.stringify(res)}`);
  await waitFor(() => second.presence.metas(c.user.id).length === 1, 5000, "one meta for the user after the replacement");
});

test("V1 serializer (vsn=1.0.0, object frames) joins the lobby, heartbeats and chats", async (t) => {
  const r = await raw(t, "vone", { vsn: "1.0.0" });
  r.send({ topic: "lobby:main", event: "phx_join", payload: {}, ref: "1", join_ref: "1" });
  const reply = await r.expect((f) => f?.event === "phx_reply" && f.ref === "1", 5000, "V1 join reply");
  assert.equal(Array.isArray(reply), false, "expected an object frame on V1");
  assert.equal(reply.topic, "lobby:main", `expected topic lobby:main, got ${JSON.stringify(reply)}`);
  assert.equal(reply.payload.status, "ok", `expected join ok, got ${JSON.stringify(reply)}`);
  assert.ok(Array.isArray(reply.payload.response.rooms), `expected {rooms: [...]}, got ${JSON.stringify(reply)}`);
  assert.ok(!("join_ref" in reply) || reply.join_ref == null, `expected no join_ref in V1 output, got ${JSON.stringify(reply)}`);
  const state = await r.expect((f) => f?.event === "presence_state", 5000, "V1 presence_state");
  assert.ok(r.user.id in state.payload, `expected own key in presence_state, got ${JSON.stringify(state)}`);

  r.send({ topic: "phoenix", event: "heartbeat", payload: {}, ref: "2" });
  const hb = await r.expect((f) => f?.ref === "2", 5000, "V1 heartbeat reply");
  assert.deepEqual(
    { topic: hb.topic, event: hb.event, payload: hb.payload, ref: hb.ref },
    { topic: "phoenix", event: "phx_reply", payload: { status: "ok", response: {} }, ref: "2" },
    "expected the V1 heartbeat reply",
  );

  r.send({ topic: "lobby:main", event: "chat", payload: { body: "hello from v1" }, ref: "3", join_ref: "1" });
  const chatReply = await r.expect((f) => f?.ref === "3", 5000, "V1 chat reply");
  assert.equal(chatReply.payload.status, "ok", `expected chat ok, got ${JSON.stringify(chatReply)}`);
  const chat = await r.expect((f) => f?.event === "chat", 5000, "V1 chat broadcast");
  assert.equal(chat.payload.body, "hello from v1", `expected the chat broadcast, got ${JSON.stringify(chat)}`);
});

test("a binary push from the official client (kind 0) gets an error reply; the socket keeps working", async (t) => {
  const c = await client(t, "binary");
  const { channel } = await join(c.socket, "lobby:main");
  const res = await push(channel, "chat", new Uint8Array([1, 2]).buffer);
  assert.equal(res.status, "error", `expected an error reply to a binary chat, got ${JSON.stringify(res)}`);
  assert.equal(typeof res.response?.reason, "string", `expected an error reason, got ${JSON.stringify(res)}`);
  const ok = await push(channel, "chat", { body: "after binary" });
  assert.equal(ok.status, "ok", `expected chat ok after the binary push, got ${JSON.stringify(ok)}`);
  assert.equal(c.socket.isConnected(), true, "expected the socket still connected");
});

test("a crashed lobby: members get phx_error, rejoin by themselves, presence re-syncs; lobby:other unaffected", async (t) => {
  const a = await client(t, "crashA");
  const b = await client(t, "crashB");
  const c = await client(t, "bystander");
  const ja = await join(a.socket, "lobby:main");
  const jb = await join(b.socket, "lobby:main");
  const jc = await join(c.socket, "lobby:other");
  const ids = [a.user.id, b.user.id];
  for (const [who, j] of [["A", ja], ["B", jb]]) {
    await waitFor(() => ids.every((id) => j.presence.metas(id).length === 1), 5000, `${who} sees A and B`);
  }
  const oldRefs = new Set(ids.flatMap((id) => ja.presence.metas(id).map((m) => m.phx_ref)));

  let bystanderErrors = 0;
  jc.channel.onError(() => (bystanderErrors += 1));
  const errorsA = [];
  const errorsB = [];
  ja.channel.onError((p) => errorsA.push(p));
  jb.channel.onError((p) => errorsB.push(p));

  // No reply is expected (the actor panics); a short push timeout avoids a dangling timer.
  ja.channel.push("debug_crash", {}, 1000);
  await waitFor(() => errorsA.length > 0 && errorsB.length > 0, 5000, "phx_error on both lobby:main members");
  assert.deepEqual(errorsA[0], { reason: "channel_crash" }, `expected phx_error payload {reason: "channel_crash"} for A, got ${JSON.stringify(errorsA[0])}`);
  assert.deepEqual(errorsB[0], { reason: "channel_crash" }, `expected phx_error payload {reason: "channel_crash"} for B, got ${JSON.stringify(errorsB[0])}`);

  // The official client rejoins on its own (harness rejoinAfterMs: 100 ms).
  for (const [who, j] of [["A", ja], ["B", jb]]) {
    await waitFor(() => j.channel.state === "joined", 10000, `${who} rejoined lobby:main (state ${j.channel.state})`);
  }
  // Presence re-syncs from the restarted lobby: each sees A and B once, with new refs.
  for (const [who, j] of [["A", ja], ["B", jb]]) {
    await waitFor(
      () => ids.every((id) => {
        const metas = j.presence.metas(id);
        return metas.length === 1 && !oldRefs.has(metas[0].phx_ref);
      }),
      10000,
      `${who} sees fresh presence for A and B (have ${JSON.stringify(j.presence.presence.state)})`,
    );
  }
  // Chat works again in the restarted lobby, for both members.
  const gotB = nextEvent(jb.channel, "chat");
  assert.equal((await push(ja.channel, "chat", { body: "back" })).status, "ok", "expected chat ok after the restart");
  assert.equal((await gotB).body, "back", "expected B to receive chat after the restart");

  // The bystander in lobby:other noticed nothing.
  assert.equal(bystanderErrors, 0, "expected no phx_error in lobby:other");
  assert.equal(jc.channel.state, "joined", `expected lobby:other still joined, state ${jc.channel.state}`);
  const gotC = nextEvent(jc.channel, "chat");
  assert.equal((await push(jc.channel, "chat", { body: "calm here" })).status, "ok", "expected chat ok in lobby:other");
  assert.equal((await gotC).body, "calm here", "expected lobby:other chat delivered");
});

test("malformed frames: the offending socket gets an error reply or is closed; others keep working", async (t) => {
  // The observer: one official client receiving, three sending in turn (chat allows 5
  // messages per user per 10 s, and there is a round trip after every case).
  const receiver = await client(t, "observer");
  const jr = await join(receiver.socket, "lobby:main");
  const senders = [];
  for (let i = 0; i < 3; i++) {
    const s = await client(t, "sender");
    senders.push(await join(s.socket, "lobby:main"));
  }
  let round = 0;
  const roundTrip = async (after) => {
    const body = `round ${++round}`;
    const sender = senders[round % senders.length];
    const got = new Promise((resolve) => {
      const ref = jr.channel.on("chat", (m) => {
        if (m.body === body) {
          jr.channel.off("chat", ref);
          resolve();
        }
      });
    });
    const res = await push(sender.channel, "chat", { body });
    assert.equal(res.status, "ok", `after ${after}: expected the official client's chat ok, got ${JSON.stringify(res)}`);
    await within(got, 5000, `after ${after}: the chat round trip`);
  };
  await roundTrip("setup");

  const closeCodes = [1002, 1003, 1007, 1008, 1009, 1011];
  const cases = [
    { what: "text that is not JSON", frame: "[not json", expect: "close", codes: [1007] },
    { what: "invalid UTF-8 in a text frame", frame: Buffer.from([0x5b, 0xff, 0xfe, 0x5d]), text: true, expect: "close", codes: [1007] },
    { what: "wrong arity [null,\"1\",\"phoenix\"]", frame: '[null,"1","phoenix"]', expect: "either", ref: "1" },
    { what: "5 elements with a numeric ref", frame: '[null,5,"phoenix","heartbeat",{}]', expect: "either" },
    { what: "a V1 object on a V2 socket", frame: '{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}', expect: "either" },
    { what: "a JSON string", frame: '"hello"', expect: "either" },
    { what: "a 100 KiB frame", frame: JSON.stringify([null, "1", "phoenix", "heartbeat", { pad: "x".repeat(100 * 1024) }]), expect: "close", codes: [1009] },
    { what: "a binary frame of unknown kind 9", frame: Buffer.from([9, 1, 1, 1, 1, 0x31, 0x32, 0x74, 0x65, 0x01]), expect: "either" },
    { what: "a truncated binary push", frame: Buffer.from([0, 5, 5, 50, 50, 0x31]), expect: "either" },
  ];
  for (const c of cases) {
    const r = await raw(t, "bad");
    const j = await rawJoin(r, "lobby:main", "1");
    assert.equal(j[4].status, "ok", `${c.what}: expected the raw socket to join first, got ${JSON.stringify(j)}`);
    if (c.text) r.ws.send(c.frame, { binary: false });
    else r.send(c.frame);
    const outcome = await within(
      Promise.race([
        r.closed.then((info) => ({ closed: info })),
        r.expect((f) => Array.isArray(f) && f[3] === "phx_reply" && f[4]?.status === "error", 10000, "an error reply").then((f) => ({ reply: f })),
      ]),
      10000,
      `${c.what}: an error reply or a close`,
    ).catch((e) => assert.fail(`${c.what}: expected an error reply or a close; ${e.message}`));
    t.diagnostic(`${c.what}: ${JSON.stringify(outcome)}`);
    if (c.expect === "close") {
      assert.ok(outcome.closed, `${c.what}: expected the socket closed, got reply ${JSON.stringify(outcome.reply)}`);
      assert.ok(c.codes.includes(outcome.closed.code), `${c.what}: expected close code ${c.codes.join(" or ")}, got ${JSON.stringify(outcome.closed)}`);
    } else if (outcome.closed) {
      assert.ok(closeCodes.includes(outcome.closed.code), `${c.what}: expected a protocol/data close code (${closeCodes.join(", ")}), got ${JSON.stringify(outcome.closed)}`);
    } else {
      if (c.ref) assert.equal(outcome.reply[1], c.ref, `${c.what}: expected the error reply to echo ref ${c.ref}, got ${JSON.stringify(outcome.reply)}`);
      // A socket that got an error reply is still usable.
      r.send([null, "hb", "phoenix", "heartbeat", {}]);
      const hb = await r.reply("hb");
      assert.equal(hb[4].status, "ok", `${c.what}: expected the socket to still answer heartbeats, got ${JSON.stringify(hb)}`);
    }
    r.close();
    await roundTrip(c.what);
  }

  const health = await get(srv.http, "/healthz");
  assert.equal(health.status, 200, `expected /healthz 200 after the malformed frames, got ${health.status}`);
  assert.equal(health.text.trim(), "ok", `expected /healthz body "ok", got ${JSON.stringify(health.text)}`);
});

// CONTRACT §3: "a socket silent for 60 s is closed". The limit is a server option
// (--idle-timeout-secs, default 60), so a second server with 1 s checks it quickly; a
// socket that heartbeats stays open meanwhile.
test("a silent socket is closed after the idle timeout (1001, never 1000)", async (t) => {
  const quick = await startServer({ args: ["--idle-timeout-secs", "1"] });
  t.after(() => quick.stop());
  const g = await guest(quick.http, "quiet");
  const silent = await rawSocket(quick.url, { token: g.token });
  const chatty = await rawSocket(quick.url, { token: g.token });
  const beat = setInterval(() => chatty.send([null, String(Date.now()), "phoenix", "heartbeat", {}]), 300);
  t.after(() => clearInterval(beat));
  const started = Date.now();
  const { code } = await within(silent.closed, 5000, "the idle close");
  const waited = Date.now() - started;
  assert.equal(code, 1001, `expected close code 1001 for an idle socket, got ${code}`);
  assert.ok(waited >= 800, `expected the close after about 1 s of silence, got ${waited} ms`);
  assert.equal(chatty.closeInfo, null, "a socket that heartbeats stays open");
  clearInterval(beat);
  chatty.ws.close();
});
