// src/games/curve/wire.ts: the `snapshot`, `tick` and `ticks` payloads of a room (docs/PROTOCOL.md,
// "Room payloads") decode from MessagePack as the server encodes them (rmp_serde, named
// fields, integers in their shortest form, `events` omitted when empty) and from their
// JSON form (long-poll, V1) to the same values; anything else is refused.

import { test } from "node:test";
import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import { hex } from "./helpers.mjs";
import { loadTs } from "./ts.mjs";

const { decodeSnapshot, decodeTick, decodeTicks, seatColor, SEAT_COLORS } = await loadTs("games/curve/wire.ts");

/**
 * A tick frame written byte by byte as rmp_serde writes `Tick`: tick 1234, seat 0 moves
 * solid to (-320, 6400) heading 16384 with ack 7; no `events` key.
 */
const TICK_1234 = hex(`
  82                              # a map of 2
    a4 7469636b  cd 04d2          # "tick": 1234 (u16)
    a5 6865616473 91              # "heads": an array of 1
      86                          #   a map of 6
        a1 73  00                 #   "s": 0
        a1 78  d1 fec0            #   "x": -320 (i16)
        a1 79  cd 1900            #   "y": 6400 (u16)
        a1 68  cd 4000            #   "h": 16384 (u16)
        a1 64  01                 #   "d": 1 (solid)
        a1 61  07                 #   "a": 7
`);

test("a tick frame as the server writes it decodes to its values, with the omitted events empty", () => {
  const t = decodeTick(TICK_1234);
  assert.deepEqual(t, { tick: 1234, heads: [{ s: 0, x: -320, y: 6400, h: 16384, d: 1, a: 7 }], events: [] });
});

test("a tick number written as a u64 decodes to a number", () => {
  // {"tick": 2^32 + 5 (u64), "heads": []}
  const t = decodeTick(hex("82 a4 7469636b cf 0000000100000005 a5 6865616473 90"));
  assert.equal(t.tick, 2 ** 32 + 5);
  assert.equal(typeof t.tick, "number");
});

const TICK = {
  tick: 900,
  heads: [
    { s: 0, x: 100, y: 200, h: 65535, d: 0 },
    { s: 3, x: -5, y: 0, h: 0, d: 3 },
  ],
  events: [
    { type: "death", seat: 3, cause: "wall", by: null },
    { type: "effect_start", effect: { id: 4, kind: "wrap_all", by: 0, targets: [0, 3], ends_at: 1200 } },
    { type: "round_end", round: 2, winner: 0, scores: [{ seat: 0, score: 11 }] },
  ],
};

test("a tick round-trips through MessagePack and through its JSON form to the same value", () => {
  assert.deepEqual(decodeTick(encode(TICK)), TICK, "binary");
  assert.deepEqual(decodeTick(JSON.parse(JSON.stringify(TICK))), TICK, "JSON form");
});

test("a binary payload is read wherever its view starts: ArrayBuffer, a view into a larger buffer", () => {
  const bytes = encode(TICK);
  const exact = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  assert.deepEqual(decodeTick(exact), TICK, "an ArrayBuffer");
  const big = new Uint8Array(bytes.length + 16).fill(0xc1); // 0xc1 is never valid MessagePack
  big.set(bytes, 8);
  assert.deepEqual(decodeTick(new DataView(big.buffer, 8, bytes.length)), TICK, "a DataView at offset 8");
  assert.deepEqual(decodeTick(new Uint8Array(big.buffer, 8, bytes.length)), TICK, "a Uint8Array at offset 8");
});

test("a ticks frame decodes to its ticks in order, each as a tick frame would", () => {
  const frame = [
    { tick: 10, heads: [{ s: 1, x: 1, y: 2, h: 3, d: 1 }] },
    { tick: 11, heads: [], events: [{ type: "clear" }] },
    { tick: 12 },
  ];
  const ts = decodeTicks(encode(frame));
  assert.deepEqual(ts, [
    { tick: 10, heads: [{ s: 1, x: 1, y: 2, h: 3, d: 1 }], events: [] },
    { tick: 11, heads: [], events: [{ type: "clear" }] },
    { tick: 12, heads: [], events: [] },
  ]);
  assert.deepEqual(decodeTicks(JSON.parse(JSON.stringify(frame))), ts, "the JSON form");
});

const SNAPSHOT = {
  tick: 4321,
  phase: "playing",
  round: 2,
  phase_ends_at: null,
  target: 10,
  config: { w: 800, h: 600, tick_hz: 60, pos_scale: 32, item_radius: 320 },
  players: [
    {
      seat: 0, id: "u0", name: "Ann", color: "#ff4136", score: 3, ready: true, connected: true, alive: true,
      x: 3200, y: 6400, heading: 1000, radius: 96, gap: false, pen: true,
      exact: { fx: 102400, fy: 204800, hf: 65536000, seq: 12 },
    },
    {
      seat: 1, id: "u1", name: "Bo", color: "#2ecc40", score: 0, ready: true, connected: false, alive: false,
      x: -1, y: 0, heading: 65535, radius: 48, gap: true, pen: false,
    },
  ],
  trails: [{ seat: 0, r: 96, pts: [3000, 6000, 100, 200, 100, 200] }],
  items: [{ id: 9, kind: "clear_all", x: 100, y: 100 }],
  effects: [{ id: 2, kind: "thin_self", by: 0, targets: [0], ends_at: 5000 }],
};

test("a snapshot round-trips through MessagePack and through its JSON form to the same value", () => {
  assert.deepEqual(decodeSnapshot(encode(SNAPSHOT)), SNAPSHOT, "binary");
  assert.deepEqual(decodeSnapshot(JSON.parse(JSON.stringify(SNAPSHOT))), SNAPSHOT, "JSON form");
  const ends = decodeSnapshot(encode({ ...SNAPSHOT, phase_ends_at: 2 ** 40 }));
  assert.equal(ends.phase_ends_at, 2 ** 40, "phase_ends_at as a wide integer");
});

test("a snapshot without lists (an empty waiting room) has them empty, and no end of phase", () => {
  const s = decodeSnapshot(encode({ tick: 0, phase: "waiting", round: 0, target: 0, config: SNAPSHOT.config }));
  assert.deepEqual([s.players, s.trails, s.items, s.effects, s.phase_ends_at], [[], [], [], [], null]);
});

test("what is not a game payload is refused", () => {
  for (const [what, payload] of [
    ["a string", "tick"],
    ["a number", 42],
    ["null", null],
    ["undefined", undefined],
  ]) {
    assert.throws(() => decodeTick(payload), /expected a game payload/, `${what} as a tick`);
    assert.throws(() => decodeSnapshot(payload), /expected a game payload/, `${what} as a snapshot`);
    assert.throws(() => decodeTicks(payload), /expected a game payload/, `${what} as ticks`);
  }
});

test("broken MessagePack is refused: truncated, trailing bytes, a reserved byte, empty", () => {
  const bytes = encode(TICK);
  assert.throws(() => decodeTick(bytes.subarray(0, bytes.length - 3)), RangeError, "truncated");
  assert.throws(() => decodeTick(TICK_1234.subarray(0, 10)), RangeError, "truncated inside a key");
  assert.throws(() => decodeTick(Uint8Array.of(...bytes, 0x00)), RangeError, "a byte after the frame");
  assert.throws(() => decodeTick(Uint8Array.of(0xc1)), /0xc1|unrecognized/i, "0xc1, never used");
  assert.throws(() => decodeSnapshot(new Uint8Array(0)), RangeError, "empty");
});

test("a ticks frame must hold a list", () => {
  assert.throws(() => decodeTicks(encode(TICK)), /ticks: expected an array/, "one tick in a ticks frame");
  assert.throws(() => decodeTicks({ tick: 1 }), /ticks: expected an array/, "its JSON form");
});

test("seat colours are the server's palette, wrapping after eight seats", () => {
  assert.equal(SEAT_COLORS.length, 8);
  assert.equal(seatColor(0), "#ff4136");
  assert.equal(seatColor(7), "#f012be");
  assert.equal(seatColor(8), seatColor(0));
  assert.equal(seatColor(13), seatColor(5));
});
