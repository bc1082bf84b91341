// room:<id> topics (CONTRACT §4) through the official phoenix Socket/Channel.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { decode } from "@msgpack/msgpack";
import {
  startServer, guest, connect, join, push, waitFor, trackPresence, disconnectAll, within,
} from "./harness.js";

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv?.stop();
});

let counter = 0;
/** A fresh guest with a connected socket and a joined lobby:main; disconnected after the test. */
async function client(t, name = "r") {
  const g = await guest(srv.http, `${name}${++counter}`);
  const socket = connect(srv.url, g.token);
  t.after(() => disconnectAll(socket));
  const lobby = await join(socket, "lobby:main");
  return { ...g, socket, lobby: lobby.channel };
}

async function createRoom(c, params = {}) {
  const { status, response } = await push(c.lobby, "create_room", params);
  assert.equal(status, "ok", `expected create_room ${JSON.stringify(params)} to be ok, got ${status} ${JSON.stringify(response)}`);
  assert.match(response.room_id, /^[a-z0-9]{8}$/, `expected an 8-char room id, got ${JSON.stringify(response)}`);
  return response.room_id;
}

function unpack(buf, what) {
  assert.ok(buf instanceof ArrayBuffer, `expected ${what} as an ArrayBuffer, got ${Object.prototype.toString.call(buf)}`);
  return decode(new Uint8Array(buf));
}

/**
 * Joins room:<id> with listeners attached before the join (the snapshot push follows
 * the reply at once). Everything the channel sees is recorded on the returned object.
 */
function roomChannel(c, id, params = { as: "player" }) {
  const channel = c.socket.channel(`room:${id}`, params);
  const r = {
    channel, oks: [], refusals: [], errors: [], snapshots: [], ticks: [], events: [],
    presence: trackPresence(channel),
    /** Index into ticks at each snapshot. */
    ticksAtSnapshot: [],
  };
  channel.on("snapshot", (buf) => {
    r.snapshots.push(unpack(buf, "the snapshot"));
    r.ticksAtSnapshot.push(r.ticks.length);
  });
  r.tickTimes = [];
  channel.on("tick", (buf) => {
    r.ticks.push(unpack(buf, "a tick").tick);
    r.tickTimes.push(Date.now());
  });
  for (const ev of ["phase", "round_start", "round_end", "match_end"]) {
    channel.on(ev, (payload) => r.events.push({ ev, ...payload }));
  }
  channel.onError((reason) => r.errors.push(reason));
  r.joined = within(
    new Promise((resolve, reject) => {
      channel
        .join()
        .receive("ok", (reply) => {
          r.oks.push(reply);
          resolve(reply);
        })
        .receive("error", (reply) => {
          r.refusals.push(reply);
          reject(Object.assign(new Error(`join room:${id} refused: ${JSON.stringify(reply)}`), { reply }));
        });
    }),
    5000,
    `the join of room:${id}`,
  );
  return r;
}

/** Joins and waits for the snapshot. */
async function enter(c, id, params) {
  const r = roomChannel(c, id, params);
  await r.joined;
  await waitFor(() => r.snapshots.length === 1, 3000, `the snapshot of room:${id}`);
  return r;
}

/** Joins expecting a refusal; stops the client's automatic rejoin; returns the reason. */
async function refusedReason(c, id, params) {
  const r = roomChannel(c, id, params);
  try {
    const reply = await r.joined;
    assert.fail(`expected joining room:${id} with ${JSON.stringify(params)} to be refused, got ok ${JSON.stringify(reply)}`);
  } catch (err) {
    if (!err.reply) throw err;
    return err.reply.reason;
  } finally {
    r.channel.leave();
  }
}

function assertConsecutive(ticks, what) {
  for (let i = 1; i < ticks.length; i++) {
    if (ticks[i] !== ticks[i - 1] + 1) {
      assert.fail(`expected consecutive ${what} tick numbers, got ${ticks[i]} after ${ticks[i - 1]} (index ${i})`);
    }
  }
}

async function readyAll(...rooms) {
  for (const r of rooms) {
    const { status, response } = await push(r.channel, "ready", {});
    assert.equal(status, "ok", `expected ready to be ok, got ${status} ${JSON.stringify(response)}`);
  }
}

test("create a room, join it as a player and as a spectator", async (t) => {
  const host = await client(t, "host");
  const watcher = await client(t, "watch");
  const id = await createRoom(host, { name: "JS room", max_players: 4 });

  const player = await enter(host, id, { as: "player" });
  const reply = player.oks[0];
  assert.equal(reply.you.id, host.user.id, `expected you.id ${host.user.id}, got ${JSON.stringify(reply.you)}`);
  assert.equal(reply.you.role, "player", `expected role player, got ${JSON.stringify(reply.you)}`);
  assert.match(reply.you.color, /^#[0-9a-f]{6}$/i, `expected a #rrggbb colour, got ${JSON.stringify(reply.you)}`);
  assert.equal(reply.config.tick_hz, 60, `expected tick_hz 60, got ${JSON.stringify(reply.config)}`);
  assert.deepEqual(reply.config.arena, { w: 1024, h: 768 }, `expected a 1024×768 arena, got ${JSON.stringify(reply.config)}`);
  const snap = player.snapshots[0];
  assert.equal(snap.phase, "waiting", `expected a waiting snapshot, got ${snap.phase}`);
  assert.equal(typeof snap.tick, "number", `expected a numeric snapshot tick, got ${JSON.stringify(snap.tick)}`);
  assert.deepEqual(snap.players.map((p) => p.id), [host.user.id], `expected the host alone in the snapshot, got ${JSON.stringify(snap.players)}`);
  for (const field of ["tick", "phase", "round", "phase_ends_at", "target", "config", "players", "trails", "items", "effects"]) {
    assert.ok(field in snap, `expected snapshot field ${field}, got keys ${Object.keys(snap)}`);
  }

  const spectator = await enter(watcher, id, { as: "spectator" });
  assert.equal(spectator.oks[0].you.role, "spectator", `expected role spectator, got ${JSON.stringify(spectator.oks[0].you)}`);
  assert.equal(spectator.oks[0].you.color, undefined, "expected no colour for a spectator");
  assert.deepEqual(spectator.snapshots[0].players.map((p) => p.id), [host.user.id], "expected the spectator's snapshot to show the seated host");

  // Room presence: both users, with their roles.
  const ids = [host.user.id, watcher.user.id].sort();
  await waitFor(() => JSON.stringify(player.presence.keys()) === JSON.stringify(ids), 3000, `room presence ${JSON.stringify(ids)} (have ${JSON.stringify(player.presence.keys())})`);
  assert.equal(player.presence.metas(host.user.id)[0]?.role, "player", "expected the host's presence role player");
  assert.equal(player.presence.metas(watcher.user.id)[0]?.role, "spectator", "expected the watcher's presence role spectator");
});

test("join and event refusals: not_found, room_full, wrong_password, already_started, not_a_player", async (t) => {
  const [a, b, c, d] = [await client(t, "a"), await client(t, "b"), await client(t, "c"), await client(t, "d")];

  assert.equal(await refusedReason(a, "zz9zz9zz", { as: "player" }), "not_found", "expected an unknown room to be refused with not_found");

  const duo = await createRoom(a, { max_players: 2 });
  await enter(a, duo, { as: "player" });
  await enter(b, duo, { as: "player" });
  assert.equal(await refusedReason(c, duo, { as: "player" }), "room_full", "expected a third player in a 2-seat room to be refused with room_full");

  const locked = await createRoom(a, { private: true, password: "open-sesame" });
  assert.equal(await refusedReason(c, locked, { as: "player", password: "nope" }), "wrong_password", "expected a wrong password to be refused with wrong_password");
  await enter(c, locked, { as: "player", password: "open-sesame" });

  const trio = await createRoom(a, { max_players: 3 });
  const ra = await enter(a, trio, { as: "player" });
  const rb = await enter(b, trio, { as: "player" });
  await readyAll(ra, rb);
  await waitFor(() => ra.events.some((e) => e.ev === "phase" && e.phase === "countdown"), 3000, "phase countdown");
  assert.equal(await refusedReason(d, trio, { as: "player" }), "already_started", "expected a player joining during the countdown to be refused with already_started");

  const spec = await enter(d, trio, { as: "spectator" });
  const input = await push(spec.channel, "input", { turn: 1 });
  assert.deepEqual(input, { status: "error", response: { reason: "not_a_player" } }, `expected a spectator's input to be refused with not_a_player, got ${JSON.stringify(input)}`);
});

test("ticks arrive as binary with consecutive numbers at the tick rate", async (t) => {
  const [a, b, w] = [await client(t, "ta"), await client(t, "tb"), await client(t, "tw")];
  const id = await createRoom(a, { max_players: 2 });
  const ra = await enter(a, id, { as: "player" });
  const rb = await enter(b, id, { as: "player" });
  const rw = await enter(w, id, { as: "spectator" });
  await readyAll(ra, rb);
  await waitFor(() => rw.ticks.length > 0, 3000, "the first tick");
  const from = rw.ticks.length;
  await new Promise((r) => setTimeout(r, 3000));
  const window = rw.ticks.slice(from);
  assert.ok(window.length >= 135, `expected ≥ 135 ticks in 3 s (≥ 45/s at 60 Hz), got ${window.length}`);
  assertConsecutive(rw.ticks, "spectator");
  assertConsecutive(ra.ticks, "player");
  const common = ra.ticks.filter((n) => rw.ticks.includes(n));
  assert.ok(common.length >= 135, `expected the player and the spectator to get the same ticks, ${common.length} in common`);
  assert.deepEqual(
    rw.events.filter((e) => e.ev === "phase").map((e) => e.phase).slice(0, 2),
    ["countdown", "playing"],
    `expected phase countdown then playing, got ${JSON.stringify(rw.events)}`,
  );
});

test("a crashing room: the official client rejoins by itself while another room ticks on", async (t) => {
  const cs = [];
  for (const n of ["ca1", "ca2", "cas", "cb1", "cb2", "cbs"]) cs.push(await client(t, n));
  const [a1, a2, as, b1, b2, bs] = cs;
  const roomA = await createRoom(a1, { max_players: 2 });
  const roomB = await createRoom(b1, { max_players: 2 });
  const A = [await enter(a1, roomA, { as: "player" }), await enter(a2, roomA, { as: "player" }), await enter(as, roomA, { as: "spectator" })];
  const B = [await enter(b1, roomB, { as: "player" }), await enter(b2, roomB, { as: "player" }), await enter(bs, roomB, { as: "spectator" })];
  const lobbyErrors = [];
  for (const c of cs) c.lobby.onError((reason) => lobbyErrors.push(reason));
  await readyAll(A[0], A[1], B[0], B[1]);
  await waitFor(() => A[2].ticks.length >= 30 && B[2].ticks.length >= 30, 4000, "ticks in both rooms");

  const crashAt = Date.now();
  A[0].channel.push("debug_crash", {});
  await waitFor(() => A.every((r) => r.errors.length === 1), 3000, "onError on every channel of the crashed room");
  for (const r of A) {
    assert.deepEqual(r.errors[0], { reason: "channel_crash" }, `expected onError with {reason: "channel_crash"}, got ${JSON.stringify(r.errors[0])}`);
  }
  // The client rejoins by itself: a new join ok, a new snapshot, ticks again.
  await waitFor(() => A.every((r) => r.oks.length === 2 && r.snapshots.length === 2), 5000, "every channel of the crashed room rejoined with a new snapshot");
  await waitFor(
    () => A.every((r) => r.ticks.length - r.ticksAtSnapshot[1] >= 30),
    3000,
    "ticks after the rejoin",
  );
  for (const [i, r] of A.entries()) {
    assert.equal(r.oks[1].you.role, r.oks[0].you.role, `channel ${i}: expected the same role after the rejoin`);
    const after = r.ticks.slice(r.ticksAtSnapshot[1]);
    assert.equal(after[0], r.snapshots[1].tick + 1, `channel ${i}: expected the first tick after the rejoin to follow the new snapshot (${r.snapshots[1].tick})`);
    assertConsecutive(after, `room A channel ${i} after the rejoin`);
    assert.equal(r.errors.length, 1, `channel ${i}: expected a single onError, got ${JSON.stringify(r.errors)}`);
  }
  assert.equal(A[0].snapshots[1].players.length, 2, "expected both players still seated after the restart");

  // Room B kept ticking (generous: ≥ 30/s over the 3 s from the crash; 60 are due per
  // second), and no one else saw an error.
  await waitFor(() => Date.now() >= crashAt + 3000, 4000, "3 s after the crash");
  const bFrom = B[2].tickTimes.findIndex((at) => at >= crashAt);
  assert.ok(bFrom > 0, "expected room B ticks before and after the crash");
  const bWindow = B[2].tickTimes.slice(bFrom).filter((at) => at < crashAt + 3000).length;
  const pause = Math.max(...B[2].tickTimes.slice(bFrom).map((at, i) => at - B[2].tickTimes[bFrom + i - 1]));
  assert.ok(bWindow >= 90, `expected room B to deliver ≥ 90 ticks in the 3 s after the crash, got ${bWindow} (longest pause ${pause} ms)`);
  for (const [i, r] of B.entries()) {
    assertConsecutive(r.ticks, `room B channel ${i}`);
    assert.deepEqual(r.errors, [], `room B channel ${i}: expected no error, got ${JSON.stringify(r.errors)}`);
    assert.equal(r.oks.length, 1, `room B channel ${i}: expected no rejoin`);
  }
  assert.deepEqual(lobbyErrors, [], `expected no lobby channel error, got ${JSON.stringify(lobbyErrors)}`);
});
