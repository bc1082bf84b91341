// CONTRACT §7: the operator's topic admin:stats and page /admin, through the official
// client. They exist only with KURVE_ADMIN_TOKEN; only a socket that connects with that
// token may join; stats arrive every second; rooms lists every room; close_room closes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, guest, connect, join, push, waitFor, disconnectAll, within, get } from "./harness.js";

const ADMIN_TOKEN = "operator-token-for-tests-0123456789abcdef";
let srv;
before(async () => {
  srv = await startServer({ env: { KURVE_ADMIN_TOKEN: ADMIN_TOKEN } });
});
after(async () => {
  await srv?.stop();
});

test("admin:stats refuses players and serves the operator: stats every second, rooms, close_room", async (t) => {
  const g = await guest(srv.http, "Player");
  const player = connect(srv.url, g.token);
  const operator = connect(srv.url, ADMIN_TOKEN);
  t.after(() => disconnectAll(player, operator));

  await assert.rejects(join(player, "admin:stats"), (e) => e.reply?.reason === "unauthorized", "a player is refused");

  const stats = [];
  const channel = operator.channel("admin:stats", {});
  channel.on("stats", (s) => stats.push(s));
  const reply = await within(
    new Promise((resolve, reject) => channel.join().receive("ok", resolve).receive("error", reject)),
    5000,
    "the operator's join",
  );
  assert.ok(Array.isArray(reply.history), "the join carries the history");
  await waitFor(() => stats.length >= 2, 5000, "two stats pushes");
  const s = stats[stats.length - 1];
  for (const key of ["sockets", "users", "lobbies", "rooms", "frames_per_s", "bytes_per_s", "tick_lateness_ms", "slow_drops", "restarts"]) {
    assert.ok(key in s, `stats has ${key}: ${JSON.stringify(s)}`);
  }
  assert.ok(s.sockets >= 2, `the player's and the operator's sockets: ${s.sockets}`);
  assert.ok(s.users >= 1);
  assert.deepEqual(Object.keys(s.rooms).sort(), ["countdown", "finished", "playing", "waiting"]);
  assert.equal(typeof s.tick_lateness_ms.p99, "number");

  // A room with a player in it: listed with its tick, then closed by the operator.
  const lobby = await join(player, "lobby:main");
  const created = await push(lobby.channel, "create_room", { name: "doomed", max_players: 2 });
  const id = created.response.room_id;
  const room = player.channel(`room:${id}`, { as: "player" });
  let closed = 0;
  room.onClose(() => closed++);
  await within(new Promise((resolve, reject) => room.join().receive("ok", resolve).receive("error", reject)), 5000, "room join");
  const listed = await push(channel, "rooms", {});
  assert.equal(listed.status, "ok");
  const row = listed.response.rooms.find((r) => r.id === id);
  assert.ok(row, `the room is listed: ${JSON.stringify(listed.response)}`);
  assert.equal(row.name, "doomed");
  assert.deepEqual(row.players.map((p) => p.id), [g.user.id], "with its members");
  assert.equal(typeof row.tick, "number");

  assert.equal((await push(channel, "close_room", { id })).status, "ok");
  await waitFor(() => closed === 1, 5000, "phx_close on the player's channel");
  assert.equal(room.state, "closed", "the client does not rejoin a closed room");
  await waitFor(async () => {
    const after = await push(channel, "rooms", {});
    return !after.response.rooms.some((r) => r.id === id);
  }, 5000, "the room to be gone from the list");
  const again = await push(channel, "close_room", { id });
  assert.deepEqual(again, { status: "error", response: { reason: "not_found" } });
  // The page is the web client's (this suite may run before it is built: then the
  // server's "not built" placeholder stands in for it, never the plain 404).
  const page = await get(srv.http, "/admin");
  assert.ok(page.status === 200 || /not built/.test(page.text), `the operator page exists: ${page.status} ${page.text.slice(0, 80)}`);
});

test("the operator's socket stays out of lobby presence, and nobody may call itself operator", async (t) => {
  const operator = connect(srv.url, ADMIN_TOKEN);
  const g = await guest(srv.http, "Watcher");
  const player = connect(srv.url, g.token);
  t.after(() => disconnectAll(player, operator));
  await join(operator, "lobby:main");
  const { presence } = await join(player, "lobby:main");
  await waitFor(() => presence.keys().includes(g.user.id), 5000, "the player's own presence");
  const keys = presence.keys();
  assert.ok(!keys.includes("operator"), `expected the operator not listed: ${JSON.stringify(keys)}`);
  const names = presence.presence.list((id, { metas }) => metas[0].name);
  assert.ok(!names.includes("operator"), `expected no one listed as operator: ${JSON.stringify(names)}`);
  for (const name of ["operator", "OPERATOR", "Operator"]) {
    const r = await fetch(`${srv.http}/api/guest`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name }),
    });
    assert.equal(r.status, 422, `expected ${name} refused as a guest name`);
    assert.equal((await r.json()).error.code, "invalid_name");
  }
});

test("without KURVE_ADMIN_TOKEN there is no operator page and no admin topic; a short token is refused at start", async (t) => {
  const plain = await startServer();
  t.after(() => plain.stop());
  const page = await get(plain.http, "/admin");
  assert.equal(page.status, 404);
  assert.equal(page.text, "not found", "not the web client, not even its placeholder");
  const g = await guest(plain.http, "Nobody");
  const socket = connect(plain.url, g.token);
  t.after(() => disconnectAll(socket));
  await assert.rejects(join(socket, "admin:stats"), (e) => e.reply?.reason === "unmatched topic");
  await assert.rejects(
    startServer({ env: { KURVE_ADMIN_TOKEN: "short" } }),
    (e) => /KURVE_ADMIN_TOKEN must be at least 32 bytes/.test(e.message),
  );
});
