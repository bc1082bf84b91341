// src/games/bumper/: Bumper's `snapshot`, `tick` and `ticks` payloads
// (docs/design/bumper-wire.md) decode from MessagePack as the server writes them (named
// fields, integers in their shortest form, optional keys left out) and from their JSON
// form to the same values; the state follows a snapshot and its ticks event by event;
// the playout draws discs between two ticks, evenly however many ticks a frame carries.

import { test } from "node:test";
import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import { hex } from "./helpers.mjs";
import { loadTs } from "./ts.mjs";

const { decodeSnapshot, decodeTick, decodeTicks, bumperConfig } = await loadTs("games/bumper/wire.ts");
const { BumperState, OutOfSequence } = await loadTs("games/bumper/state.ts");
const { BumperPlayout } = await loadTs("games/bumper/playout.ts");

/** A tick frame written byte by byte: tick 1234, seat 1 moving with ack 7, the floe at 11000, a dash. */
const TICK_1234 = hex(`
  84                              # a map of 4
    a4 7469636b  cd 04d2          # "tick": 1234 (u16)
    a1 64 91                      # "d": an array of 1
      86                          #   a map of 6
        a1 73    01               #   "s": 1
        a1 78    d1 fec0          #   "x": -320 (i16)
        a1 79    cd 1900          #   "y": 6400 (u16)
        a2 7678  64               #   "vx": 100
        a2 7679  fb               #   "vy": -5 (negative fixint)
        a1 61    07               #   "a": 7
    a1 72 cd 2af8                 # "r": 11000
    a2 6576 91                    # "ev": an array of 1
      82 a1 65 a4 64617368        #   {"e": "dash",
         a4 73656174 01           #    "seat": 1}
`);

test("a tick frame as the server writes it decodes to its values", () => {
  assert.deepEqual(decodeTick(TICK_1234), {
    tick: 1234,
    d: [{ s: 1, x: -320, y: 6400, vx: 100, vy: -5, a: 7 }],
    r: 11000,
    ev: [{ e: "dash", seat: 1 }],
  });
});

test("a tick without `r`, `ev` or acks decodes with those empty, and a u64 tick number as a number", () => {
  // {"tick": 2^32 + 5 (u64), "d": []}
  const t = decodeTick(hex("82 a4 7469636b cf 0000000100000005 a1 64 90"));
  assert.deepEqual(t, { tick: 2 ** 32 + 5, d: [], r: null, ev: [] });
  const u = decodeTick(encode({ tick: 3, d: [{ s: 0, x: 1, y: 2, vx: 3, vy: 4 }] }));
  assert.equal("a" in u.d[0], false, "no ack when the server sent none");
});

const SNAPSHOT = {
  tick: 500,
  phase: "playing",
  phase_ends_at: null,
  match_ends_at: 7700,
  target: 10,
  floe_r: 11520,
  players: [
    { seat: 2, id: "u-c", name: "Cleo", color: "#0074d9", points: 1, falls: 0, ready: true, connected: true, alive: false, x: 0, y: 0, vx: 0, vy: 0, dash_ready_at: 0, respawn_at: 560 },
    { seat: 0, id: "u-a", name: "Ann", color: "#ff4136", points: 3, falls: 1, ready: true, connected: true, alive: true, x: 16384, y: 12288, vx: 320, vy: 0, dash_ready_at: 520, seq: 9 },
  ],
};

test("a snapshot decodes alike from MessagePack and from its JSON form, the left-out keys as null", () => {
  const bin = decodeSnapshot(encode(SNAPSHOT));
  const json = decodeSnapshot(JSON.parse(JSON.stringify(SNAPSHOT)));
  assert.deepEqual(bin, json);
  assert.equal(bin.players[0].seq, null, "no seq for seat 2");
  assert.equal(bin.players[1].respawn_at, null, "no respawn for a disc on the floe");
  assert.equal(bin.players[1].seq, 9);
  assert.throws(() => decodeSnapshot(encode([1, 2])), /snapshot/);
});

test("a ticks frame decodes to its ticks in order", () => {
  const ts = decodeTicks(encode([{ tick: 7, d: [] }, { tick: 8, d: [], ev: [{ e: "left", seat: 3 }] }]));
  assert.deepEqual(
    ts.map((t) => [t.tick, t.ev.length]),
    [
      [7, 0],
      [8, 1],
    ],
  );
  assert.throws(() => decodeTicks(encode({ tick: 1 })), /array/);
});

const CONFIG = bumperConfig({ tick_hz: 60, send_hz: 60, target: 10, floe_r: 11520, floe_final_r: 6400 });

function stateAt500() {
  return new BumperState(CONFIG, decodeSnapshot(encode(SNAPSHOT)));
}

test("the state takes a snapshot: players in seat order, the clock from match_ends_at", () => {
  const s = stateAt500();
  assert.deepEqual(
    s.players.map((p) => [p.seat, p.name, p.alive, p.points, p.falls, p.ack]),
    [
      [0, "Ann", true, 3, 1, 9],
      [2, "Cleo", false, 1, 0, null],
    ],
  );
  assert.equal(s.clockSeconds(), (7700 - 500) / 60);
  assert.equal(s.dashCooldown(s.player(0)), 20 / 90, "20 of the 90 cooldown ticks left");
});

test("ticks move discs, take acks, shrink the floe, and apply their events in order", () => {
  const s = stateAt500();
  s.applyTick(decodeTick(encode({ tick: 501, d: [{ s: 0, x: 16400, y: 12288, vx: 330, vy: 0, a: 10 }], r: 11500 })));
  const ann = s.player(0);
  assert.deepEqual([ann.x, ann.vx, ann.ack, s.floeR], [16400, 330, 10, 11500]);

  // Ann dashes, then falls (pushed by Cleo's seat 2), scores are sent; Cleo respawns.
  s.applyTick(decodeTick(encode({ tick: 502, d: [{ s: 0, x: 16500, y: 12288, vx: 800, vy: 0 }], ev: [{ e: "dash", seat: 0 }] })));
  assert.equal(ann.dashReadyAt, 502 + 90);
  assert.equal(s.dashCooldown(ann), 1, "just dashed");
  s.applyTick(
    decodeTick(
      encode({
        tick: 503,
        d: [{ s: 2, x: 8000, y: 9000, vx: 0, vy: 0 }],
        ev: [
          { e: "fall", seat: 0, by: 2 },
          { e: "score", seat: 2, points: 2, falls: 0 },
          { e: "score", seat: 0, points: 3, falls: 2 },
          { e: "spawn", seat: 2, x: 8000, y: 9000 },
        ],
      }),
    ),
  );
  assert.deepEqual([ann.alive, ann.falls, ann.respawnAt], [false, 2, 503 + 120], "Ann fell once more (the score says), respawns in 2 s");
  const cleo = s.player(2);
  assert.deepEqual([cleo.alive, cleo.x, cleo.y, cleo.points], [true, 8000, 9000, 2]);
  assert.deepEqual(
    s.lastEvents.map((e) => e.e),
    ["fall", "score", "score", "spawn"],
  );

  // `d` lists every disc on the floe: one left out is off it.
  s.applyTick(decodeTick(encode({ tick: 504, d: [{ s: 0, x: 1, y: 2, vx: 0, vy: 0 }] })));
  assert.deepEqual([cleo.alive, cleo.x, cleo.respawnAt], [false, 8000, 504 + 120], "Cleo off the floe where she was last");
  assert.deepEqual([ann.alive, ann.x, ann.respawnAt], [true, 1, null], "listed in `d`: Ann back on the floe");

  s.applyTick(decodeTick(encode({ tick: 505, d: [], ev: [{ e: "connection", seat: 0, connected: false }, { e: "left", seat: 2 }] })));
  assert.equal(ann.connected, false);
  assert.equal(s.player(2), undefined, "Cleo's seat freed");

  assert.throws(() => s.applyTick(decodeTick(encode({ tick: 507, d: [] }))), OutOfSequence, "a missing tick");
});

test("a match runs: countdown, start seats the players at 0 points, back to waiting resets ready and the floe", () => {
  const s = new BumperState(CONFIG, decodeSnapshot(encode({ tick: 40, phase: "waiting", target: 10, floe_r: 9000, players: [] })));
  // While waiting no ticks flow: the next one may jump.
  s.applyTick(
    decodeTick(
      encode({
        tick: 90,
        d: [],
        ev: [
          { e: "seat", seat: 1, id: "u-b", name: "Bo" },
          { e: "seat", seat: 0, id: "u-a", name: "Ann" },
          { e: "ready", seat: 1, ready: true },
          { e: "phase", phase: "countdown", ends_at: 270 },
        ],
      }),
    ),
  );
  assert.deepEqual(
    s.players.map((p) => [p.seat, p.name, p.ready]),
    [
      [0, "Ann", false],
      [1, "Bo", true],
    ],
  );
  assert.deepEqual([s.phase, s.phaseEndsAt, s.floeR], ["countdown", 270, 11520]);
  s.tick = 269;
  s.applyTick(
    decodeTick(
      encode({
        tick: 270,
        d: [
          { s: 0, x: 100, y: 200, vx: 0, vy: 0 },
          { s: 1, x: 300, y: 400, vx: 0, vy: 0 },
        ],
        ev: [
          { e: "phase", phase: "playing" },
          { e: "start", match_ends_at: 7470, players: [{ seat: 0, id: "u-a", name: "Ann", x: 100, y: 200 }, { seat: 1, id: "u-b", name: "Bo", x: 300, y: 400 }] },
        ],
      }),
    ),
  );
  assert.equal(s.phase, "playing");
  assert.equal(s.phaseEndsAt, null, "no end in the phase event");
  assert.equal(s.matchEndsAt, 7470);
  assert.deepEqual(
    s.players.map((p) => [p.seat, p.x, p.y, p.alive, p.points, p.falls, p.color]),
    [
      [0, 100, 200, true, 0, 0, "#ff4136"],
      [1, 300, 400, true, 0, 0, "#2ecc40"],
    ],
  );
  s.applyTick(decodeTick(encode({ tick: 271, d: [], r: 7000, ev: [{ e: "phase", phase: "finished", ends_at: 571 }] })));
  s.tick = 570;
  s.applyTick(decodeTick(encode({ tick: 571, d: [], ev: [{ e: "phase", phase: "waiting" }] })));
  assert.deepEqual([s.phase, s.floeR, s.matchEndsAt], ["waiting", 11520, null]);
  assert.ok(s.players.every((p) => !p.ready), "ready flags reset");
});

const PERIOD = 1000 / 60;

/** A playout at tick 100 (the snapshot arrived at time 0): one disc at x = 1000 · tick. */
function playout(config) {
  const hooks = { resyncs: 0, resync: () => hooks.resyncs++, snapshotApplied() {}, applied() {} };
  const p = new BumperPlayout(config, hooks);
  p.joined(config);
  p.snapshot(
    decodeSnapshot(
      encode({
        tick: 100,
        phase: "playing",
        target: 10,
        floe_r: 11520,
        players: [{ seat: 0, id: "u", name: "U", color: "#ff4136", points: 0, falls: 0, ready: true, connected: true, alive: true, x: 100000, y: 5, vx: 0, vy: 0, dash_ready_at: 0 }],
      }),
    ),
    0,
  );
  return { p, hooks };
}

const tickAt = (n) => decodeTick(encode({ tick: n, d: [{ s: 0, x: 1000 * n, y: 5, vx: 60000, vy: 0 }] }));

test("sent every tick, a disc is drawn between the two ticks around the render time", () => {
  const { p } = playout(CONFIG);
  for (let k = 1; k <= 5; k++) p.take(tickAt(100 + k), k * PERIOD);
  const now = 5 * PERIOD;
  p.frame(now);
  const render = p.renderTick(now);
  assert.ok(render > 104 && render < 105, `the render tick ${render} falls between 104 and 105`);
  assert.equal(p.state.tick, 104, "ticks up to the render tick are applied");
  assert.equal(p.buffered, 1, "tick 105 waits in the buffer");
  const at = p.discAt(0);
  assert.ok(Math.abs(at.x - 1000 * render) < 1e-6, `drawn at ${at.x}, expected ${1000 * render}`);
  assert.equal(at.y, 5);
  assert.deepEqual(p.drawn(), [{ s: 0, x: at.x, y: 5 }]);
});

test("three ticks per frame (send_hz 20): the disc moves on every animation frame and never past the newest tick", () => {
  const { p } = playout(bumperConfig({ tick_hz: 60, send_hz: 20 }));
  let sent = 100;
  let last = -Infinity;
  let stalls = 0;
  let frames = 0;
  // Frames at 240 Hz for 2 s; a room frame of three ticks every 50 ms.
  for (let now = 0; now <= 2000; now += PERIOD / 4) {
    while ((sent - 100 + 3) * PERIOD <= now + 1e-9) {
      for (let k = 1; k <= 3; k++) p.take(tickAt(sent + k), now);
      sent += 3;
    }
    p.frame(now);
    const at = p.discAt(0);
    if (!at || now < 300) continue; // the clock learns the jitter first
    assert.ok(at.x <= 1000 * sent, `drawn at ${at.x}, beyond the newest tick ${sent}`);
    if (at.x <= last) stalls++;
    last = at.x;
    frames++;
  }
  assert.ok(frames > 400, `${frames} frames drew the disc`);
  assert.equal(stalls, 0, "the disc stood still on some frames");
});

test("a tick missing from the buffer asks for a fresh snapshot, and ticks before it wait for one", () => {
  const { p, hooks } = playout(CONFIG);
  p.take(tickAt(101), PERIOD);
  p.take(tickAt(103), 2 * PERIOD);
  p.frame(10 * PERIOD);
  assert.equal(hooks.resyncs, 1);
  assert.equal(p.awaitingSnapshot, true);
  assert.equal(p.state.tick, 101);
  p.take(tickAt(104), 11 * PERIOD);
  p.snapshot(decodeSnapshot(encode({ ...SNAPSHOT, tick: 103 })), 12 * PERIOD);
  assert.equal(p.awaitingSnapshot, false);
  assert.equal(p.buffered, 1, "tick 104, received before the snapshot of 103, follows it");
});

test("held keys make one of eight move vectors of length 100 (diagonals ±71), none when opposite keys cancel", async () => {
  const { moveVector } = await loadTs("games/bumper/keys.ts");
  const v = (keys) => moveVector(keys.includes("u"), keys.includes("d"), keys.includes("l"), keys.includes("r"));
  assert.deepEqual(v(""), [0, 0]);
  assert.deepEqual(v("r"), [100, 0]);
  assert.deepEqual(v("l"), [-100, 0]);
  assert.deepEqual(v("u"), [0, -100], "up is -y: the arena's y grows downwards");
  assert.deepEqual(v("d"), [0, 100]);
  assert.deepEqual(v("ur"), [71, -71]);
  assert.deepEqual(v("dl"), [-71, 71]);
  assert.deepEqual(v("lr"), [0, 0]);
  assert.deepEqual(v("udr"), [100, 0]);
  assert.ok(Object.is(v("u")[0], 0), "no -0 on the wire");
});

test("a stick drag makes the move vector from where the thumb landed: clamped to length 100, integers", async () => {
  const { stickVector, STICK_REACH } = await loadTs("games/bumper/touch.ts");
  assert.equal(STICK_REACH, 100);
  assert.deepEqual(stickVector(50, 50, 50, 50), [0, 0], "no drag, no move");
  assert.deepEqual(stickVector(50, 50, 80, 10), [30, -40], "inside the reach: the difference itself");
  assert.deepEqual(stickVector(50, 50, 350, 50), [100, 0], "a long drag is clamped to 100");
  assert.deepEqual(stickVector(0, 0, -300, -400), [-60, -80], "clamped along its direction");
  assert.deepEqual(stickVector(0, 0, 1000, 1000), [71, 71], "a diagonal: ±71");
  assert.deepEqual(stickVector(10, 20, 12.4, 20.6), [2, 1], "rounded to integers");
  assert.deepEqual(stickVector(0, 0, 30, 40, 50), [60, 80], "a shorter reach scales the drag up");
  const [x, y] = stickVector(0, 0, -0.2, 0.3);
  assert.ok(Object.is(x, 0) && Object.is(y, 0), "no -0 on the wire");
  for (let a = 0; a < 360; a += 7) {
    const r = (a * Math.PI) / 180;
    const [vx, vy] = stickVector(5, 5, 5 + 500 * Math.cos(r), 5 + 500 * Math.sin(r));
    assert.ok(Number.isInteger(vx) && Number.isInteger(vy) && Math.abs(vx) <= 100 && Math.abs(vy) <= 100, `${a}°: ${vx},${vy}`);
    assert.ok(Math.abs(Math.hypot(vx, vy) - 100) <= 1, `${a}°: length ${Math.hypot(vx, vy)}`);
  }
});
