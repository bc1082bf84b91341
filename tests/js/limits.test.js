// CONTRACT §8: every budget refused over real HTTP and sockets with its exact error, the
// refusal counted in /metrics, `--limits off` lifting the per-address ones, and a
// flooding client leaving a bystander alone.
//
// The server trusts 127.0.0.1 as a proxy, so each test picks its own client address with
// X-Forwarded-For and budgets of one test do not leak into another.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServer, post, get, guest, connect, join, push, disconnectAll, rawSocket, rawJoin, upgrade, within,
} from "./harness.js";

let srv;
before(async () => {
  srv = await startServer({ env: { KURVE_LIMITS: "on" }, args: ["--trusted-proxy", "127.0.0.1"] });
});
after(async () => {
  await srv?.stop();
});

let address = 0;
/** A fresh client address for one test. */
function freshAddress() {
  address += 1;
  return `198.51.100.${address}`;
}

/** The value of kurve_limit_refusals_total{kind} (0 when absent). */
async function refusals(http, kind) {
  const { text } = await get(http, "/metrics");
  const line = text.split("\n").find((l) => l.startsWith(`kurve_limit_refusals_total{kind="${kind}"}`));
  return line ? Number(line.split(" ").pop()) : 0;
}

let names = 0;
function uniqueName(prefix) {
  names += 1;
  return `${prefix}${names}`;
}

async function guestFrom(http, name, from) {
  const { status, body } = await post(http, "/api/guest", { name }, { "x-forwarded-for": from });
  if (status !== 200) throw new Error(`guest sign-in failed: ${status} ${JSON.stringify(body)}`);
  return body;
}

async function postWithHeaders(http, route, body, headers) {
  const res = await fetch(http + route, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

test("guest sign-ins: 30 a minute per address, then 429 rate_limited with Retry-After", async () => {
  const from = freshAddress();
  const before = await refusals(srv.http, "guest_sign_ins_per_address");
  for (let i = 0; i < 30; i++) {
    const r = await postWithHeaders(srv.http, "/api/guest", { name: uniqueName("g") }, { "x-forwarded-for": from });
    assert.equal(r.status, 200, `expected sign-in ${i + 1} to pass, got ${JSON.stringify(r.body)}`);
  }
  const refused = await postWithHeaders(srv.http, "/api/guest", { name: uniqueName("g") }, { "x-forwarded-for": from });
  assert.equal(refused.status, 429);
  assert.equal(refused.body.error.code, "rate_limited");
  assert.ok(Number(refused.headers.get("retry-after")) >= 1, `expected Retry-After, got ${refused.headers.get("retry-after")}`);
  assert.equal(await refusals(srv.http, "guest_sign_ins_per_address"), before + 1, "the refusal is counted");
  const other = await postWithHeaders(srv.http, "/api/guest", { name: uniqueName("g") }, { "x-forwarded-for": freshAddress() });
  assert.equal(other.status, 200, "another address has its own budget");
});

test("failed logins: the lock is per (name, address); the owner's right password from a clean address still signs in", async () => {
  const name = uniqueName("victim");
  const reg = await postWithHeaders(srv.http, "/api/register", { name, password: "right password" }, { "x-forwarded-for": freshAddress() });
  assert.equal(reg.status, 201);
  const guesser = freshAddress();
  for (let i = 0; i < 5; i++) {
    const r = await postWithHeaders(srv.http, "/api/login", { name, password: "wrong password" }, { "x-forwarded-for": guesser });
    assert.equal(r.status, 401, `expected failure ${i + 1} to be 401, got ${JSON.stringify(r.body)}`);
  }
  const before = await refusals(srv.http, "failed_logins_per_name_address");
  const locked = await postWithHeaders(srv.http, "/api/login", { name: name.toUpperCase(), password: "right password" }, { "x-forwarded-for": guesser });
  assert.equal(locked.status, 429, `expected the guesser's address locked for the name, got ${locked.status} ${JSON.stringify(locked.body)}`);
  assert.equal(locked.body.error.code, "rate_limited");
  assert.ok(Number(locked.headers.get("retry-after")) >= 1);
  assert.equal(await refusals(srv.http, "failed_logins_per_name_address"), before + 1, "the refusal is counted");
  const owner = await postWithHeaders(srv.http, "/api/login", { name, password: "right password" }, { "x-forwarded-for": freshAddress() });
  assert.equal(owner.status, 200, `expected the owner's right password from a clean address to sign in, got ${owner.status} ${JSON.stringify(owner.body)}`);
  const stillLocked = await postWithHeaders(srv.http, "/api/login", { name, password: "right password" }, { "x-forwarded-for": guesser });
  assert.equal(stillLocked.status, 429, "the guesser's address stays locked");
});

test("failed logins: 5 a minute per name across addresses; then an address with failures of its own is refused", async () => {
  const name = uniqueName("spread");
  const reg = await postWithHeaders(srv.http, "/api/register", { name, password: "right password" }, { "x-forwarded-for": freshAddress() });
  assert.equal(reg.status, 201);
  const spread = [freshAddress(), freshAddress()];
  for (let i = 0; i < 5; i++) {
    const r = await postWithHeaders(srv.http, "/api/login", { name, password: "wrong password" }, { "x-forwarded-for": spread[i % 2] });
    assert.equal(r.status, 401, `expected failure ${i + 1} to be 401`);
  }
  const before = await refusals(srv.http, "failed_logins_per_name");
  const refused = await postWithHeaders(srv.http, "/api/login", { name, password: "wrong password" }, { "x-forwarded-for": spread[0] });
  assert.equal(refused.status, 429, `expected 429, got ${refused.status} ${JSON.stringify(refused.body)}`);
  assert.equal(refused.body.error.code, "rate_limited");
  assert.equal(await refusals(srv.http, "failed_logins_per_name"), before + 1);
});

test("failed logins: 20 a minute per address, whatever the names; successes do not count", async () => {
  const from = freshAddress();
  const name = uniqueName("owner");
  const reg = await postWithHeaders(srv.http, "/api/register", { name, password: "right password" }, { "x-forwarded-for": freshAddress() });
  assert.equal(reg.status, 201);
  for (let i = 0; i < 10; i++) {
    const ok = await postWithHeaders(srv.http, "/api/login", { name, password: "right password" }, { "x-forwarded-for": from });
    assert.equal(ok.status, 200, "a right password is not a failure");
  }
  for (let i = 0; i < 20; i++) {
    const r = await postWithHeaders(srv.http, "/api/login", { name: uniqueName("nobody"), password: "whatever1" }, { "x-forwarded-for": from });
    assert.equal(r.status, 401, `expected failure ${i + 1} to be 401`);
  }
  const before = await refusals(srv.http, "failed_logins_per_address");
  const refused = await postWithHeaders(srv.http, "/api/login", { name, password: "right password" }, { "x-forwarded-for": from });
  assert.equal(refused.status, 429);
  assert.equal(refused.body.error.code, "rate_limited");
  assert.equal(await refusals(srv.http, "failed_logins_per_address"), before + 1);
  const elsewhere = await postWithHeaders(srv.http, "/api/login", { name, password: "right password" }, { "x-forwarded-for": freshAddress() });
  assert.equal(elsewhere.status, 200, "the account still signs in from elsewhere");
});

test("X-Forwarded-For from an untrusted peer is ignored", async () => {
  const other = await startServer({ env: { KURVE_LIMITS: "on" } });
  try {
    for (let i = 0; i < 30; i++) {
      const r = await postWithHeaders(other.http, "/api/guest", { name: uniqueName("u") }, { "x-forwarded-for": `203.0.113.${i}` });
      assert.equal(r.status, 200);
    }
    const refused = await postWithHeaders(other.http, "/api/guest", { name: uniqueName("u") }, { "x-forwarded-for": "203.0.113.200" });
    assert.equal(refused.status, 429, "a client cannot pick a fresh address with the header");
  } finally {
    await other.stop();
  }
});

test("sockets: 200 per address, the 201st upgrade gets 403; closing one frees a slot", async () => {
  const from = freshAddress();
  const g = await guestFrom(srv.http, uniqueName("s"), from);
  const headers = { "x-forwarded-for": from };
  const sockets = [];
  try {
    for (let i = 0; i < 200; i++) sockets.push(rawSocket(srv.url, { token: g.token, headers }));
    const opened = await Promise.all(sockets);
    const before = await refusals(srv.http, "sockets_per_address");
    const refused = await upgrade(srv.url, { token: g.token, vsn: "2.0.0" }, undefined, 5000, headers);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, "forbidden");
    assert.equal(await refusals(srv.http, "sockets_per_address"), before + 1);
    const elsewhere = await upgrade(srv.url, { token: g.token, vsn: "2.0.0" }, undefined, 5000, { "x-forwarded-for": freshAddress() });
    assert.equal(elsewhere.status, 101, "another address is not affected");
    opened[0].close();
    await opened[0].closed;
    let reopened;
    for (let attempt = 0; attempt < 50 && reopened?.status !== 101; attempt++) {
      reopened = await upgrade(srv.url, { token: g.token, vsn: "2.0.0" }, undefined, 5000, headers);
    }
    assert.equal(reopened.status, 101, "a closed socket gives its slot back");
  } finally {
    for (const s of await Promise.allSettled(sockets)) if (s.status === "fulfilled") s.value.close();
  }
});

test("lobby joins: 10 a second per socket, then rate_limited", async (t) => {
  const g = await guestFrom(srv.http, uniqueName("j"), freshAddress());
  const r = await rawSocket(srv.url, { token: g.token });
  t.after(() => r.close());
  const before = await refusals(srv.http, "joins_per_socket");
  for (let i = 0; i < 11; i++) r.send([`j${i}`, `j${i}`, `lobby:burst${i}`, "phx_join", {}]);
  for (let i = 0; i < 10; i++) {
    const reply = await r.reply(`j${i}`);
    assert.equal(reply[4].status, "ok", `expected join ${i} ok, got ${JSON.stringify(reply)}`);
  }
  assert.deepEqual(await r.reply("j10"), ["j10", "j10", "lobby:burst10", "phx_reply", { status: "error", response: { reason: "rate_limited" } }]);
  assert.equal(await refusals(srv.http, "joins_per_socket"), before + 1);
});

test("channels: 16 per socket, then too_many_channels; a duplicate join is a replacement", async (t) => {
  const roomy = await startServer({ args: ["--max-joins-per-socket", "1000"] });
  t.after(() => roomy.stop());
  const g = await guest(roomy.http, uniqueName("c"));
  const r = await rawSocket(roomy.url, { token: g.token });
  t.after(() => r.close());
  for (let i = 0; i < 16; i++) r.send([`j${i}`, `j${i}`, `lobby:many${i}`, "phx_join", {}]);
  for (let i = 0; i < 16; i++) {
    const reply = await r.reply(`j${i}`, 10000);
    assert.equal(reply[4].status, "ok", `expected join ${i} ok, got ${JSON.stringify(reply)}`);
  }
  r.send(["j16", "j16", "lobby:many16", "phx_join", {}]);
  assert.deepEqual(await r.reply("j16"), ["j16", "j16", "lobby:many16", "phx_reply", { status: "error", response: { reason: "too_many_channels" } }]);
  assert.equal(await refusals(roomy.http, "channels_per_socket"), 1);
  r.send(["k0", "k0", "lobby:many0", "phx_join", {}]);
  assert.equal((await r.reply("k0"))[4].status, "ok", "re-joining a joined topic is not a 17th channel");
});

test("rooms: 3 open per user (over any number of sockets), then too_many_rooms", async (t) => {
  const g = await guestFrom(srv.http, uniqueName("r"), freshAddress());
  const a = connect(srv.url, g.token);
  const b = connect(srv.url, g.token);
  t.after(() => disconnectAll(a, b));
  const lobbyA = (await join(a, "lobby:main")).channel;
  const lobbyB = (await join(b, "lobby:main")).channel;
  for (let i = 0; i < 3; i++) {
    const reply = await push(i % 2 ? lobbyA : lobbyB, "create_room", { name: `mine ${i}` });
    assert.ok(reply.response?.room_id, `expected room ${i} created, got ${JSON.stringify(reply)}`);
  }
  const before = await refusals(srv.http, "rooms_per_user");
  assert.deepEqual(await push(lobbyA, "create_room", { name: "one too many" }), {
    status: "error",
    response: { reason: "too_many_rooms" },
  });
  assert.equal(await refusals(srv.http, "rooms_per_user"), before + 1);
  const someoneElse = await guestFrom(srv.http, uniqueName("r"), freshAddress());
  const c = connect(srv.url, someoneElse.token);
  t.after(() => disconnectAll(c));
  const lobbyC = (await join(c, "lobby:main")).channel;
  assert.ok((await push(lobbyC, "create_room", {})).response?.room_id, "another user is not affected");
});

test("room passwords: 5 wrong a minute per (room, user) and per address, across sockets; then rate_limited, even for the right one", async (t) => {
  const owner = await guestFrom(srv.http, uniqueName("o"), freshAddress());
  const os = connect(srv.url, owner.token);
  t.after(() => disconnectAll(os));
  const lobby = (await join(os, "lobby:main")).channel;
  const { response: { room_id } } = await push(lobby, "create_room", { private: true, password: "sesame" });

  const from = freshAddress();
  const headers = { "x-forwarded-for": from };
  const guesser = await guestFrom(srv.http, uniqueName("p"), from);
  const before = await refusals(srv.http, "wrong_room_passwords");
  for (let i = 0; i < 5; i++) {
    // A fresh socket for every guess: reconnecting must not buy a fresh budget.
    const r = await rawSocket(srv.url, { token: guesser.token, headers });
    const reply = await rawJoin(r, `room:${room_id}`, `p${i}`, { as: "spectator", password: `guess${i}` });
    r.close();
    assert.deepEqual(reply[4], { status: "error", response: { reason: "wrong_password" } });
  }
  const again = await rawSocket(srv.url, { token: guesser.token, headers });
  t.after(() => again.close());
  const refused = await rawJoin(again, `room:${room_id}`, "p5", { as: "spectator", password: "sesame" });
  assert.deepEqual(refused[4], { status: "error", response: { reason: "rate_limited" } },
    "expected the user's budget for the room to hold on a fresh socket, before the password is looked at");
  assert.equal(await refusals(srv.http, "wrong_room_passwords"), before + 1, "the refusal is counted");

  const neighbour = await guestFrom(srv.http, uniqueName("n"), from);
  const ns = await rawSocket(srv.url, { token: neighbour.token, headers });
  t.after(() => ns.close());
  const byAddress = await rawJoin(ns, `room:${room_id}`, "n1", { as: "spectator", password: "sesame" });
  assert.deepEqual(byAddress[4], { status: "error", response: { reason: "rate_limited" } },
    "expected another user from the same address to share the address's budget");

  const elsewhere = await guestFrom(srv.http, uniqueName("e"), freshAddress());
  const es = connect(srv.url, elsewhere.token);
  t.after(() => disconnectAll(es));
  await join(es, `room:${room_id}`, { as: "spectator", password: "sesame" });
});

test("--limits off lifts the per-address budgets, not the per-socket ones", async (t) => {
  const off = await startServer({ env: { KURVE_LIMITS: "off" } });
  t.after(() => off.stop());
  for (let i = 0; i < 40; i++) {
    const r = await post(off.http, "/api/guest", { name: uniqueName("off") });
    assert.equal(r.status, 200, `expected guest ${i + 1} to pass with limits off`);
  }
  const g = await guest(off.http, uniqueName("off"));
  const r = await rawSocket(off.url, { token: g.token });
  t.after(() => r.close());
  for (let i = 0; i < 11; i++) r.send([`j${i}`, `j${i}`, `lobby:off${i}`, "phx_join", {}]);
  assert.equal((await r.reply("j10"))[4].response.reason, "rate_limited", "per-socket budgets still hold");
});

test("a socket flooding create_room and joins does not disturb a bystander's lobby", async (t) => {
  const bystander = await guestFrom(srv.http, uniqueName("b"), freshAddress());
  const bs = connect(srv.url, bystander.token);
  t.after(() => disconnectAll(bs));
  const { channel } = await join(bs, "lobby:main");
  const seen = [];
  for (const ev of ["room_added", "room_updated", "room_removed"]) channel.on(ev, (p) => seen.push([ev, p.id]));

  const flooder = await guestFrom(srv.http, uniqueName("f"), freshAddress());
  const f = await rawSocket(srv.url, { token: flooder.token });
  t.after(() => f.close());
  await rawJoin(f, "lobby:main", "fl");
  for (let i = 0; i < 2000; i++) f.send(["fl", `c${i}`, "lobby:main", "create_room", { name: `flood ${i}` }]);
  const last = await f.reply("c1999", 10000);
  assert.equal(last[4].response.reason, "rate_limited");

  // The bystander is still connected and served: its chat goes round.
  const reply = await push(channel, "chat", { body: "still here" });
  assert.deepEqual(reply, { status: "ok", response: {} });
  assert.equal(bs.isConnected(), true);
  const added = seen.filter(([ev]) => ev === "room_added").length;
  assert.ok(added <= 3, `expected at most the flooder's 3 rooms announced, got ${added}`);
});

test("lobbies: one address keeps at most 10 new lobbies running, then too_many_lobbies; joining running ones is fine", async (t) => {
  const from = freshAddress();
  const g = await guestFrom(srv.http, uniqueName("l"), from);
  const headers = { "x-forwarded-for": from };
  const a = await rawSocket(srv.url, { token: g.token, headers });
  const b = await rawSocket(srv.url, { token: g.token, headers });
  t.after(() => { a.close(); b.close(); });
  const prefix = `own${address}x`;
  for (let i = 0; i < 6; i++) a.send([`a${i}`, `a${i}`, `lobby:${prefix}${i}`, "phx_join", {}]);
  for (let i = 6; i < 10; i++) b.send([`b${i}`, `b${i}`, `lobby:${prefix}${i}`, "phx_join", {}]);
  for (let i = 0; i < 6; i++) assert.equal((await a.reply(`a${i}`))[4].status, "ok");
  for (let i = 6; i < 10; i++) assert.equal((await b.reply(`b${i}`))[4].status, "ok");
  const before = await refusals(srv.http, "lobbies_per_address");
  b.send(["b10", "b10", `lobby:${prefix}10`, "phx_join", {}]);
  assert.deepEqual((await b.reply("b10"))[4], { status: "error", response: { reason: "too_many_lobbies" } });
  assert.equal(await refusals(srv.http, "lobbies_per_address"), before + 1);
  b.send(["b11", "b11", `lobby:${prefix}0`, "phx_join", {}]);
  assert.equal((await b.reply("b11"))[4].status, "ok", "a lobby already running can be joined");
  b.send(["b12", "b12", "lobby:main", "phx_join", {}]);
  assert.equal((await b.reply("b12"))[4].status, "ok", "lobby:main never counts");

  const other = await guestFrom(srv.http, uniqueName("l"), freshAddress());
  const c = await rawSocket(srv.url, { token: other.token, headers: { "x-forwarded-for": `198.51.100.${address + 100}` } });
  t.after(() => c.close());
  c.send(["c0", "c0", `lobby:${prefix}new`, "phx_join", {}]);
  assert.equal((await c.reply("c0"))[4].status, "ok", "another address starts its own");
});
