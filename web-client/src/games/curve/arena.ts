// The client-side arena: a snapshot plus every tick applied in order gives exactly the
// state the server drew. A TypeScript port of the reference client
// `kurve_shared::game::Arena` (shared/src/game/arena.rs); keep the two in step.

import { OutOfSequence } from "../../wire";
import {
  Draw,
  seatColor,
  type ArenaConfig,
  type Effect,
  type HeadUpdate,
  type Item,
  type Phase,
  type Snapshot,
  type Tick,
  type TickEvent,
} from "./wire";

/** What `applyTick` throws for a tick that does not follow (every game's: ../../wire.ts). */
export { OutOfSequence };

export type Pt = [number, number];

export interface ArenaPlayer {
  seat: number;
  id: string;
  name: string;
  color: string;
  score: number;
  ready: boolean;
  connected: boolean;
  alive: boolean;
  /** Head position, wire units. */
  pos: Pt;
  heading: number;
  /** Line radius, wire units. */
  radius: number;
  gap: boolean;
  /** Index into `trails` of the polyline being extended, if any. */
  open: number | null;
}

export interface Trail {
  seat: number;
  r: number;
  points: Pt[];
}

/** What a renderer needs to hear about to keep an incremental trail layer in step. */
export interface ArenaListener {
  /** The trails were replaced or erased: redraw the trail layer from `trails`. */
  reset(): void;
  /** A solid segment was laid. */
  segment(seat: number, r: number, a: Pt, b: Pt): void;
}

/** Decodes a delta-encoded flat polyline `[x0, y0, dx1, dy1, …]` to absolute points. */
export function polylinePoints(pts: number[]): Pt[] {
  const out: Pt[] = [];
  let x = 0;
  let y = 0;
  for (let i = 0; i + 1 < pts.length; i += 2) {
    x += pts[i];
    y += pts[i + 1];
    out.push([x, y]);
  }
  return out;
}

export class Arena {
  tick = 0;
  phase: Phase = "waiting";
  round = 0;
  phaseEndsAt: number | null = null;
  target = 0;
  config: ArenaConfig;
  players: ArenaPlayer[] = [];
  trails: Trail[] = [];
  items: Item[] = [];
  effects: Effect[] = [];
  /** Events of the last applied tick (for sounds / flashes; not part of the state). */
  lastEvents: TickEvent[] = [];
  listener: ArenaListener | null = null;

  constructor(s: Snapshot, listener: ArenaListener | null = null) {
    this.config = s.config;
    this.listener = listener;
    this.applySnapshot(s);
  }

  /** Replaces the whole state by a snapshot (a join or a resync). */
  applySnapshot(s: Snapshot): void {
    this.tick = s.tick;
    this.phase = s.phase;
    this.round = s.round;
    this.phaseEndsAt = s.phase_ends_at;
    this.target = s.target;
    this.config = { ...s.config };
    this.items = s.items.map((i) => ({ ...i }));
    this.effects = s.effects.map((e) => ({ ...e, targets: [...e.targets] }));
    this.trails = s.trails.map((pl) => ({ seat: pl.seat, r: pl.r, points: polylinePoints(pl.pts) }));
    this.players = s.players.map((p) => {
      let open: number | null = null;
      if (p.pen) {
        for (let i = this.trails.length - 1; i >= 0; i--) {
          if (this.trails[i].seat === p.seat) {
            open = i;
            break;
          }
        }
      }
      return {
        seat: p.seat,
        id: p.id,
        name: p.name,
        color: p.color,
        score: p.score,
        ready: p.ready,
        connected: p.connected,
        alive: p.alive,
        pos: [p.x, p.y],
        heading: p.heading,
        radius: p.radius,
        gap: p.gap,
        open,
      };
    });
    this.lastEvents = [];
    this.listener?.reset();
  }

  /** The player in `seat`, if seated. */
  player(seat: number): ArenaPlayer | undefined {
    return this.players.find((p) => p.seat === seat);
  }

  /** Applies one tick: heads first, then events in order. Throws OutOfSequence. */
  applyTick(t: Tick): void {
    if (t.tick !== this.tick + 1 && this.phase !== "waiting") {
      throw new OutOfSequence(this.tick + 1, t.tick);
    }
    this.tick = t.tick;
    for (const h of t.heads) this.applyHead(h);
    for (const e of t.events) this.applyEvent(e);
    this.lastEvents = t.events;
  }

  private applyHead(h: HeadUpdate): void {
    const p = this.player(h.s);
    if (!p) return;
    const from = p.pos;
    const to: Pt = [h.x, h.y];
    let open = p.open;
    switch (h.d) {
      case Draw.Still:
        break;
      case Draw.Solid: {
        if (open !== null) {
          this.trails[open].points.push(to);
        } else {
          this.trails.push({ seat: h.s, r: p.radius, points: [from, to] });
          open = this.trails.length - 1;
        }
        this.listener?.segment(h.s, this.trails[open].r, from, to);
        break;
      }
      case Draw.Gap:
      case Draw.Wrap:
        open = null;
        break;
    }
    p.pos = to;
    p.heading = h.h;
    p.open = open;
  }

  private applyEvent(e: TickEvent): void {
    switch (e.type) {
      case "round_start":
        this.round = e.round;
        this.target = e.target;
        this.trails = [];
        this.items = [];
        this.effects = [];
        this.players = e.players.map((p) => ({
          seat: p.seat,
          id: p.id,
          name: p.name,
          color: p.color ? p.color : seatColor(p.seat),
          score: p.score,
          ready: true,
          connected: p.connected,
          alive: true,
          pos: [p.x, p.y],
          heading: p.heading,
          radius: p.radius,
          gap: false,
          open: null,
        }));
        this.listener?.reset();
        break;
      case "phase":
        this.phase = e.phase;
        this.round = e.round;
        this.phaseEndsAt = e.ends_at ?? null;
        if (e.phase === "waiting") {
          // Back to waiting: the board is cleared and ready flags reset.
          this.trails = [];
          this.items = [];
          this.effects = [];
          for (const p of this.players) {
            p.ready = false;
            p.alive = false;
            p.open = null;
          }
          this.listener?.reset();
        }
        break;
      case "gap": {
        const p = this.player(e.seat);
        if (p) p.gap = e.on;
        break;
      }
      case "death": {
        const p = this.player(e.seat);
        if (p) {
          p.alive = false;
          p.open = null;
        }
        break;
      }
      case "score": {
        const p = this.player(e.seat);
        if (p) p.score = e.score;
        break;
      }
      case "item_spawn":
        this.items.push({ ...e.item });
        break;
      case "item_pickup":
        this.items = this.items.filter((i) => i.id !== e.id);
        break;
      case "effect_start":
        this.effects.push({ ...e.effect, targets: [...e.effect.targets] });
        break;
      case "effect_end":
        this.effects = this.effects.filter((x) => x.id !== e.id);
        break;
      case "radius": {
        const p = this.player(e.seat);
        if (p) {
          p.radius = e.r;
          p.open = null;
        }
        break;
      }
      case "clear":
        this.trails = [];
        for (const p of this.players) p.open = null;
        this.listener?.reset();
        break;
      case "round_end":
      case "match_end":
        for (const s of e.scores) {
          const p = this.player(s.seat);
          if (p) p.score = s.score;
        }
        break;
      case "connection": {
        const p = this.player(e.seat);
        if (p) p.connected = e.connected;
        break;
      }
      case "left":
        this.players = this.players.filter((p) => p.seat !== e.seat);
        break;
    }
  }

  /** Whether walls wrap right now (a `wrap_all` effect is active). */
  wallsWrap(): boolean {
    return this.effects.some((e) => e.kind === "wrap_all");
  }

  /** A compact fingerprint of the state, to compare two clients' reconstructions. */
  fingerprint(): string {
    let pts = 0;
    let sx = 0;
    let sy = 0;
    for (const t of this.trails) {
      pts += t.points.length;
      for (const [x, y] of t.points) {
        sx = (sx + x) % 1000000007;
        sy = (sy + y) % 1000000007;
      }
    }
    const ps = this.players
      .map((p) => `${p.seat}:${p.pos[0]},${p.pos[1]},${p.heading},${p.alive ? 1 : 0},${p.score},${p.radius}`)
      .join(";");
    const items = this.items.map((i) => `${i.id}${i.kind}`).join(",");
    return `${this.tick}|${this.phase}|${this.round}|${ps}|${this.trails.length}/${pts}/${sx}/${sy}|${items}|${this.effects.length}`;
  }
}
