// src/games/index.ts: the room and replay pages pick a game's views by the join reply's
// `config.game`; a config that names none is Curve's (servers older than the second
// game), and a game this client does not know has no views (the page says so).

import { test } from "node:test";
import assert from "node:assert/strict";
import { loadTs } from "./ts.mjs";

const { DEFAULT_GAME, gameOf, knownGames, viewsFor } = await loadTs("games/index.ts");

test("a config without a game is Curve", () => {
  assert.equal(DEFAULT_GAME, "curve");
  for (const config of [undefined, null, {}, { game: null }, { game: "" }, { tick_hz: 60, arena: { w: 1, h: 1 } }]) {
    assert.equal(gameOf(config), "curve", JSON.stringify(config));
    assert.equal(viewsFor(config)?.id, "curve", JSON.stringify(config));
  }
});

test("the game a config names picks that game's views", () => {
  assert.equal(viewsFor({ game: "curve" }).id, "curve");
  const b = viewsFor({ game: "bumper", disc_r: 640 });
  assert.equal(b.id, "bumper");
  assert.equal(b.name, "Bumper");
  assert.equal(typeof b.room, "function");
  assert.equal(typeof b.replay, "function");
});

test("a game this client does not know has no views", () => {
  assert.equal(viewsFor({ game: "chess" }), null);
  assert.equal(viewsFor({ game: 7 })?.id, "curve", "a game that is no string is none");
});

test("the known games are Curve first, then Bumper", () => {
  assert.deepEqual(knownGames(), ["curve", "bumper"]);
});
