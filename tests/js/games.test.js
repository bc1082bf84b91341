// CONTRACT §11 through the official client: every game the server hosts goes through the
// same checks. GET /api/games, create_room/quick_join with a game, the game in the lobby
// listing, /api/rooms, the join reply, /api/matches and the replay's reply; a match of each
// game played from a lobby to match_end (two players, one spectator, consecutive ticks,
// inputs of the game), listed, on the leaderboard and replayed verified; a crashed room of
// each game resumed with the same seats.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { decode } from "@msgpack/msgpack";
import { startServer, guest, post, get, connect, join, push, waitFor, disconnectAll, within } from "./harness.js";

const GAMES = ["curve", "bumper"];

/**
 * What differs between the games, as a client sees it: the inputs it sends, the tick's
 * per-seat entries (Curve `heads`, Bumper `d`; both `{s, …, a?}`), and how an input
 * shows in them.
 */
const PLAY = {
  curve: {
    /** A tick's per-seat entries. */
    entries: (tick) => tick.heads ?? [],
    /** The first player circles, the second drives straight: rounds end within seconds. */
    steer: (i) => ({ turn: i === 0 ? 1 : 0 }),
    /** One-shot inputs sent once play began (Curve has none). */
    extra: () => [],
    bad: { turn: 7 },
    badField: "turn",
    /** The circling seat's heading takes many values. */
    moved: (entries) => new Set(entries.map((e) => e.h)).size > 3,
    movedWhat: "its heading turning",
  },
  bumper: {
    entries: (tick) => tick.d ?? [],
    /** The first player pushes right, the second left. */
    steer: (i) => ({ move: i === 0 ? [100, 0] : [-100, 0] }),
    /** A dash along the held move. */
    extra: (i) => [{ move: i === 0 ? [100, 0] : [-100, 0], dash: true }],
    bad: { move: "east" },
    badField: "move",
    /** The first seat's disc gains speed to the right. */
    moved: (entries) => entries.some((e) => e.vx > 0),
    movedWhat: "its disc moving right",
  },
};

let srv;
before(async () => {
  // Short matches of both games: Curve at 1 point per opponent, Bumper on a 6 s clock.
  srv = await startServer({ args: ["--points-per-opponent", "1", "--bumper-match-secs", "6"] });
});
after(async () => {
  await srv?.stop();
});

let counter = 0;
const stamp = Date.now().toString(36).slice(-5);

/** A fresh guest with a connected socket and a joined lobby:main; disconnected after the test. */
async function client(t, name) {
  const g = await guest(srv.http, `${name}${++counter}`);
  return connected(t, g);
}

/** A registered player (the leaderboard lists accounts only), connected, in lobby:main. */
async function account(t, name) {
  const { status, body } = await post(srv.http, "/api/register", { name: `${name}${stamp}`, password: "a long enough password" });
  assert.equal(status, 201, `expected registering ${name}${stamp} to be 201, got ${status} ${JSON.stringify(body)}`);
  return connected(t, body);
}

async function connected(t, session) {
  const socket = connect(srv.url, session.token);
  t.after(() => disconnectAll(socket));
  const lobby = await join(socket, "lobby:main");
  const added = [];
  lobby.channel.on("room_added", (room) => added.push(room));
  return { ...session, socket, lobby: lobby.channel, lobbyReply: lobby.reply, added };
}

function unpack(buf) {
  if (!(buf instanceof ArrayBuffer)) throw new Error(`expected a binary frame, got ${Object.prototype.toString.call(buf)}`);
  return decode(new Uint8Array(buf));
}

/**
 * Joins room:<id> with its listeners attached before the join (the snapshot follows the
 * reply at once). Records replies, snapshots (with the number of ticks before each),
 * every tick from `tick` and `ticks` frames (payloads kept by number), the JSON lifecycle
 * events and channel errors.
 */
function roomChannel(c, id, params) {
  const channel = c.socket.channel(`room:${id}`, params);
  const r = { channel, oks: [], errors: [], snapshots: [], ticks: [], byTick: new Map(), events: [], problems: [] };
  const take = (tick) => {
    r.ticks.push(tick.tick);
    r.byTick.set(tick.tick, tick);
  };
  channel.on("snapshot", (buf) => {
    try {
      r.snapshots.push({ at: r.ticks.length, snap: unpack(buf) });
    } catch (err) {
      r.problems.push(`snapshot: ${err.message}`);
    }
  });
  channel.on("tick", (buf) => {
    try {
      take(unpack(buf));
    } catch (err) {
      r.problems.push(`tick: ${err.message}`);
    }
  });
  channel.on("ticks", (buf) => {
    try {
      const list = unpack(buf);
      if (!Array.isArray(list)) throw new Error(`expected an array of ticks, got ${JSON.stringify(list).slice(0, 200)}`);
      list.forEach(take);
    } catch (err) {
      r.problems.push(`ticks: ${err.message}`);
    }
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
        .receive("error", (reply) => reject(Object.assign(new Error(`join room:${id} refused: ${JSON.stringify(reply)}`), { reply })));
    }),
    5000,
    `the join of room:${id}`,
  );
  r.phase = (phase) => r.events.some((e) => e.ev === "phase" && e.phase === phase);
  r.matchEnd = () => r.events.find((e) => e.ev === "match_end");
  return r;
}

/** Joins and waits for the snapshot. */
async function enter(c, id, params) {
  const r = roomChannel(c, id, params);
  await r.joined;
  await waitFor(() => r.snapshots.length === 1, 5000, `the snapshot of room:${id}`);
  return r;
}

function assertConsecutive(ticks, what) {
  for (let i = 1; i < ticks.length; i++) {
    if (ticks[i] !== ticks[i - 1] + 1) {
      assert.fail(`expected consecutive ${what} tick numbers, got ${ticks[i]} after ${ticks[i - 1]} (index ${i})`);
    }
  }
}

async function createRoom(c, params) {
  const { status, response } = await push(c.lobby, "create_room", params);
  assert.equal(status, "ok", `expected create_room ${JSON.stringify(params)} to be ok, got ${status} ${JSON.stringify(response)}`);
  assert.match(response.room_id, /^[a-z0-9]{8}$/, `expected an 8-char room id, got ${JSON.stringify(response)}`);
  return response.room_id;
}

async function listedRoom(id) {
  const { status, text } = await get(srv.http, "/api/rooms?lobby=main");
  assert.equal(status, 200);
  return JSON.parse(text).rooms.find((r) => r.id === id);
}

test("GET /api/games lists curve first and bumper; create_room refuses an unknown game and a size out of the game's range; quick_join picks by game", async (t) => {
  const { status, text } = await get(srv.http, "/api/games");
  assert.equal(status, 200, `expected /api/games to be 200, got ${status} ${text}`);
  const games = JSON.parse(text);
  assert.ok(Array.isArray(games), `expected a bare array, got ${text}`);
  assert.deepEqual(games.map((g) => g.id), GAMES, `expected curve then bumper, got ${text}`);
  const [curve, bumper] = games;
  assert.deepEqual(curve, { id: "curve", name: "Curve", min_players: 1, max_players: 8 }, `curve's entry: ${text}`);
  assert.match(bumper.name, /^Bumper/, `bumper's name: ${text}`);
  assert.deepEqual({ ...bumper, name: undefined }, { id: "bumper", name: undefined, min_players: 2, max_players: 8 }, `bumper's entry: ${text}`);

  const c = await client(t, "gm");
  const unknown = await push(c.lobby, "create_room", { game: "chess" });
  assert.deepEqual(unknown, { status: "error", response: { reason: "invalid_room" } }, `expected an unknown game to be refused invalid_room, got ${JSON.stringify(unknown)}`);
  for (const game of games) {
    // A room needs two seats at least (Curve's 1 is practice alone, in a bigger room).
    for (const max_players of [1, game.max_players + 1]) {
      const refused = await push(c.lobby, "create_room", { game: game.id, max_players });
      assert.deepEqual(refused, { status: "error", response: { reason: "invalid_room" } }, `expected ${game.id} with max_players ${max_players} to be refused invalid_room, got ${JSON.stringify(refused)}`);
    }
  }

  // quick_join: a bumper room for {game: "bumper"} (made, as none waits), the same one for
  // the next bumper player, and a curve room for a payload without a game.
  const [q1, q2, q3] = [await client(t, "qa"), await client(t, "qb"), await client(t, "qc")];
  const first = await push(q1.lobby, "quick_join", { game: "bumper" });
  assert.equal(first.status, "ok", `quick_join bumper: ${JSON.stringify(first)}`);
  const bumperRoom = first.response.room_id;
  await waitFor(async () => (await listedRoom(bumperRoom)) !== undefined, 5000, "the quick_join room in /api/rooms");
  assert.equal((await listedRoom(bumperRoom)).game, "bumper", "the room quick_join made for bumper plays bumper");
  const second = await push(q2.lobby, "quick_join", { game: "bumper" });
  assert.deepEqual(second, { status: "ok", response: { room_id: bumperRoom } }, "a second bumper quick_join finds the waiting bumper room");
  const plain = await push(q3.lobby, "quick_join", {});
  assert.equal(plain.status, "ok", `quick_join {}: ${JSON.stringify(plain)}`);
  assert.notEqual(plain.response.room_id, bumperRoom, "quick_join without a game does not pick the bumper room");
  await waitFor(async () => (await listedRoom(plain.response.room_id)) !== undefined, 5000, "the plain quick_join room in /api/rooms");
  assert.equal((await listedRoom(plain.response.room_id)).game, "curve", "quick_join without a game is curve");
  const nope = await push(q3.lobby, "quick_join", { game: "chess" });
  assert.deepEqual(nope, { status: "error", response: { reason: "invalid_room" } }, `expected quick_join of an unknown game to be refused invalid_room, got ${JSON.stringify(nope)}`);
});

for (const game of GAMES) {
  test(`${game}: created from a lobby, played by two with a spectator to match_end, listed, on the leaderboard, replayed verified`, { timeout: 280000 }, async (t) => {
    const play = PLAY[game];
    const host = await account(t, `${game.slice(0, 2)}a`);
    const roomName = `${game} match ${stamp}`;
    const id = await createRoom(host, { name: roomName, max_players: 2, game });

    // The listing says which game: the creator's lobby, a later joiner's lobby reply, /api/rooms.
    await waitFor(() => host.added.some((r) => r.id === id), 5000, "room_added in the creator's lobby");
    assert.equal(host.added.find((r) => r.id === id).game, game, `room_added: ${JSON.stringify(host.added)}`);
    const other = await account(t, `${game.slice(0, 2)}b`);
    const inReply = other.lobbyReply.rooms.find((r) => r.id === id);
    assert.equal(inReply?.game, game, `the lobby join reply lists the room with its game: ${JSON.stringify(other.lobbyReply.rooms)}`);
    assert.equal((await listedRoom(id))?.game, game, "/api/rooms lists the room with its game");
    const watcher = await client(t, `${game.slice(0, 2)}w`);

    const players = [await enter(host, id, { as: "player" }), await enter(other, id, { as: "player" })];
    const spectator = await enter(watcher, id, { as: "spectator" });
    const all = [...players, spectator];
    for (const [i, r] of all.entries()) {
      const reply = r.oks[0];
      assert.equal(reply.config.game, game, `join ${i}: config.game ${JSON.stringify(reply.config)}`);
      assert.equal(reply.config.room_id, id);
      assert.equal(reply.config.tick_hz, 60);
      assert.equal(reply.you.role, i < 2 ? "player" : "spectator", `join ${i}: ${JSON.stringify(reply.you)}`);
      const snap = r.snapshots[0].snap;
      assert.equal(typeof snap.tick, "number", `join ${i}: a numeric snapshot tick, got ${JSON.stringify(snap).slice(0, 200)}`);
      assert.equal(snap.phase, "waiting", `join ${i}: a waiting snapshot`);
    }
    const seats = players.map((r) => r.oks[0].you.seat);
    assert.ok(seats.every((s) => typeof s === "number") && seats[0] !== seats[1], `two seats: ${seats}`);
    assert.deepEqual(
      spectator.snapshots[0].snap.players.map((p) => [p.seat, p.id]).sort(),
      [[seats[0], host.user.id], [seats[1], other.user.id]].sort(),
      "the spectator's snapshot shows both players in their seats",
    );

    // A malformed input of the game is refused, naming its field.
    const bad = await push(players[0].channel, "input", play.bad);
    assert.deepEqual(bad, { status: "error", response: { reason: "bad_payload", field: play.badField } }, `expected ${JSON.stringify(play.bad)} refused naming ${play.badField}, got ${JSON.stringify(bad)}`);

    // Steer as play begins (and as every round begins); the first player numbers its input.
    players.forEach((r, i) => {
      let extraSent = false;
      const steer = (payload) => {
        if (payload.phase !== undefined && payload.phase !== "playing") return;
        r.channel.push("input", { ...play.steer(i), ...(i === 0 ? { seq: 1 } : {}) });
        if (extraSent) return;
        extraSent = true;
        setTimeout(() => {
          for (const input of play.extra(i)) r.channel.push("input", input);
        }, 500);
      };
      r.channel.on("round_start", steer);
      r.channel.on("phase", steer);
    });
    for (const r of players) {
      const ready = await push(r.channel, "ready", {});
      assert.equal(ready.status, "ok", `ready: ${JSON.stringify(ready)}`);
    }
    await waitFor(() => all.every((r) => r.ticks.length > 0), 10000, "ticks on every member");
    await waitFor(() => all.every((r) => r.matchEnd()), 200000, "match_end on every member");
    // The finished phase ticks on for a few seconds; let it run out.
    await waitFor(() => all.every((r) => r.phase("waiting")), 15000, "the room back to waiting");
    await new Promise((r) => setTimeout(r, 200));

    for (const [i, r] of all.entries()) {
      assert.deepEqual(r.problems, [], `member ${i}: frames that did not decode`);
      assert.deepEqual(r.errors, [], `member ${i}: no channel errors`);
      assertConsecutive(r.ticks, `member ${i}'s`);
      assert.ok(r.ticks.length > 60, `member ${i}: ${r.ticks.length} ticks`);
      assert.ok(r.ticks[0] > r.snapshots[0].snap.tick, `member ${i}: ticks after its snapshot`);
    }
    // The three got the same ticks.
    let compared = 0;
    for (const [n, tick] of spectator.byTick) {
      for (const r of players) {
        if (!r.byTick.has(n)) continue;
        assert.deepEqual(r.byTick.get(n), tick, `tick ${n}: a player's equals the spectator's`);
        compared++;
      }
    }
    assert.ok(compared > 120, `compared ${compared} ticks`);
    const phases = spectator.events.filter((e) => e.ev === "phase").map((e) => e.phase);
    assert.deepEqual(phases.slice(0, 2), ["countdown", "playing"], `phases ${JSON.stringify(phases)}`);
    assert.ok(phases.includes("finished"), `phases ${JSON.stringify(phases)}`);

    // The inputs steered: the first seat's entries show it, its seq is acked, and a dash
    // (Bumper) is in the ticks.
    const ticks = [...spectator.byTick.values()];
    const mine = ticks.flatMap((tick) => play.entries(tick).filter((e) => e.s === seats[0]));
    assert.ok(play.moved(mine), `the first player's input shows: ${play.movedWhat} (entries ${JSON.stringify(mine.slice(0, 5))})`);
    assert.ok(mine.some((e) => e.a === 1), `the first player's seq 1 is acked in a tick entry (a: 1)`);
    if (game === "bumper") {
      const dashes = ticks.flatMap((tick) => (tick.ev ?? []).filter((e) => e.e === "dash"));
      assert.ok(dashes.some((e) => e.seat === seats[0]), `a dash event for seat ${seats[0]}: ${JSON.stringify(dashes)}`);
    }

    // match_end: the same standings for everyone, both players placed.
    const end = spectator.matchEnd();
    for (const r of players) assert.deepEqual(r.matchEnd(), end, "every member gets the same match_end");
    assert.deepEqual(end.standings.map((s) => s.id).sort(), [host.user.id, other.user.id].sort(), `standings ${JSON.stringify(end)}`);
    for (const s of end.standings) {
      assert.ok(typeof s.points === "number" && s.place >= 1 && typeof s.seat === "number", `standing ${JSON.stringify(s)}`);
    }
    assert.equal(end.forfeit, false, `not a forfeit: ${JSON.stringify(end)}`);
    assert.ok(end.duration_ticks > 0, `duration_ticks ${end.duration_ticks}`);

    // Listed with its game (written just after the end).
    let listed;
    await waitFor(async () => {
      const { status, text } = await get(srv.http, "/api/matches?limit=10");
      assert.equal(status, 200);
      listed = JSON.parse(text).matches.find((m) => m.room_name === roomName);
      return Boolean(listed);
    }, 5000, "the match in /api/matches");
    assert.equal(listed.game, game, `/api/matches item: ${JSON.stringify(listed)}`);
    assert.deepEqual(listed.players.map((p) => p.id).sort(), [host.user.id, other.user.id].sort());
    const one = await get(srv.http, `/api/matches/${listed.id}`);
    assert.equal(one.status, 200);
    assert.equal(JSON.parse(one.text).game, game, `/api/matches/${listed.id}: ${one.text}`);

    // On the leaderboard, one match each.
    for (const p of [host, other]) {
      let row;
      await waitFor(async () => {
        const { status, text } = await get(srv.http, "/api/leaderboard");
        assert.equal(status, 200);
        row = JSON.parse(text).players.find((e) => e.name === p.user.name);
        return Boolean(row);
      }, 5000, `${p.user.name} on the leaderboard`);
      assert.equal(row.matches, 1, `${p.user.name}'s row: ${JSON.stringify(row)}`);
    }

    // The replay at 4x plays to replay_end, verified.
    const replay = watcher.socket.channel(`replay:${listed.id}`, {});
    const rsnaps = [];
    const rticks = [];
    const ends = [];
    const rproblems = [];
    replay.on("snapshot", (buf) => rsnaps.push(unpack(buf)));
    replay.on("tick", (buf) => rticks.push(unpack(buf).tick));
    replay.on("ticks", (buf) => {
      const list = unpack(buf);
      if (!Array.isArray(list)) rproblems.push(list);
      else for (const tick of list) rticks.push(tick.tick);
    });
    replay.on("replay_end", (payload) => ends.push(payload));
    const reply = await within(
      new Promise((resolve, reject) => replay.join().receive("ok", resolve).receive("error", (e) => reject(new Error(`replay join refused: ${JSON.stringify(e)}`)))),
      5000,
      `join replay:${listed.id}`,
    );
    assert.equal(reply.config.game, game, `replay config: ${JSON.stringify(reply.config)}`);
    assert.equal(reply.config.tick_hz, 60);
    assert.ok(reply.duration_ticks > 0, `duration_ticks ${reply.duration_ticks}`);
    await waitFor(() => rsnaps.length === 1, 5000, "the replay's snapshot");
    assert.equal(typeof rsnaps[0].tick, "number");
    assert.equal((await push(replay, "control", { speed: 4 })).status, "ok");
    await waitFor(() => ends.length === 1, 120000, "replay_end");
    assert.equal(ends[0].verified, true, `replay_end: ${JSON.stringify(ends[0])}`);
    assert.deepEqual(ends[0].standings.map((s) => s.id).sort(), [host.user.id, other.user.id].sort());
    assert.deepEqual(rproblems, [], "replay ticks frames are arrays");
    assert.ok(rticks.length > 60, `${rticks.length} replay ticks`);
    assertConsecutive(rticks, "replay");
  });
}

for (const game of GAMES) {
  test(`${game}: a room crashed mid-match resumes; the official client rejoins to the same seats and ticks go on`, { timeout: 60000 }, async (t) => {
    const [a, b] = [await client(t, `${game.slice(0, 2)}x`), await client(t, `${game.slice(0, 2)}y`)];
    const id = await createRoom(a, { max_players: 2, game });
    const players = [await enter(a, id, { as: "player" }), await enter(b, id, { as: "player" })];
    const seated = players.map((r, i) => [r.oks[0].you.seat, [a, b][i].user.id]).sort();
    for (const r of players) assert.equal((await push(r.channel, "ready", {})).status, "ok");
    await waitFor(() => players.every((r) => r.phase("playing")), 10000, "phase playing");
    const mark = players[0].ticks.length;
    await waitFor(() => players[0].ticks.length >= mark + 30, 3000, "half a second of play");

    players[0].channel.push("debug_crash", {});
    await waitFor(() => players.every((r) => r.errors.length >= 1), 5000, "onError on both players' channels");
    for (const r of players) assert.deepEqual(r.errors[0], { reason: "channel_crash" }, `onError: ${JSON.stringify(r.errors)}`);
    await waitFor(() => players.every((r) => r.oks.length === 2 && r.snapshots.length === 2), 5000, "both rejoined with a fresh snapshot");
    await waitFor(() => players.every((r) => r.ticks.length - r.snapshots[1].at >= 30), 5000, "ticks after the rejoin");

    for (const [i, r] of players.entries()) {
      assert.equal(r.oks[1].you.role, "player", `player ${i}: still a player after the rejoin`);
      assert.equal(r.oks[1].you.seat, r.oks[0].you.seat, `player ${i}: the same seat in the rejoin reply`);
      assert.equal(r.oks[1].config.game, game, `player ${i}: config.game after the rejoin`);
      const snap = r.snapshots[1].snap;
      assert.notEqual(snap.phase, "waiting", `player ${i}: the match goes on (phase ${snap.phase})`);
      assert.deepEqual(snap.players.map((p) => [p.seat, p.id]).sort(), seated, `player ${i}: the same seats in the new snapshot`);
      const after = r.ticks.slice(r.snapshots[1].at);
      assert.equal(after[0], snap.tick + 1, `player ${i}: the first tick after the rejoin follows the snapshot (${snap.tick})`);
      assertConsecutive(after, `player ${i} after the rejoin`);
      assert.equal(r.errors.length, 1, `player ${i}: a single onError, got ${JSON.stringify(r.errors)}`);
      assert.deepEqual(r.problems, [], `player ${i}: frames that did not decode`);
    }
    if (game === "bumper") {
      // Its clock ends the resumed match within seconds, for both seats.
      await waitFor(() => players.every((r) => r.matchEnd()), 20000, "match_end after the restart");
      const end = players[0].matchEnd();
      assert.deepEqual(end.standings.map((s) => [s.seat, s.id]).sort(), seated, `standings after the restart: ${JSON.stringify(end)}`);
      assert.equal(end.forfeit, false, `not a forfeit: ${JSON.stringify(end)}`);
    }
  });
}
