// Client-side prediction of the player's own head: a port of the server's motion rules
// (server/src/sim/trig.rs, config.rs, systems/motion.rs `steer_heads`/`move_heads`, and the
// speed and reversed controls of systems/items.rs `update_effects`), bit for bit.
//
// `web-client/test/predict.test.mjs` runs this file over a trace of the Rust simulation
// (`kurve-sim-trace`) and compares every head, every tick, exactly; keep the two in step.
//
// Why exact and not "close enough": the client keeps a shadow of its own head at full
// precision (1/1024 px, 32-bit heading), advanced with the inputs the server says it
// applied (the `a` acknowledgement of each tick). While the port is exact the shadow *is*
// the server's state, so a prediction from it differs from what the server will send only
// where the server knew something the client could not (when an input arrived, an item
// pickup, a death). Only the shadow's wire rounding is checked against each tick; a
// mismatch (a reconnect without an exact start, a rule change) re-seeds it from the wire.
//
// Integers only: every product stays below 2^53, so doubles hold them exactly; the trig
// table is built once with BigInt, as the server builds it with i128.

import type { Effect, HeadUpdate, ItemKind, Phase, Snapshot, Tick } from "./wire";

/** The rules the motion depends on (the server's `GameConfig` field names). */
export interface MotionRules {
  tick_hz: number;
  arena_w: number;
  arena_h: number;
  speed_px_per_s: number;
  turn_rate_mrad_per_s: number;
}

/** GAME.md's defaults, which the server runs with unless configured otherwise. */
export const DEFAULT_RULES: MotionRules = {
  tick_hz: 60,
  arena_w: 1024,
  arena_h: 768,
  speed_px_per_s: 90,
  turn_rate_mrad_per_s: 2950,
};

const POS_SCALE = 32;
/** Fine units (1/1024 px) per wire unit. */
export const FINE_PER_WIRE = 32;
const Q16 = 65536;
const TRIG_SHIFT = 2 ** 30;
const HALF = 2 ** 29;
const STEPS = 1 << 14;
const Q62 = 1n << 62n;
const PI_Q62 = 14_488_038_916_154_245_684n;

let table: Int32Array | null = null;

function sinQ62(x: bigint): bigint {
  const x2 = (x * x) / Q62;
  let term = x;
  let sum = x;
  let n = 1n;
  for (let i = 0; i < 14; i++) {
    term = (-term * x2) / Q62 / ((n + 1n) * (n + 2n));
    sum += term;
    n += 2n;
  }
  return sum;
}

/** The server's sine table (Q30, 2^14 entries per turn). */
function trigTable(): Int32Array {
  if (table) return table;
  const quarter = STEPS / 4;
  const q: number[] = [];
  for (let i = 0; i <= quarter; i++) {
    const x = (PI_Q62 * BigInt(i)) / BigInt(2 * quarter);
    q.push(Number((sinQ62(x) + (1n << 31n)) >> 32n));
  }
  const t = new Int32Array(STEPS);
  for (let i = 0; i < STEPS; i++) {
    const k = Math.floor(i / quarter);
    const j = i % quarter;
    t[i] = k === 0 ? q[j] : k === 1 ? q[quarter - j] : k === 2 ? -q[j] : -q[quarter - j];
  }
  table = t;
  return t;
}

/** `[cos, sin]` of a u32 binary angle, Q30 (the server's `cos_sin`). */
export function cosSin(heading: number): [number, number] {
  const t = trigTable();
  const i = heading >>> 18;
  return [t[(i + STEPS / 4) % STEPS], t[i]];
}

/** Per-tick quantities derived from the rules, as the server's `Settings::new`. */
export class Motion {
  readonly speedFine: number;
  readonly turnPerTick: number;
  /** Arena size, fine units. */
  readonly wFine: number;
  readonly hFine: number;
  readonly tickHz: number;

  constructor(readonly rules: MotionRules = DEFAULT_RULES) {
    const hz = Math.max(1, rules.tick_hz);
    this.tickHz = hz;
    this.speedFine = Math.floor((rules.speed_px_per_s * POS_SCALE * FINE_PER_WIRE + Math.floor(hz / 2)) / hz);
    const num = BigInt(rules.turn_rate_mrad_per_s) * (1n << 32n) * Q62;
    const den = 2n * PI_Q62 * 1000n * BigInt(hz);
    this.turnPerTick = Number((num + den / 2n) / den);
    this.wFine = rules.arena_w * POS_SCALE * FINE_PER_WIRE;
    this.hFine = rules.arena_h * POS_SCALE * FINE_PER_WIRE;
  }
}

/** A head at full precision. */
export interface HeadState {
  /** Position, 1/1024 px. */
  fx: number;
  fy: number;
  /** Heading, u32 binary angle. */
  hf: number;
  /** Speed and turn-rate multiplier, Q16. */
  speedQ16: number;
  /** Left and right swapped. */
  reversed: boolean;
  alive: boolean;
}

/**
 * One tick of `steer_heads` then `move_heads` for one head. `moving` is whether the
 * phase is `playing` (in the countdown heads only turn). Returns false, leaving the head
 * where it was, when it would leave an arena whose walls do not wrap: the server kills
 * it there, and a prediction never shows a death, so it waits at the wall for the verdict.
 */
export function stepHead(m: Motion, h: HeadState, turn: number, moving: boolean, wrap: boolean, stopAtWalls = false): boolean {
  const t = h.reversed ? -turn : turn;
  const step = Math.floor((m.turnPerTick * h.speedQ16) / Q16);
  const hf = (h.hf + t * step) >>> 0;
  if (!moving) {
    h.hf = hf;
    return true;
  }
  const spd = Math.floor((m.speedFine * h.speedQ16) / Q16);
  const [c, s] = cosSin(hf);
  let nx = h.fx + Math.floor((spd * c + HALF) / TRIG_SHIFT);
  let ny = h.fy + Math.floor((spd * s + HALF) / TRIG_SHIFT);
  if (wrap) {
    if (nx < 0) nx += m.wFine;
    else if (nx >= m.wFine) nx -= m.wFine;
    if (ny < 0) ny += m.hFine;
    else if (ny >= m.hFine) ny -= m.hFine;
  } else if (stopAtWalls && (nx < 0 || ny < 0 || nx >= m.wFine || ny >= m.hFine)) {
    return false;
  }
  h.hf = hf;
  h.fx = nx;
  h.fy = ny;
  return true;
}

interface EffectLite {
  id: number;
  kind: ItemKind;
  targets: number[];
  ends_at: number;
}

/** Speed multiplier and reversed controls of `seat` from the active effects (`update_effects`). */
export function controls(effects: EffectLite[], seat: number): { speedQ16: number; reversed: boolean } {
  let speed = Q16;
  let reversed = false;
  for (const e of effects) {
    if (!e.targets.includes(seat)) continue;
    if (e.kind === "speed_self" || e.kind === "speed_others") speed = Math.floor((speed * 3) / 2);
    else if (e.kind === "slow_self" || e.kind === "slow_others") speed = Math.floor((speed * 2) / 3);
    else if (e.kind === "reverse_others") reversed = true;
  }
  return { speedQ16: Math.min(3 * Q16, Math.max(Math.floor(Q16 / 3), speed)), reversed };
}

/** Wire units of a fine position (rounding down, as the server's `wire`). */
export function wireOf(fine: number): number {
  return Math.floor(fine / FINE_PER_WIRE);
}

/** An input the player sent: from `tick` on (the client's guess) the head turns `turn`. */
export interface SentInput {
  seq: number;
  turn: number;
  /** The tick the prediction applies it from. */
  tick: number;
}

/** A point of the own head's recent path, wire units, and whether it was drawn to. */
export interface PathPoint {
  tick: number;
  x: number;
  y: number;
  solid: boolean;
}

/**
 * The player's own head: the authoritative shadow (advanced by every tick as it
 * arrives), the inputs sent and not yet acknowledged, and a prediction from the two.
 */
export class OwnHead {
  readonly motion: Motion;
  /** The authoritative head after `tick`, at full precision; null: not on the field. */
  auth: HeadState | null = null;
  /** Whether `auth` is exact (from a round start or an exact snapshot, every check since passed). */
  exact = false;
  tick = 0;
  phase: Phase = "waiting";
  phaseEndsAt: number | null = null;
  effects: EffectLite[] = [];
  /** The last acknowledged seq and the turn it carried (null: unknown). */
  ackSeq: number | null = null;
  ackTurn: number | null = null;
  /** Sent inputs not yet acknowledged, oldest first. */
  pending: SentInput[] = [];
  /** Inputs acknowledged recently, to map an ack to its turn. */
  private sentTurns = new Map<number, number>();
  /** The turn the head was last seen to take (when no ack says which input applied). */
  private seenTurn = 0;
  /** Ticks at which the shadow did not match the server and was re-seeded from the wire. */
  reseeds = 0;
  /** The authoritative path of recent ticks (for drawing the predicted trail). */
  path: PathPoint[] = [];
  /** Called with (seq, tick applied) when an input is acknowledged (clock calibration). */
  onAck: ((seq: number, tick: number) => void) | null = null;

  constructor(
    readonly seat: number,
    rules: MotionRules = DEFAULT_RULES,
  ) {
    this.motion = new Motion(rules);
  }

  /** A snapshot replaces everything (a join or a resync); pending inputs stay pending. */
  applySnapshot(s: Snapshot): void {
    this.tick = s.tick;
    this.phase = s.phase;
    this.phaseEndsAt = s.phase_ends_at;
    this.effects = s.effects.map(liteEffect);
    this.path = [];
    const p = s.players.find((x) => x.seat === this.seat);
    if (!p || !p.alive) {
      this.auth = null;
      this.exact = false;
      return;
    }
    const { speedQ16, reversed } = controls(this.effects, this.seat);
    const ex = p.exact;
    this.auth = ex
      ? { fx: num(ex.fx), fy: num(ex.fy), hf: num(ex.hf) >>> 0, speedQ16, reversed, alive: true }
      : { ...fromWire(p.x, p.y, p.heading), speedQ16, reversed, alive: true };
    this.exact = !!ex;
    if (ex && ex.seq != null) this.acknowledge(num(ex.seq), s.tick);
    else if (ex) {
      // This socket's inputs have not reached the room yet (or it sent none).
      this.ackSeq = null;
      this.ackTurn = null;
    }
    this.path.push({ tick: s.tick, x: p.x, y: p.y, solid: false });
  }

  /** The player sent `input {turn, seq}`, to apply from predicted tick `tick`. */
  sent(seq: number, turn: number, tick: number): void {
    this.pending.push({ seq, turn, tick });
    this.sentTurns.set(seq, turn);
  }

  private acknowledge(seq: number, tick: number): void {
    this.ackSeq = seq;
    this.ackTurn = this.sentTurns.get(seq) ?? null;
    this.pending = this.pending.filter((i) => i.seq > seq);
    for (const k of this.sentTurns.keys()) if (k < seq) this.sentTurns.delete(k);
    this.onAck?.(seq, tick);
  }

  /** The turn the server applies now: the acknowledged input's, else the one last seen. */
  private authTurn(): number {
    return this.ackTurn ?? this.seenTurn;
  }

  /** Applies one tick as it arrives (every tick, in order, before the arena sees it). */
  applyTick(t: Tick): void {
    const phase = this.phase;
    const mine: HeadUpdate | undefined = t.heads.find((x) => x.s === this.seat);
    if (mine?.a != null) this.acknowledge(num(mine.a), t.tick);
    const h = this.auth;
    if (h && h.alive && (phase === "countdown" || phase === "playing")) {
      const seenHeading = h.hf >>> 16;
      if (this.exact) {
        stepHead(this.motion, h, this.authTurn(), phase === "playing", this.wraps(t.tick));
      }
      if (mine && (!this.exact || wireOf(h.fx) !== mine.x || wireOf(h.fy) !== mine.y || h.hf >>> 16 !== mine.h)) {
        if (this.exact) this.reseeds++;
        this.seenTurn = turnBetween(seenHeading, mine.h);
        Object.assign(h, fromWire(mine.x, mine.y, mine.h));
        this.exact = false;
      }
      if (mine) this.path.push({ tick: t.tick, x: mine.x, y: mine.y, solid: mine.d === 1 });
    }
    for (const e of t.events) {
      switch (e.type) {
        case "round_start": {
          this.effects = [];
          this.path = [];
          const p = e.players.find((x) => x.seat === this.seat);
          if (p) {
            const exact = p.hf != null;
            this.auth = {
              fx: p.x * FINE_PER_WIRE,
              fy: p.y * FINE_PER_WIRE,
              hf: exact ? num(p.hf) >>> 0 : fromWire(p.x, p.y, p.heading).hf,
              speedQ16: Q16,
              reversed: false,
              alive: true,
            };
            this.exact = exact;
            this.path.push({ tick: t.tick, x: p.x, y: p.y, solid: false });
          } else {
            this.auth = null;
          }
          break;
        }
        case "phase":
          this.phase = e.phase;
          this.phaseEndsAt = e.ends_at ?? null;
          if (e.phase === "waiting" && this.auth) this.auth.alive = false;
          break;
        case "death":
          if (e.seat === this.seat && this.auth) this.auth.alive = false;
          break;
        case "left":
          if (e.seat === this.seat) this.auth = null;
          break;
        case "effect_start":
          this.effects.push(liteEffect(e.effect));
          break;
        case "effect_end":
          this.effects = this.effects.filter((x) => x.id !== e.id);
          break;
        default:
          break;
      }
    }
    // `update_effects` runs after pickups and deaths, only while playing.
    if (phase === "playing" && this.auth?.alive) Object.assign(this.auth, controls(this.effects, this.seat));
    this.tick = t.tick;
    if (this.path.length > 600) this.path.splice(0, this.path.length - 600);
  }

  /** Whether walls wrap during tick `k` (effects still active after tick `k - 1`). */
  private wraps(k: number): boolean {
    return this.effects.some((e) => e.kind === "wrap_all" && e.ends_at > k - 1);
  }

  /** The phase during tick `k` > `this.tick`: a countdown turns into play after it ends. */
  private phaseAt(k: number): Phase {
    if (this.phase === "countdown" && this.phaseEndsAt !== null && k > this.phaseEndsAt) return "playing";
    return this.phase;
  }

  /** The turn the head takes in predicted tick `k`: the newest sent input due by then. */
  turnAt(k: number): number {
    let turn = this.authTurn();
    for (const i of this.pending) if (Math.max(i.tick, this.tick + 1) <= k) turn = i.turn;
    return turn;
  }

  /**
   * The head after tick `to` (≥ `this.tick`), stepped from the authoritative shadow with
   * the pending inputs, and every wire point on the way (`out`, if given). Null when
   * there is nothing to predict (no head, dead, or a phase in which heads do not move).
   */
  predict(to: number, out?: PathPoint[]): HeadState | null {
    const a = this.auth;
    if (!a || !a.alive) return null;
    const h = { ...a };
    for (let k = this.tick + 1; k <= to; k++) {
      const phase = this.phaseAt(k);
      if (phase !== "countdown" && phase !== "playing") break;
      // Effects that end before tick k no longer apply (`update_effects` of tick k - 1).
      const active = this.effects.filter((e) => e.ends_at > k - 1);
      if (phase === "playing") Object.assign(h, controls(active, this.seat));
      const wrap = active.some((e) => e.kind === "wrap_all");
      const before = [wireOf(h.fx), wireOf(h.fy)];
      if (!stepHead(this.motion, h, this.turnAt(k), phase === "playing", wrap, true)) break;
      if (out && phase === "playing") {
        const x = wireOf(h.fx);
        const y = wireOf(h.fy);
        const jumped = Math.abs(x - before[0]) > 1000 || Math.abs(y - before[1]) > 1000;
        out.push({ tick: k, x, y, solid: !jumped });
      }
    }
    return h;
  }
}

function liteEffect(e: Effect): EffectLite {
  return { id: e.id, kind: e.kind, targets: [...e.targets], ends_at: num(e.ends_at) };
}

/** A full-precision head from wire values (the middle of what they round down from). */
function fromWire(x: number, y: number, heading: number): { fx: number; fy: number; hf: number } {
  return { fx: x * FINE_PER_WIRE + FINE_PER_WIRE / 2, fy: y * FINE_PER_WIRE + FINE_PER_WIRE / 2, hf: ((heading << 16) | 0x8000) >>> 0 };
}

/** -1, 0 or 1: which way a u16 heading went between two ticks. */
function turnBetween(from: number, to: number): number {
  const d = (((to - from) % 65536) + 98304) % 65536 - 32768;
  return d > 8 ? 1 : d < -8 ? -1 : 0;
}

function num(v: unknown): number {
  return typeof v === "bigint" ? Number(v) : (v as number);
}
