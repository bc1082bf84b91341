// CONTRACT §7 through the official client: a short match (--points-per-opponent 1) ends,
// is listed with both players, and its replay at 4x ends verified; a seek sends a fresh
// snapshot at the tick asked for.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { decode } from "@msgpack/msgpack";
import { startServer, guest, connect, join, push, waitFor, disconnectAll, within, get } from "./harness.js";

let srv;
before(async () => {
  srv = await startServer({ args: ["--points-per-opponent", "1"] });
});
after(async () => {
  await srv?.stop();
});

/** Joins a channel with its listeners attached first; resolves to the reply. */
function joinWith(channel) {
  return within(
    new Promise((resolve, reject) => channel.join().receive("ok", resolve).receive("error", reject)),
    5000,
    `join ${channel.topic}`,
  );
}

test("a finished match is listed and its replay at 4x ends verified; a seek sends a fresh snapshot", { timeout: 240000 }, async (t) => {
  const a = await guest(srv.http, "Ada");
  const b = await guest(srv.http, "Bob");
  const sa = connect(srv.url, a.token);
  const sb = connect(srv.url, b.token);
  t.after(() => disconnectAll(sa, sb));
  const lobby = await join(sa, "lobby:main");
  const created = await push(lobby.channel, "create_room", { name: "Replayable", max_players: 2 });
  assert.equal(created.status, "ok");
  const topic = `room:${created.response.room_id}`;

  // One player circles, the other drives straight: rounds end within seconds.
  const ended = [];
  for (const [socket, turn] of [[sa, 1], [sb, 0]]) {
    const room = socket.channel(topic, { as: "player" });
    room.on("round_start", () => room.push("input", { turn }));
    room.on("match_end", (payload) => ended.push(payload));
    await joinWith(room);
    assert.equal((await push(room, "ready")).status, "ok");
  }
  await waitFor(() => ended.length === 2, 180000, "the match to end");

  // Listed, newest first, with both players (written just after the end).
  let listed;
  await waitFor(async () => {
    const { status, text } = await get(srv.http, "/api/matches?limit=5");
    assert.equal(status, 200);
    listed = JSON.parse(text).matches.find((m) => m.room_name === "Replayable");
    return Boolean(listed);
  }, 5000, "the match in /api/matches");
  assert.deepEqual(listed.players.map((p) => p.id).sort(), [a.user.id, b.user.id].sort());
  assert.ok(listed.players.every((p) => typeof p.points === "number" && p.place >= 1));
  assert.ok(listed.duration_ms > 0 && listed.finished_at > 0);
  assert.ok([a.user.id, b.user.id].includes(listed.winner));
  const one = await get(srv.http, `/api/matches/${listed.id}`);
  assert.equal(one.status, 200);
  assert.equal(JSON.parse(one.text).replay, `/#/replay/${listed.id}`);
  const missing = await get(srv.http, "/api/matches/987654");
  assert.equal(missing.status, 404);
  assert.equal(JSON.parse(missing.text).error.code, "not_found");

  // The replay: a viewer on a third socket.
  const c = await guest(srv.http, "Cid");
  const sc = connect(srv.url, c.token);
  t.after(() => disconnectAll(sc));
  const replay = sc.channel(`replay:${listed.id}`, {});
  const snapshots = [];
  const ticks = [];
  const ends = [];
  /** Every decoded tick, by pass (0: unseeked, 1: after the seek). */
  const passes = [new Map(), new Map()];
  replay.on("snapshot", (buf) => snapshots.push(decode(new Uint8Array(buf))));
  replay.on("tick", (buf) => {
    const tick = decode(new Uint8Array(buf));
    ticks.push(tick.tick);
    passes[ends.length === 0 ? 0 : 1].set(tick.tick, tick);
  });
  replay.on("replay_end", (payload) => ends.push(payload));
  const reply = await joinWith(replay);
  assert.equal(reply.config.tick_hz, 60);
  assert.ok(reply.duration_ticks > 0);
  await waitFor(() => snapshots.length === 1, 5000, "the replay's snapshot");
  const started = Date.now();
  assert.equal((await push(replay, "control", { speed: 4 })).status, "ok");
  await waitFor(() => ends.length === 1, 120000, "replay_end");
  const took = Date.now() - started;
  assert.equal(ends[0].verified, true, JSON.stringify(ends[0]));
  assert.deepEqual(ends[0].standings.map((s) => s.id).sort(), [a.user.id, b.user.id].sort());
  for (let i = 1; i < ticks.length; i++) assert.equal(ticks[i], ticks[i - 1] + 1, `consecutive replay ticks at ${i}`);
  const realTime = (reply.duration_ticks / 60) * 1000;
  assert.ok(took < realTime / 2, `4x is faster than real time: ${took} ms for ${realTime} ms of match`);

  // Seek back: a fresh snapshot at the spot, then the same ticks as the first pass, so
  // the arena rebuilt from them ends where the unseeked replay ended.
  const seek = Math.floor(reply.duration_ticks / 3);
  const seeked = await push(replay, "control", { seek_tick: seek, speed: 4 });
  assert.equal(seeked.status, "ok");
  await waitFor(() => snapshots.length === 2, 5000, "a fresh snapshot after the seek");
  assert.equal(snapshots[1].tick, reply.start_tick + seek, "the snapshot is at the seek");
  await waitFor(() => ends.length === 2, 120000, "the second replay_end");
  assert.equal(ends[1].verified, true);
  assert.ok(passes[1].size > 0, "ticks after the seek");
  for (const [n, tick] of passes[1]) {
    if (n <= snapshots[1].tick) continue;
    assert.deepEqual(tick, passes[0].get(n), `tick ${n} after the seek equals the unseeked pass's`);
  }
  assert.equal(Math.max(...passes[1].keys()), Math.max(...passes[0].keys()), "both passes end on the same tick");
  const bad = await push(replay, "control", { speed: 3 });
  assert.deepEqual(bad, { status: "error", response: { reason: "bad_payload", field: "speed" } });
});
