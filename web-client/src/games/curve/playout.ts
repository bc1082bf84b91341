// The arena of a room view as the room's binary frames build it, through the shared
// playout buffer (room/playout.ts: a `snapshot` resets it, ticks reach it when their time
// comes so other heads move evenly, a missed tick asks for a fresh snapshot); the own
// head is predicted from the acknowledged inputs (predict.ts) and drawn ahead of the
// ticks. Each animation frame (`frame`) applies the ticks due and places the heads the
// renderer draws.

import { TickPlayout, type PlayoutHooks } from "../../room/playout";
import { Arena } from "./arena";
import { OwnHead, wireOf, type PathPoint } from "./predict";
import type { ArenaRenderer } from "./render";
import { decodeSnapshot, decodeTick, decodeTicks, type Motion, type Snapshot, type Tick } from "./wire";

/** Corrections kept for `window.kurve.bench()`. */
const MAX_CORRECTIONS = 4000;
/** Frames of the own head kept for `window.kurve.bench()` (10 s at 60 fps). */
const MAX_DRAWN = 600;

/** `?predict=0` draws the own head where the last tick put it, as before prediction. */
function predictionEnabled(): boolean {
  return new URLSearchParams(location.search).get("predict") !== "0";
}

/** What was drawn of the own head in one frame (for the key-press measurement). */
interface DrawnFrame {
  t: number;
  heading: number;
  x: number;
  y: number;
  seq: number;
  ackSeq: number | null;
}

/** What the playout tells the room view. */
export interface CurvePlayoutHooks extends PlayoutHooks {
  /** A tick took the room back to waiting (every ready flag reset). */
  backToWaiting(): void;
}

export class Playout extends TickPlayout<Arena, Snapshot, Tick> {
  declare protected readonly hooks: CurvePlayoutHooks;
  /** This client's seat as the join reply said, then as round starts re-seat it. */
  seat: number | null = null;
  /** The room's motion rules, from the join reply's config. */
  motion: Motion | null = null;
  /** Own head prediction (`?predict=0`: off). */
  readonly predicting = predictionEnabled();
  /**
   * Distance between predicted and authoritative own head as each tick arrived, px;
   * `clean`: predicted with no input in flight and nothing unforeseeable since (the
   * port is exact, so these are 0).
   */
  corrections: { tick: number; px: number; clean: boolean }[] = [];
  /** The own head as drawn in recent frames. */
  drawn: DrawnFrame[] = [];
  private own: OwnHead | null = null;
  /** Inputs sent in this room view, numbered from 1 (`seq`). */
  private seq = 0;
  /** `latestTick` when each unacknowledged input was sent (calibrates the lead). */
  private sentAt = new Map<number, number>();
  /**
   * The own head as last predicted for recent ticks, to measure each correction: made
   * when the shadow was at tick `from`, with no input in flight (`quiet`) or some.
   */
  private predictedAt = new Map<number, { x: number; y: number; from: number; quiet: boolean }>();
  /** The last tick that brought something no prediction can know of (pickup, death…). */
  private surpriseTick = 0;
  /** What this frame draws: the own head's prediction and the others between ticks. */
  private view = new Map<number, { x: number; y: number; heading: number }>();

  constructor(
    private renderer: ArenaRenderer,
    private myId: string,
    /** Whether this client plays (has a seat to steer) rather than watches. */
    private playing: () => boolean,
    hooks: CurvePlayoutHooks,
  ) {
    super({ decodeSnapshot, decodeTick, decodeTicks }, 1000 / 60, hooks);
    renderer.beforeFrame = (now) => this.frame(now);
    renderer.headAt = (seat) => this.view.get(seat) ?? null;
  }

  /** The arena (the playout's state). */
  get arena(): Arena | null {
    return this.state;
  }

  mySeat(): number | null {
    const me = this.arena?.players.find((p) => p.id === this.myId);
    return me ? me.seat : this.seat;
  }

  protected create(s: Snapshot): Arena {
    return new Arena(s);
  }

  /** The arena was replaced: the renderer draws it, the own head's shadow starts over from it. */
  protected replaced(s: Snapshot): void {
    this.renderer.attach(this.arena!);
    this.renderer.mySeat = this.playing() ? this.mySeat() : null;
    this.clock.periodMs = this.tickPeriodMs();
    this.predictedAt.clear();
    const seat = this.playing() ? this.mySeat() : null;
    if (this.predicting && seat !== null) {
      if (!this.own || this.own.seat !== seat) this.own = this.newOwn(seat);
      this.own.applySnapshot(s);
    } else {
      this.own = null;
    }
  }

  private newOwn(seat: number): OwnHead {
    const cfg = this.arena!.config;
    const own = new OwnHead(seat, {
      tick_hz: cfg.tick_hz,
      arena_w: cfg.w,
      arena_h: cfg.h,
      // The join config's `motion`; a server that sends none runs GAME.md's defaults.
      // Were the rules wrong, the shadow would miss its checks and re-seed from every
      // tick (counted in `reseeds`): prediction degrades, nothing wrong is drawn for long.
      speed_px_per_s: this.motion?.speed_px_per_s ?? 90,
      turn_rate_mrad_per_s: this.motion?.turn_rate_mrad_per_s ?? 2950,
    });
    own.onAck = (seq, tick) => {
      const at = this.sentAt.get(seq);
      if (at !== undefined) this.clock.leadSample(at, tick);
      for (const k of this.sentAt.keys()) if (k <= seq) this.sentAt.delete(k);
    };
    return own;
  }

  private tickPeriodMs(): number {
    return 1000 / (this.arena?.config.tick_hz || 60);
  }

  /**
   * A tick arrived. The own head's shadow takes it at once (the prediction starts from
   * the newest authoritative state); the arena takes it from the playout buffer, when
   * its time comes (`frame`), so heads and trails of others move evenly despite jitter.
   * With `?predict=0` the arena takes it at once, as before.
   */
  protected override arrived(t: Tick): void {
    if (this.own) this.feedOwn(t);
    if (this.predicting) super.arrived(t);
    else this.apply(t);
  }

  /** The own head's shadow takes a tick; the correction it makes is measured. */
  private feedOwn(t: Tick): void {
    const own = this.own!;
    if (t.tick !== own.tick + 1 && own.phase !== "waiting") {
      // A tick is missing: the arena asks for a snapshot, which resets the shadow too.
      own.auth = null;
      return;
    }
    own.applyTick(t);
    const seat = own.seat;
    const surprise = t.events.some(
      (e) =>
        e.type === "round_start" ||
        e.type === "clear" ||
        e.type === "phase" ||
        e.type === "item_pickup" ||
        (e.type === "effect_start" && e.effect.targets.includes(seat)) ||
        ((e.type === "death" || e.type === "left") && e.seat === seat),
    );
    const p = this.predictedAt.get(t.tick);
    const a = own.auth;
    if (p && a?.alive) {
      const dx = wireOf(a.fx) - p.x;
      const dy = wireOf(a.fy) - p.y;
      const px = Math.hypot(dx, dy) / (this.arena?.config.pos_scale || 32);
      const clean = p.quiet && p.from >= this.surpriseTick && !surprise;
      this.corrections.push({ tick: t.tick, px, clean });
      if (this.corrections.length > MAX_CORRECTIONS) this.corrections.shift();
    }
    if (surprise) this.surpriseTick = t.tick;
    for (const k of this.predictedAt.keys()) if (k <= t.tick) this.predictedAt.delete(k);
  }

  /**
   * Everything one animation frame draws, at its timestamp: the ticks due from the
   * playout buffer, other heads between two ticks, and the own head predicted.
   */
  private frame(now: number): void {
    const a = this.arena;
    this.view.clear();
    this.renderer.predictedTrail = null;
    if (!a || this.awaitingSnapshot) return;
    if (this.predicting) {
      // The playout buffer: apply every tick at or before the render tick.
      const render = this.renderTick(now);
      if (!this.drain(render)) return;
      // Other heads between the arena's tick and the next buffered one.
      const next = this.next;
      const f = Math.min(1, Math.max(0, render - a.tick));
      if (next && next.tick === a.tick + 1 && f > 0) {
        for (const hu of next.heads) {
          const p = a.player(hu.s);
          if (!p || !p.alive || hu.d === 3) continue;
          this.view.set(hu.s, { x: p.pos[0] + (hu.x - p.pos[0]) * f, y: p.pos[1] + (hu.y - p.pos[1]) * f, heading: hu.h });
        }
      }
      this.predictOwn(now);
    }
    const own = this.own;
    const seat = this.mySeat();
    if (seat !== null && this.playing()) {
      const v = this.view.get(seat);
      const p = a.player(seat);
      const drawn = v ?? (p ? { x: p.pos[0], y: p.pos[1], heading: p.heading } : null);
      if (drawn) {
        this.drawn.push({ t: now, heading: drawn.heading, x: drawn.x, y: drawn.y, seq: this.seq, ackSeq: own?.ackSeq ?? null });
        if (this.drawn.length > MAX_DRAWN) this.drawn.shift();
      }
    }
  }

  /** The own head at `now`: the shadow stepped to the predicted tick with the inputs in flight. */
  private predictOwn(now: number): void {
    const own = this.own;
    const a = this.arena!;
    if (!own || !own.auth?.alive || (own.phase !== "countdown" && own.phase !== "playing")) return;
    const me = a.player(own.seat);
    if (!me || !me.alive) return; // dead in the arena's (buffered) view: shown as dead
    const frontier = Math.max(own.tick, this.clock.latestTick(now) + this.clock.leadTicks());
    const base = Math.floor(frontier);
    const path: PathPoint[] = [];
    const h = own.predict(base + 1, path);
    if (!h) return;
    const quiet = own.pending.length === 0;
    // The last prediction made for each tick is the one a correction is measured against.
    for (const q of path) this.predictedAt.set(q.tick, { x: q.x, y: q.y, from: own.tick, quiet });
    const end = path[path.length - 1];
    const prev = path.length >= 2 ? path[path.length - 2] : { x: wireOf(own.auth.fx), y: wireOf(own.auth.fy) };
    const f = frontier - base;
    let x = end ? prev.x + (end.x - prev.x) * f : wireOf(h.fx);
    let y = end ? prev.y + (end.y - prev.y) * f : wireOf(h.fy);
    if (end && !end.solid) [x, y] = [end.x, end.y]; // a wrap: no sliding across the arena
    this.view.set(own.seat, { x, y, heading: h.hf >>> 16 });
    // The own trail from the arena's (buffered) tick to the predicted head.
    const pts = [{ x: me.pos[0], y: me.pos[1], solid: false }];
    for (const q of own.path) if (q.tick > a.tick) pts.push(q);
    const drawing = !me.gap && !a.effects.some((e) => e.kind === "ghost_self" && e.targets.includes(own.seat));
    for (const q of path.slice(0, -1)) pts.push({ ...q, solid: q.solid && drawing });
    pts.push({ x, y, solid: drawing && (end?.solid ?? true) });
    this.renderer.predictedTrail = { seat: own.seat, r: me.radius, pts };
  }

  /** A tick reached the arena: deaths and pickups burst, a new round may re-seat this client. */
  protected applied(t: Tick): void {
    const a = this.arena!;
    for (const e of t.events) {
      if (e.type === "death") {
        const p = a.player(e.seat);
        if (p) this.renderer.burst(p.pos[0], p.pos[1], p.color, true);
      } else if (e.type === "item_pickup") {
        const p = a.player(e.seat);
        if (p) this.renderer.burst(p.pos[0], p.pos[1], "#ffffff", false);
      }
      if (e.type === "round_start" || (e.type === "phase" && e.phase === "waiting")) {
        // A new round (or back to waiting): my seat may have changed colour or gone.
        const me = a.players.find((p) => p.id === this.myId);
        if (me) this.seat = me.seat;
        if (e.type === "phase") this.hooks.backToWaiting();
      }
    }
    this.renderer.mySeat = this.playing() ? this.mySeat() : null;
  }

  /** Numbers the next input (`seq`, from 1 in this view). */
  nextSeq(): number {
    return ++this.seq;
  }

  /** Input `seq` (turn `turn`) was sent: the prediction applies it from the tick it is expected at. */
  sent(seq: number, turn: number): void {
    if (this.own && this.clock.synced) {
      const latest = this.clock.latestTick(performance.now());
      this.sentAt.set(seq, latest);
      // Applied from the first tick at or after the predicted frontier: the next frame
      // already draws the head turning.
      this.own.sent(seq, turn, Math.max(this.own.tick + 1, Math.ceil(latest + this.clock.leadTicks())));
    } else {
      this.own?.sent(seq, turn, (this.own?.tick ?? 0) + 1);
    }
  }

  /**
   * `window.kurve.debug()` (CONTRACT §10): the heads as drawn this frame, in arena px,
   * headings in radians; `tick` is the newest tick received.
   */
  netDebug() {
    const a = this.arena;
    const k = a?.config.pos_scale || 32;
    const seat = this.playing() ? this.mySeat() : null;
    return {
      seat,
      tick: this.received,
      predicting: this.predicting && !!this.own,
      rttMs: this.clock.rttMs,
      heads: (a?.players ?? [])
        .filter(() => a?.phase !== "waiting")
        .map((p) => {
          const v = p.alive ? this.view.get(p.seat) : undefined;
          const x = v ? v.x : p.pos[0];
          const y = v ? v.y : p.pos[1];
          const hd = v ? v.heading : p.heading;
          return { seat: p.seat, x: x / k, y: y / k, heading: (hd / 65536) * 2 * Math.PI, alive: p.alive };
        }),
    };
  }

  /**
   * What the key-press measurement and the browser test read: the own head as drawn
   * per frame, each correction, the authoritative own head, inputs sent and acknowledged.
   */
  netBench() {
    const own = this.own;
    const k = this.arena?.config.pos_scale || 32;
    return {
      seq: this.seq,
      ackSeq: own?.ackSeq ?? null,
      pending: own?.pending.length ?? 0,
      reseeds: own?.reseeds ?? 0,
      leadTicks: this.clock.leadTicks(),
      bufferTicks: this.clock.bufferTicks(),
      jitterMs: this.clock.jitterMs(),
      auth: own?.auth ? { tick: own.tick, x: own.auth.fx / 32 / k, y: own.auth.fy / 32 / k, heading: own.auth.hf, alive: own.auth.alive } : null,
      corrections: this.corrections.map((c) => ({ ...c })),
      drawn: this.drawn.map((d) => ({ ...d })),
    };
  }
}
