// HTTP sign-in (CONTRACT §2) and socket authentication (CONTRACT §3, PHOENIX_PROTOCOL §1).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  startServer, post, guest, get, connect, join, upgrade, within, disconnectAll, Socket, WebSocket,
} from "./harness.js";

// A known secret lets the test sign its own tokens (expired, or signed with another key).
const SECRET = "kurve-js-test-secret-0123456789abcdef";
let srv;

before(async () => {
  srv = await startServer({ env: { KURVE_SECRET: SECRET } });
});
after(async () => {
  await srv?.stop();
});

/** Asserts the contract's error shape and code. */
function assertError(res, status, code, what) {
  assert.equal(res.status, status, `${what}: expected HTTP ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(typeof res.body, "object", `${what}: expected a JSON error body, got ${JSON.stringify(res.body)}`);
  assert.equal(typeof res.body.error?.message, "string", `${what}: expected error.message to be a string in ${JSON.stringify(res.body)}`);
  if (code) assert.equal(res.body.error.code, code, `${what}: expected error.code ${code} in ${JSON.stringify(res.body)}`);
  else assert.match(res.body.error?.code ?? "", /^[a-z][a-z0-9_]*$/, `${what}: expected a snake_case error.code in ${JSON.stringify(res.body)}`);
}

/** HS256 JWT with the server's claim names (sub, name, guest, iat, exp). */
function signToken(claims, secret = SECRET) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const head = `${b64({ typ: "JWT", alg: "HS256" })}.${b64(claims)}`;
  return `${head}.${createHmac("sha256", secret).update(head).digest("base64url")}`;
}

function btoaNoPad(s) {
  return Buffer.from(s, "binary").toString("base64").replace(/=+$/, "");
}

test("POST /api/guest returns a token and a guest user", async () => {
  const res = await post(srv.http, "/api/guest", { name: "  Gail  " });
  assert.equal(res.status, 200, `expected 200, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(typeof res.body.token, "string", "expected a string token");
  assert.equal(res.body.user.guest, true, "expected guest: true");
  assert.equal(res.body.user.name, "Gail", "expected the name trimmed");
  assert.equal(typeof res.body.user.id, "string", "expected a string user id");
});

test("POST /api/guest refuses invalid names with 422 invalid_name", async () => {
  for (const name of ["", "   ", "x".repeat(25), "bad!name", "semi;colon"]) {
    assertError(await post(srv.http, "/api/guest", { name }), 422, "invalid_name", `guest name ${JSON.stringify(name)}`);
  }
  // 24 characters and the allowed punctuation are fine.
  const ok = await post(srv.http, "/api/guest", { name: "a_b-c.d 123456789012345" });
  assert.equal(ok.status, 200, `expected a 24-char name with _-. and space to be accepted, got ${ok.status} ${JSON.stringify(ok.body)}`);
});

test("malformed JSON bodies get 400 in the error shape", async () => {
  assertError(await post(srv.http, "/api/guest", "{not json"), 400, null, "guest with broken JSON");
  assertError(await post(srv.http, "/api/register", "[1,2"), 400, null, "register with broken JSON");
  assertError(await post(srv.http, "/api/login", "nope"), 400, null, "login with broken JSON");
});

test("register, duplicate (case-insensitive), login, wrong credentials", async () => {
  const reg = await post(srv.http, "/api/register", { name: "Regina", password: "correct horse" });
  assert.equal(reg.status, 201, `expected 201 on register, got ${reg.status} ${JSON.stringify(reg.body)}`);
  assert.equal(reg.body.user.guest, false, "expected guest: false for a registered account");
  assert.equal(reg.body.user.name, "Regina", "expected the registered name back");
  assert.equal(typeof reg.body.token, "string", "expected a token on register");

  assertError(await post(srv.http, "/api/register", { name: "regina", password: "another pass" }), 409, "name_taken", "duplicate name in other case");
  assertError(await post(srv.http, "/api/register", { name: "bad/name", password: "long enough" }), 422, "invalid_name", "register with invalid name");
  const weak = await post(srv.http, "/api/register", { name: "Weakling", password: "short" });
  assertError(weak, 422, null, "register with a 5-char password");

  const login = await post(srv.http, "/api/login", { name: "REGINA", password: "correct horse" });
  assert.equal(login.status, 200, `expected 200 on login, got ${login.status} ${JSON.stringify(login.body)}`);
  assert.deepEqual(login.body.user, reg.body.user, "expected login to return the registered user");
  assert.equal(typeof login.body.token, "string", "expected a token on login");

  assertError(await post(srv.http, "/api/login", { name: "Regina", password: "wrong horse" }), 401, "invalid_credentials", "wrong password");
  assertError(await post(srv.http, "/api/login", { name: "Nobody", password: "whatever1" }), 401, "invalid_credentials", "unknown name");
});

test("GET /api/me with a bearer token; missing or forged token is 401", async () => {
  const g = await guest(srv.http, "Meg");
  const me = await get(srv.http, "/api/me", { authorization: `Bearer ${g.token}` });
  assert.equal(me.status, 200, `expected 200 from /api/me, got ${me.status} ${me.text}`);
  assert.deepEqual(JSON.parse(me.text), { user: g.user }, "expected /api/me to return the signed-in user");

  for (const [what, headers] of [
    ["no Authorization header", {}],
    ["garbage token", { authorization: "Bearer not-a-token" }],
    ["token signed with another secret", { authorization: `Bearer ${signToken({ sub: g.user.id, name: "Meg", guest: true, iat: 1, exp: 4102444800 }, "some other secret of enough length!!")}` }],
  ]) {
    const res = await get(srv.http, "/api/me", headers);
    let body;
    try {
      body = JSON.parse(res.text);
    } catch {
      body = res.text;
    }
    assertError({ status: res.status, body }, 401, null, `/api/me with ${what}`);
  }
});

test("a good token connects the official client and joins lobby:main", async (t) => {
  const g = await guest(srv.http, "Sockette");
  const socket = connect(srv.url, g.token);
  t.after(() => disconnectAll(socket));
  const { reply } = await within(join(socket, "lobby:main"), 5000, "join lobby:main");
  assert.ok(Array.isArray(reply.rooms), `expected {rooms: [...]} in the join reply, got ${JSON.stringify(reply)}`);
});

test("a token the test signed with the server's secret is accepted (control for the expired case)", async () => {
  const now = Math.floor(Date.now() / 1000);
  const token = signToken({ sub: "gSelfSigned01", name: "Selfie", guest: true, iat: now, exp: now + 3600 });
  const res = await upgrade(srv.url, { token, vsn: "2.0.0" });
  assert.equal(res.status, 101, `expected the upgrade to succeed, got ${JSON.stringify(res)}`);
});

test("missing, forged or expired token: the upgrade gets HTTP 403", async () => {
  const g = await guest(srv.http, "Forger");
  const now = Math.floor(Date.now() / 1000);
  const cases = [
    ["missing token", { vsn: "2.0.0" }],
    ["empty token", { vsn: "2.0.0", token: "" }],
    ["garbage token", { vsn: "2.0.0", token: "garbage" }],
    ["tampered token", { vsn: "2.0.0", token: g.token.slice(0, -3) + (g.token.endsWith("AAA") ? "BBB" : "AAA") }],
    ["token signed with another secret", { vsn: "2.0.0", token: signToken({ sub: g.user.id, name: "Forger", guest: true, iat: now, exp: now + 3600 }, "not the server secret, 32+ bytes long") }],
    ["expired token", { vsn: "2.0.0", token: signToken({ sub: "gExpired00001", name: "Old", guest: true, iat: now - 7200, exp: now - 3600 }) }],
  ];
  for (const [what, query] of cases) {
    const res = await upgrade(srv.url, query);
    assert.equal(res.status, 403, `${what}: expected HTTP 403 on the upgrade, got ${JSON.stringify(res)}`);
  }
});

test("with a forged token the official Socket fires onError and never joins", async (t) => {
  const socket = new Socket(`${srv.url}/socket`, {
    transport: WebSocket,
    params: { token: "forged.token.value" },
    reconnectAfterMs: () => 60000, // one attempt is enough; disconnect clears the timer
    rejoinAfterMs: () => 60000,
  });
  t.after(() => disconnectAll(socket));
  const errored = new Promise((resolve) => socket.onError((e) => resolve(e)));
  let joined = false;
  const channel = socket.channel("lobby:main", {});
  channel.join().receive("ok", () => (joined = true));
  socket.connect();
  await within(errored, 5000, "socket onError after a refused upgrade");
  assert.equal(joined, false, "expected no join ok over a refused socket");
  assert.notEqual(channel.state, "joined", `expected the channel not joined, state is ${channel.state}`);
  assert.equal(socket.isConnected(), false, "expected the socket not connected");
  channel.leave();
});

test("authToken option (Sec-WebSocket-Protocol) connects, joins, and the server selects `phoenix`", async (t) => {
  // The official client sends btoa(token) in a subprotocol; standard base64 may contain
  // "/", which WebSocket implementations (ws included) refuse in a subprotocol value
  // (PHOENIX_PROTOCOL §9). Sign in until a token encodes without "/" so the test is
  // about the server, not that client limitation.
  let g;
  for (let i = 0; i < 200; i++) {
    const candidate = await guest(srv.http, `Authy${i}`);
    if (!btoaNoPad(candidate.token).includes("/")) {
      g = candidate;
      break;
    }
  }
  assert.ok(g, "expected some guest token whose base64 has no '/'");

  const raw = await upgrade(srv.url, { vsn: "2.0.0" }, ["phoenix", `base64url.bearer.phx.${btoaNoPad(g.token)}`]);
  assert.equal(raw.status, 101, `expected the upgrade with an authToken subprotocol to succeed, got ${JSON.stringify(raw)}`);
  assert.equal(raw.protocol, "phoenix", `expected the server to select subprotocol "phoenix", got ${JSON.stringify(raw.protocol)}`);

  const socket = new Socket(`${srv.url}/socket`, {
    transport: WebSocket,
    authToken: g.token,
    reconnectAfterMs: () => 50,
    rejoinAfterMs: () => 100,
  });
  t.after(() => disconnectAll(socket));
  socket.connect();
  const { reply } = await within(join(socket, "lobby:main"), 5000, "join lobby:main with authToken");
  assert.ok(Array.isArray(reply.rooms), `expected {rooms: [...]}, got ${JSON.stringify(reply)}`);
  assert.equal(socket.conn.protocol, "phoenix", `expected the official client's socket to use subprotocol "phoenix", got ${socket.conn.protocol}`);
});

test("serializer versions: 2.0.0 and 1.0.0 upgrade, 3.0.0 gets 403", async () => {
  const g = await guest(srv.http, "Versioned");
  const v2 = await upgrade(srv.url, { token: g.token, vsn: "2.0.0" });
  assert.equal(v2.status, 101, `expected vsn=2.0.0 to upgrade, got ${JSON.stringify(v2)}`);
  const v1 = await upgrade(srv.url, { token: g.token, vsn: "1.0.0" });
  assert.equal(v1.status, 101, `expected vsn=1.0.0 to upgrade, got ${JSON.stringify(v1)}`);
  const v3 = await upgrade(srv.url, { token: g.token, vsn: "3.0.0" });
  assert.equal(v3.status, 403, `expected vsn=3.0.0 to get 403, got ${JSON.stringify(v3)}`);
});
