// Acknowledged writes survive kill -9: a server on a SQLite file is killed while
// registrations stream in and right after a match result is visible, then restarted on
// the same file. Every registration answered 201 signs in, and the match is still on the
// leaderboard.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startServer, post, get, connect, join, push, disconnectAll, within } from "./harness.js";

async function register(http, name) {
  return post(http, "/api/register", { name, password: "durable password" });
}

async function leaderboard(http) {
  const { status, text } = await get(http, "/api/leaderboard");
  assert.equal(status, 200);
  return JSON.parse(text).players;
}

/** Joins a seat and readies; resolves to { ended }, which resolves at match_end. */
function playUntilMatchEnd(socket, roomId, turn) {
  const channel = socket.channel(`room:${roomId}`, { as: "player" });
  const ended = new Promise((resolve) => channel.on("match_end", resolve));
  for (const ev of ["phase", "round_start"]) channel.on(ev, () => channel.push("input", { turn }));
  return new Promise((resolve, reject) => {
    channel
      .join()
      .receive("ok", () => {
        channel.push("ready", {});
        resolve({ ended });
      })
      .receive("error", (r) => reject(new Error(`join refused: ${JSON.stringify(r)}`)));
  });
}

test("kill -9 during registrations and after a match: every acknowledged write is there after restart", { timeout: 240000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "kurve-durability-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = `sqlite://${path.join(dir, "kurve.db")}`;
  const args = ["--points-per-opponent", "1"];
  const env = { KURVE_SECRET: "a durability test secret of at least 32 bytes" };
  let srv = await startServer({ args, env, database: db });

  // Two registered players finish a match.
  const alice = await register(srv.http, "durable_alice");
  const bob = await register(srv.http, "durable_bob");
  assert.equal(alice.status, 201);
  assert.equal(bob.status, 201);
  const a = connect(srv.url, alice.body.token);
  const b = connect(srv.url, bob.body.token);
  const lobby = (await join(a, "lobby:main")).channel;
  const { response } = await push(lobby, "create_room", { max_players: 2 });
  const { ended: matchA } = await playUntilMatchEnd(a, response.room_id, 0);
  const { ended: matchB } = await playUntilMatchEnd(b, response.room_id, 1);

  // Registrations stream in while the match ends and its result is written.
  const acknowledged = [];
  let streaming = true;
  const stream = (async () => {
    for (let i = 0; streaming; i += 8) {
      const batch = await Promise.allSettled(
        Array.from({ length: 8 }, (_, k) => register(srv.http, `durable_${i + k}`)),
      );
      for (const [k, r] of batch.entries()) {
        if (r.status === "fulfilled" && r.value.status === 201) acknowledged.push(`durable_${i + k}`);
      }
    }
  })();
  await within(Promise.all([matchA, matchB]), 180000, "the match to end");
  let onBoard;
  for (let tries = 0; tries < 100 && !onBoard; tries++) {
    onBoard = (await leaderboard(srv.http)).find((p) => p.name === "durable_alice" && p.matches === 1);
    if (!onBoard) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(onBoard, "the match result is visible before the kill");
  while (acknowledged.length < 20) await new Promise((r) => setTimeout(r, 20));

  srv.proc.kill("SIGKILL");
  streaming = false;
  await stream;
  await disconnectAll(a, b);
  assert.ok(acknowledged.length >= 20, `registrations were acknowledged before the kill (${acknowledged.length})`);

  srv = await startServer({ args, env, database: db });
  t.after(() => srv.stop());
  const board = await leaderboard(srv.http);
  for (const name of ["durable_alice", "durable_bob"]) {
    const row = board.find((p) => p.name === name);
    assert.equal(row?.matches, 1, `${name}'s match survived the kill: ${JSON.stringify(board)}`);
  }
  for (const name of acknowledged) {
    const login = await post(srv.http, "/api/login", { name, password: "durable password" });
    assert.equal(login.status, 200, `${name} was acknowledged (201) before the kill and must sign in after it`);
  }
});
