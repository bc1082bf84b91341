// src/games/curve/arena.ts, the client's reconstruction of a room (docs/PROTOCOL.md, "Room payloads"):
// the drawing rules of head moves (solid appends to the open polyline or starts one, gap
// and wrap close the pen), the events, the tick sequence, and — over a match played by
// the Rust simulation (`kurve-sim-trace`, as test/predict.test.mjs) — that every head is
// where the server has it, and that a snapshot taken at any tick plus the ticks after it
// gives the same arena as every tick from the start.

import { test } from "node:test";
import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import { simTrace } from "./helpers.mjs";
import { loadTs } from "./ts.mjs";

const { Arena, OutOfSequence, polylinePoints } = await loadTs("games/curve/arena.ts");
const { decodeSnapshot, decodeTick } = await loadTs("games/curve/wire.ts");

const CONFIG = { w: 800, h: 600, tick_hz: 60, pos_scale: 32, item_radius: 320 };

function player(seat, over = {}) {
  return {
    seat, id: `u${seat}`, name: `p${seat}`, color: `#00000${seat}`, score: 0, ready: true, connected: true,
    alive: true, x: 1000 * (seat + 1), y: 1000, heading: 0, radius: 96, gap: false, pen: false, ...over,
  };
}

function snapshot(over = {}) {
  return {
    tick: 100, phase: "playing", round: 1, phase_ends_at: null, target: 10, config: CONFIG,
    players: [player(0), player(1)], trails: [], items: [], effects: [], ...over,
  };
}

/** An arena with a listener that records what a renderer would hear. */
function arenaOf(s) {
  const heard = [];
  const a = new Arena(s, {
    reset: () => heard.push("reset"),
    segment: (seat, r, from, to) => heard.push({ seat, r, from: [...from], to: [...to] }),
  });
  heard.length = 0; // the constructor's own reset
  return { a, heard };
}

/** One tick after the arena's, with these head moves and events. */
const next = (a, heads = [], events = []) => ({ tick: a.tick + 1, heads, events });
const move = (s, x, y, d, h = 0) => ({ s, x, y, h, d });
const SOLID = 1;
const STILL = 0;
const GAP = 2;
const WRAP = 3;

test("polylines arrive delta-encoded: each point is the previous plus its pair", () => {
  assert.deepEqual(polylinePoints([100, 200, 10, -5, 0, 7]), [[100, 200], [110, 195], [110, 202]]);
  assert.deepEqual(polylinePoints([]), []);
  assert.deepEqual(polylinePoints([1, 2, 3]), [[1, 2]], "an odd last number is no point");
});

test("a snapshot's open pen is its player's last polyline: the next solid move extends it", () => {
  const { a, heard } = arenaOf(
    snapshot({
      players: [player(0, { x: 300, y: 400, pen: true }), player(1, { x: 50, y: 60 })],
      trails: [
        { seat: 0, r: 96, pts: [0, 0, 100, 100] },
        { seat: 1, r: 96, pts: [10, 10, 40, 50] },
        { seat: 0, r: 96, pts: [200, 300, 100, 100] },
      ],
    }),
  );
  assert.deepEqual(a.trails.map((t) => t.points), [[[0, 0], [100, 100]], [[10, 10], [50, 60]], [[200, 300], [300, 400]]]);
  a.applyTick(next(a, [move(0, 310, 400, SOLID)]));
  assert.equal(a.trails.length, 3, "no new polyline");
  assert.deepEqual(a.trails[2].points.at(-1), [310, 400], "the open one grew");
  assert.deepEqual(a.trails[0].points.length, 2, "the seat's older polyline is untouched");
  assert.deepEqual(heard, [{ seat: 0, r: 96, from: [300, 400], to: [310, 400] }]);
});

test("a solid move with the pen closed starts a polyline from the old head at the current radius", () => {
  const { a, heard } = arenaOf(snapshot());
  a.applyTick(next(a, [move(1, 2010, 1000, SOLID, 123)]));
  assert.deepEqual(a.trails, [{ seat: 1, r: 96, points: [[2000, 1000], [2010, 1000]] }]);
  const p = a.player(1);
  assert.deepEqual([p.pos, p.heading, p.open], [[2010, 1000], 123, 0]);
  a.applyTick(next(a, [move(1, 2020, 1000, SOLID)]));
  assert.deepEqual(a.trails[0].points, [[2000, 1000], [2010, 1000], [2020, 1000]], "then extends it");
  assert.equal(heard.length, 2, "a segment per solid move");
});

test("gap and wrap close the pen and draw nothing; still turns in place", () => {
  const { a, heard } = arenaOf(snapshot());
  a.applyTick(next(a, [move(0, 1010, 1000, SOLID), move(1, 2000, 1000, STILL, 999)]));
  assert.deepEqual(a.player(1).pos, [2000, 1000]);
  assert.equal(a.player(1).heading, 999, "the heading changes while still");
  a.applyTick(next(a, [move(0, 1020, 1000, GAP)]));
  assert.equal(a.player(0).open, null, "gap closes the pen");
  a.applyTick(next(a, [move(0, 1030, 1000, SOLID)]));
  assert.deepEqual(a.trails.map((t) => t.points), [[[1000, 1000], [1010, 1000]], [[1020, 1000], [1030, 1000]]]);
  a.applyTick(next(a, [move(0, 5, 1000, WRAP)]));
  a.applyTick(next(a, [move(0, 15, 1000, SOLID)]));
  assert.equal(a.trails.length, 3, "after a wrap the line starts anew on the other side");
  assert.deepEqual(a.trails[2].points, [[5, 1000], [15, 1000]], "no segment across the arena");
  assert.equal(heard.length, 3, "only solid moves drew");
});

test("heads move first, then events in order: a death and a radius change close the pen", () => {
  const { a } = arenaOf(snapshot());
  a.applyTick(next(a, [move(0, 1010, 1000, SOLID)], [{ type: "radius", seat: 0, r: 48 }]));
  a.applyTick(next(a, [move(0, 1020, 1000, SOLID)]));
  assert.deepEqual(a.trails.map((t) => [t.r, t.points.length]), [[96, 2], [48, 2]], "a thinner line starts after the change");
  a.applyTick(next(a, [move(0, 1030, 1000, SOLID)], [{ type: "death", seat: 0, cause: "wall", by: null }]));
  const p = a.player(0);
  assert.deepEqual([p.alive, p.open, p.pos], [false, null, [1030, 1000]], "dead where the last move put it");
  assert.deepEqual(a.trails[1].points.at(-1), [1030, 1000], "the move of the dying tick was drawn");
});

test("ticks must follow each other while a round runs; after waiting a jump is fine", () => {
  const { a } = arenaOf(snapshot());
  const before = a.fingerprint();
  assert.throws(
    () => a.applyTick({ tick: 102, heads: [move(0, 1, 1, SOLID)], events: [] }),
    (e) => e instanceof OutOfSequence && e.expected === 101 && e.got === 102,
  );
  assert.throws(() => a.applyTick({ tick: 100, heads: [], events: [] }), OutOfSequence, "a repeated tick");
  assert.equal(a.fingerprint(), before, "a refused tick changes nothing");
  const w = new Arena(snapshot({ phase: "waiting" }));
  w.applyTick({ tick: 5000, heads: [], events: [] });
  assert.equal(w.tick, 5000);
});

test("round_start seats the players afresh; phase waiting clears the board", () => {
  const { a, heard } = arenaOf(snapshot({ items: [{ id: 1, kind: "slow_self", x: 1, y: 1 }] }));
  a.applyTick(next(a, [move(0, 1010, 1000, SOLID)], [{ type: "death", seat: 1, cause: "trail", by: 0 }]));
  heard.length = 0;
  a.applyTick(
    next(a, [], [
      {
        type: "round_start", round: 2, target: 10,
        players: [
          { seat: 0, id: "u0", name: "p0", color: "", score: 4, x: 7, y: 8, heading: 9, radius: 96, connected: true },
          { seat: 2, id: "u2", name: "p2", color: "#abcdef", score: 0, x: 1, y: 2, heading: 3, radius: 96, connected: false },
        ],
      },
    ]),
  );
  assert.deepEqual([a.round, a.target, a.trails, a.items, a.effects], [2, 10, [], [], []]);
  assert.deepEqual(
    a.players.map((p) => [p.seat, p.color, p.alive, p.ready, p.open, p.pos, p.connected]),
    [
      [0, "#ff4136", true, true, null, [7, 8], true],
      [2, "#abcdef", true, true, null, [1, 2], false],
    ],
    "an empty colour is the seat's",
  );
  assert.deepEqual(heard, ["reset"]);
  a.applyTick(next(a, [move(0, 17, 8, SOLID)], [{ type: "phase", phase: "waiting", round: 2, ends_at: null }]));
  assert.deepEqual([a.phase, a.trails.length], ["waiting", 0]);
  assert.ok(a.players.every((p) => !p.ready && !p.alive && p.open === null), "nobody ready, alive or drawing");
});

test("items, effects, scores, connections and leaving players", () => {
  const { a, heard } = arenaOf(snapshot());
  const effect = { id: 5, kind: "wrap_all", by: 0, targets: [0, 1], ends_at: 400 };
  a.applyTick(next(a, [], [
    { type: "item_spawn", item: { id: 3, kind: "wrap_all", x: 10, y: 20 } },
    { type: "item_spawn", item: { id: 4, kind: "fat_others", x: 30, y: 40 } },
  ]));
  assert.deepEqual(a.items.map((i) => i.id), [3, 4]);
  assert.equal(a.wallsWrap(), false);
  a.applyTick(next(a, [], [{ type: "item_pickup", id: 3, seat: 0 }, { type: "effect_start", effect }]));
  assert.deepEqual(a.items.map((i) => i.id), [4]);
  assert.equal(a.wallsWrap(), true, "wrap_all makes the walls wrap");
  effect.targets.push(7);
  assert.deepEqual(a.effects[0].targets, [0, 1], "the arena keeps its own copy");
  a.applyTick(next(a, [], [
    { type: "effect_end", id: 5 },
    { type: "score", seat: 1, score: 6, delta: 1 },
    { type: "connection", seat: 0, connected: false },
    { type: "gap", seat: 1, on: true },
  ]));
  assert.equal(a.wallsWrap(), false);
  assert.deepEqual([a.player(1).score, a.player(0).connected, a.player(1).gap], [6, false, true]);
  a.applyTick(next(a, [], [{ type: "round_end", round: 1, winner: 1, scores: [{ seat: 0, score: 2 }, { seat: 1, score: 9 }] }]));
  assert.deepEqual(a.players.map((p) => p.score), [2, 9]);
  a.applyTick(next(a, [move(0, 1010, 1000, SOLID)], [{ type: "clear" }]));
  assert.deepEqual([a.trails.length, a.player(0).open], [0, null], "clear erases every trail and closes every pen");
  assert.equal(heard.at(-1), "reset");
  a.applyTick(next(a, [], [{ type: "left", seat: 0 }]));
  assert.deepEqual(a.players.map((p) => p.seat), [1]);
  assert.equal(a.player(0), undefined);
  a.applyTick(next(a, [move(0, 1, 1, SOLID)]));
  assert.equal(a.trails.length, 0, "a move of an empty seat is ignored");
});

// --- against the Rust simulation -------------------------------------------------

/** The arena as the server would snapshot it (docs/PROTOCOL.md, `snapshot`), through MessagePack. */
function resnapshot(a) {
  const deltas = (pts) => pts.flatMap(([x, y], i) => (i === 0 ? [x, y] : [x - pts[i - 1][0], y - pts[i - 1][1]]));
  const s = {
    tick: a.tick, phase: a.phase, round: a.round, phase_ends_at: a.phaseEndsAt, target: a.target, config: a.config,
    players: a.players.map((p) => ({
      seat: p.seat, id: p.id, name: p.name, color: p.color, score: p.score, ready: p.ready, connected: p.connected,
      alive: p.alive, x: p.pos[0], y: p.pos[1], heading: p.heading, radius: p.radius, gap: p.gap, pen: p.open !== null,
    })),
    trails: a.trails.map((t) => ({ seat: t.seat, r: t.r, pts: deltas(t.points) })),
    items: a.items,
    effects: a.effects,
  };
  return decodeSnapshot(encode(s));
}

/** Everything an arena holds, to compare two. */
const state = (a) => JSON.parse(JSON.stringify({ ...a, listener: null, lastEvents: null }));

test("over a simulated match every head is where the server has it, and a snapshot at any tick continues identically", (t0) => {
  const tr = simTrace(5, 4, 3600);
  const config = { w: tr.config.arena_w, h: tr.config.arena_h, tick_hz: tr.config.tick_hz, pos_scale: 32, item_radius: 320 };
  const a = new Arena(decodeSnapshot(encode({ tick: 0, phase: "waiting", round: 0, target: 0, config })));
  const frames = tr.ticks.map((t) => encode(t.msg));
  const full = new Arena(decodeSnapshot(encode({ tick: 0, phase: "waiting", round: 0, target: 0, config })));
  for (const f of frames) full.applyTick(decodeTick(f));
  const seen = { heads: 0, trails: 0, wraps: 0, deaths: 0, clears: 0, resumed: 0 };
  for (let i = 0; i < frames.length; i++) {
    const t = decodeTick(frames[i]);
    a.applyTick(t);
    for (const e of t.events) if (e.type === "death") seen.deaths++;
    for (const e of t.events) if (e.type === "clear") seen.clears++;
    seen.wraps += t.heads.filter((h) => h.d === WRAP).length;
    seen.trails = Math.max(seen.trails, a.trails.length);
    for (const [seat, alive, fx, fy, hf] of tr.ticks[i].exact) {
      const p = a.player(seat);
      if (!alive || !p?.alive || !["countdown", "playing"].includes(a.phase)) continue;
      const at = `tick ${a.tick} seat ${seat}`;
      assert.deepEqual([...p.pos, p.heading], [Math.floor(fx / 32), Math.floor(fy / 32), hf >>> 16], `${at}: head`);
      if (p.open !== null) assert.deepEqual(a.trails[p.open].points.at(-1), p.pos, `${at}: the open line ends at the head`);
      seen.heads++;
    }
    // Every 300 ticks: a client that joined now (a snapshot, then the same frames) ends
    // up with the arena of the one that saw every tick.
    if (i % 300 === 150) {
      const joined = new Arena(resnapshot(a));
      for (const f of frames.slice(i + 1)) joined.applyTick(decodeTick(f));
      assert.deepEqual(state(joined), state(full), `joined at tick ${a.tick}: the same arena at the end`);
      assert.equal(joined.fingerprint(), full.fingerprint());
      seen.resumed++;
    }
  }
  t0.diagnostic(`checked: ${JSON.stringify(seen)}`);
  // The match must have exercised what is checked, or the comparison proves little.
  assert.ok(seen.heads > 5000, `heads compared: ${JSON.stringify(seen)}`);
  for (const k of ["wraps", "deaths", "clears", "resumed"]) assert.ok(seen[k] > 0, `the trace covers ${k}: ${JSON.stringify(seen)}`);
});
