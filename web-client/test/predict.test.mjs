// The TypeScript port of the motion rules (src/games/curve/predict.ts) against the Rust simulation:
// `kurve-sim-trace` plays a scripted match (random steering, items every 0.3–0.7 s) and
// prints every tick message and every head at full precision; the port, fed only what a
// client receives (the tick messages and its own inputs), must reproduce every head of
// every tick exactly, and predict K ticks ahead exactly whenever nothing it cannot know
// (a pickup, a death, a new round) happens in between.
//
// Needs the binary built (`cargo build -p kurve-tests --bin kurve-sim-trace`; scripts/test.sh
// builds every target first) or its path in KURVE_SIM_TRACE.

import { test } from "node:test";
import assert from "node:assert/strict";
import { simTrace } from "./helpers.mjs";
import { loadTs } from "./ts.mjs";

function trace(seed, players, ticks) {
  const tr = simTrace(seed, players, ticks);
  // As the client's decodeTick: `events` is omitted on the wire when empty.
  for (const t of tr.ticks) {
    t.msg.heads ??= [];
    t.msg.events ??= [];
  }
  return tr;
}

const rulesOf = (cfg) => ({
  tick_hz: cfg.tick_hz,
  arena_w: cfg.arena_w,
  arena_h: cfg.arena_h,
  speed_px_per_s: cfg.speed_px_per_s,
  turn_rate_mrad_per_s: cfg.turn_rate_mrad_per_s,
});

/** How far ahead predictions are checked, ticks (a 300 ms round trip at 60 Hz, and more). */
const AHEAD = 24;

for (const seed of [7, 11]) {
  test(`the port reproduces every head of a scripted match exactly (seed ${seed})`, async (t0) => {
    const { OwnHead, Motion } = await loadTs("games/curve/predict.ts");
    const tr = trace(seed, 4, 7200);
    const rules = rulesOf(tr.config);
    const m = new Motion(rules);
    assert.equal(m.speedFine, 1536, "90 px/s at 60 Hz: 1.5 px = 1536 fine units per tick");
    const n = tr.players;
    // The last seat is an old client: it sends no seq and must never get an ack.
    const seqSeats = [...Array(n - 1).keys()];
    const heads = seqSeats.map((s) => new OwnHead(s, rules));
    const ticks = tr.ticks;
    const seen = { compared: 0, predicted: 0, fast: 0, slow: 0, reversed: 0, wrapped: 0, countdownTurns: 0 };

    // Inputs are announced to the model AHEAD ticks before the server applied them,
    // like a client's inputs that are on their way.
    const inputsAt = new Map(ticks.map((t) => [t.tick, t.inputs]));
    const announce = (k) => {
      for (const [seat, turn, seq] of inputsAt.get(k) ?? []) {
        if (seq !== null) heads[seat].sent(seq, turn, k);
      }
    };
    for (let i = 0; i < AHEAD && i < ticks.length; i++) announce(ticks[i].tick);

    // Ticks in (i, i + AHEAD] where something a client cannot foresee happens to `seat`.
    const surprise = (t, seat) =>
      t.msg.events.some(
        (e) =>
          e.type === "round_start" ||
          e.type === "clear" ||
          (e.type === "phase" && e.phase !== "playing") ||
          ((e.type === "death" || e.type === "left") && e.seat === seat) ||
          (e.type === "effect_start" && e.effect.targets.includes(seat)),
      );

    for (let i = 0; i < ticks.length; i++) {
      const t = ticks[i];
      if (i + AHEAD < ticks.length) announce(ticks[i + AHEAD].tick);
      for (const h of t.msg.heads) {
        if (h.s === n - 1) assert.equal(h.a, undefined, `tick ${t.tick}: no ack for a client without seq`);
      }
      for (const own of heads) {
        own.applyTick(t.msg);
        const [, alive, fx, fy, hf] = t.exact.find((e) => e[0] === own.seat);
        const at = `seed ${seed} tick ${t.tick} seat ${own.seat}`;
        // Between matches the server leaves heads as they were; nothing is drawn or predicted.
        if (!["countdown", "playing", "round_over"].includes(own.phase)) continue;
        if (!alive) {
          assert.ok(!own.auth?.alive, `${at}: dead`);
          continue;
        }
        assert.ok(own.auth?.alive, `${at}: alive`);
        assert.deepEqual([own.auth.fx, own.auth.fy, own.auth.hf], [fx, fy, hf], `${at}: exact head`);
        assert.ok(own.exact, `${at}: the shadow is exact`);
        seen.compared++;
        if (own.auth.speedQ16 > 65536) seen.fast++;
        if (own.auth.speedQ16 < 65536) seen.slow++;
        if (own.auth.reversed) seen.reversed++;
        if (t.msg.heads.some((h) => h.s === own.seat && h.d === 3)) seen.wrapped++;
        if (own.phase === "countdown" && own.turnAt(t.tick) !== 0) seen.countdownTurns++;

        // Predict AHEAD ticks and compare, unless something unforeseeable happens first.
        const target = ticks[i + AHEAD];
        if (!target || target.tick !== t.tick + AHEAD) continue;
        if (ticks.slice(i + 1, i + AHEAD + 1).some((u) => surprise(u, own.seat))) continue;
        const [, aliveThen, px, py, ph] = target.exact.find((e) => e[0] === own.seat);
        if (!aliveThen) continue;
        const p = own.predict(target.tick);
        assert.ok(p, `${at}: a prediction`);
        assert.deepEqual([p.fx, p.fy, p.hf], [px, py, ph], `${at}: predicted ${AHEAD} ticks ahead`);
        seen.predicted++;
      }
    }
    t0.diagnostic(`compared: ${JSON.stringify(seen)}`);
    for (const own of heads) assert.equal(own.reseeds, 0, `seat ${own.seat}: never re-seeded from the wire`);
    // The script must have exercised what the port models, or the comparison proves little.
    assert.ok(seen.compared > 10000, `heads compared: ${JSON.stringify(seen)}`);
    assert.ok(seen.predicted > 5000, `predictions compared: ${JSON.stringify(seen)}`);
    for (const k of ["fast", "slow", "reversed", "wrapped", "countdownTurns"]) {
      assert.ok(seen[k] > 0, `the trace covers ${k}: ${JSON.stringify(seen)}`);
    }
  });
}

test("a resync snapshot resets the shadow exactly, acks included", async () => {
  const { OwnHead } = await loadTs("games/curve/predict.ts");
  const tr = trace(7, 3, 1500);
  const rules = rulesOf(tr.config);
  const a = new OwnHead(0, rules);
  // Follow the trace to the middle of a round, then rebuild a second model from a
  // snapshot-like state (what `exact` carries) and check both continue identically.
  let i = 0;
  for (; i < tr.ticks.length; i++) {
    const t = tr.ticks[i];
    for (const [seat, turn, seq] of t.inputs) if (seat === 0 && seq !== null) a.sent(seq, turn, t.tick);
    a.applyTick(t.msg);
    if (a.phase === "playing" && a.auth?.alive && a.ackSeq !== null && i > 400) break;
  }
  assert.ok(i < tr.ticks.length, "reached a playing tick with an acked input");
  const t = tr.ticks[i];
  const [, , fx, fy, hf] = t.exact.find((e) => e[0] === 0);
  const b = new OwnHead(0, rules);
  b.sent(a.ackSeq, a.ackTurn, t.tick);
  b.applySnapshot({
    tick: t.tick,
    phase: "playing",
    round: 1,
    phase_ends_at: null,
    target: 0,
    config: { w: 1024, h: 768, tick_hz: 60, pos_scale: 32, item_radius: 448 },
    players: [
      { seat: 0, id: "u0", name: "p0", color: "#fff", score: 0, ready: true, connected: true, alive: true,
        x: Math.floor(fx / 32), y: Math.floor(fy / 32), heading: hf >>> 16, radius: 96, gap: false, pen: false,
        exact: { fx, fy, hf, seq: a.ackSeq } },
    ],
    trails: [],
    items: [],
    effects: a.effects.map((e) => ({ ...e, by: 0 })),
  });
  assert.equal(b.ackTurn, a.ackTurn, "the acked turn is known again");
  for (let j = i + 1; j < Math.min(i + 300, tr.ticks.length); j++) {
    const u = tr.ticks[j];
    for (const [seat, turn, seq] of u.inputs) {
      if (seat === 0 && seq !== null) {
        a.sent(seq, turn, u.tick);
        b.sent(seq, turn, u.tick);
      }
    }
    a.applyTick(u.msg);
    b.applyTick(u.msg);
    assert.deepEqual(b.auth, a.auth, `tick ${u.tick}: the same head after a snapshot`);
  }
});
