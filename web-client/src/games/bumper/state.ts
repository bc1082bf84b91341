// A Bumper room as its frames build it: a `snapshot` replaces the state, each `tick`
// applied in order moves the discs and applies its events. Plain state, no drawing and
// no timing: the playout (playout.ts) decides when a tick is applied and where a disc is
// drawn between two ticks.

import { OutOfSequence, seatColor } from "../../wire";
import {
  DASH_COOLDOWN_S,
  RESPAWN_S,
  type BumperConfig,
  type BumperEvent,
  type BumperPhase,
  type Snapshot,
  type Tick,
} from "./wire";

/** What `applyTick` throws for a tick that does not follow (every game's: ../../wire.ts). */
export { OutOfSequence };

export interface Disc {
  seat: number;
  id: string;
  name: string;
  color: string;
  points: number;
  falls: number;
  ready: boolean;
  connected: boolean;
  /** On the floe; a fallen disc waits to respawn. */
  alive: boolean;
  /** Position, wire units; velocity, wire units per second. */
  x: number;
  y: number;
  vx: number;
  vy: number;
  /** The tick from which the dash is ready again. */
  dashReadyAt: number;
  /** The tick a fallen disc respawns at (null while on the floe). */
  respawnAt: number | null;
  /** The last input `seq` the server applied for this seat (its `a`), if any. */
  ack: number | null;
}

/** A tick that does not follow the state's: a tick went missing, a fresh snapshot is needed. */
export class BumperState {
  tick = 0;
  phase: BumperPhase = "waiting";
  phaseEndsAt: number | null = null;
  matchEndsAt: number | null = null;
  target: number;
  /** The floe's radius now, wire units. */
  floeR: number;
  /** Seated players, in seat order. */
  players: Disc[] = [];
  /** Events of the last applied tick (for the renderer's effects; not part of the state). */
  lastEvents: BumperEvent[] = [];

  constructor(
    readonly config: BumperConfig,
    s?: Snapshot,
  ) {
    this.target = config.target;
    this.floeR = config.floe_r;
    if (s) this.applySnapshot(s);
  }

  /** Replaces the whole state by a snapshot (a join or a resync). */
  applySnapshot(s: Snapshot): void {
    this.tick = s.tick;
    this.phase = s.phase;
    this.phaseEndsAt = s.phase_ends_at;
    this.matchEndsAt = s.match_ends_at;
    this.target = s.target || this.config.target;
    this.floeR = s.floe_r || this.config.floe_r;
    this.players = s.players
      .map((p) => ({
        seat: p.seat,
        id: p.id,
        name: p.name,
        color: p.color || seatColor(p.seat),
        points: p.points,
        falls: p.falls,
        ready: p.ready,
        connected: p.connected,
        alive: p.alive,
        x: p.x,
        y: p.y,
        vx: p.vx,
        vy: p.vy,
        dashReadyAt: p.dash_ready_at,
        respawnAt: p.respawn_at,
        ack: p.seq,
      }))
      .sort((a, b) => a.seat - b.seat);
    this.lastEvents = [];
  }

  /** The player in `seat`, if seated. */
  player(seat: number): Disc | undefined {
    return this.players.find((p) => p.seat === seat);
  }

  /**
   * Applies one tick: its events in order, then the floe, then the discs — every disc on
   * the floe is listed, a seat not listed is off it (as `kurve_shared::bumper::Board`).
   * While waiting no ticks flow, so the first tick after it may jump (as Curve's);
   * otherwise a tick must follow the last one (OutOfSequence).
   */
  applyTick(t: Tick): void {
    if (t.tick !== this.tick + 1 && this.phase !== "waiting") {
      throw new OutOfSequence(this.tick + 1, t.tick);
    }
    this.tick = t.tick;
    for (const e of t.ev) this.applyEvent(e);
    if (t.r !== null) this.floeR = t.r;
    for (const p of this.players) {
      const u = t.d.find((d) => d.s === p.seat);
      if (!u) {
        if (p.alive && p.respawnAt === null) p.respawnAt = this.tick + this.ticks(RESPAWN_S);
        p.alive = false;
        continue;
      }
      p.alive = true;
      p.respawnAt = null;
      p.x = u.x;
      p.y = u.y;
      p.vx = u.vx;
      p.vy = u.vy;
      if (u.a !== undefined) p.ack = u.a;
    }
    this.lastEvents = t.ev;
  }

  private ticks(seconds: number): number {
    return Math.round(seconds * (this.config.tick_hz || 60));
  }

  private applyEvent(e: BumperEvent): void {
    switch (e.e) {
      case "phase":
        this.phase = e.phase;
        this.phaseEndsAt = e.ends_at;
        if (e.phase === "waiting") {
          // Back to waiting: ready flags reset, the floe is whole again.
          for (const p of this.players) p.ready = false;
          this.floeR = this.config.floe_r;
          this.matchEndsAt = null;
        }
        if (e.phase === "countdown") this.floeR = this.config.floe_r;
        break;
      case "start": {
        // A match begins: every player at their place, at rest, with no points yet.
        this.matchEndsAt = e.match_ends_at;
        for (const sp of e.players) {
          let p = this.player(sp.seat);
          if (!p || p.id !== sp.id) p = this.seat(sp.seat, sp.id, sp.name);
          Object.assign(p, { x: sp.x, y: sp.y, vx: 0, vy: 0, alive: true, respawnAt: null, points: 0, falls: 0 });
        }
        break;
      }
      case "fall": {
        const p = this.player(e.seat);
        if (p) {
          // The count comes with the `score` event the fall brings.
          p.alive = false;
          p.respawnAt = this.tick + this.ticks(RESPAWN_S);
        }
        break;
      }
      case "spawn": {
        const p = this.player(e.seat);
        if (p) {
          p.alive = true;
          p.x = e.x;
          p.y = e.y;
          p.vx = 0;
          p.vy = 0;
          p.respawnAt = null;
        }
        break;
      }
      case "dash": {
        const p = this.player(e.seat);
        if (p) p.dashReadyAt = this.tick + this.ticks(DASH_COOLDOWN_S);
        break;
      }
      case "score": {
        const p = this.player(e.seat);
        if (p) {
          p.points = e.points;
          p.falls = e.falls;
        }
        break;
      }
      case "connection": {
        const p = this.player(e.seat);
        if (p) p.connected = e.connected;
        break;
      }
      case "seat": {
        const p = this.player(e.seat);
        if (p && p.id === e.id) p.name = e.name;
        else this.seat(e.seat, e.id, e.name);
        break;
      }
      case "left":
        this.players = this.players.filter((p) => p.seat !== e.seat);
        break;
      case "ready": {
        const p = this.player(e.seat);
        if (p) p.ready = e.ready;
        break;
      }
    }
  }

  /** Seats a new player in `seat` (whoever sat there before is gone); returns them. */
  private seat(seat: number, id: string, name: string): Disc {
    const p: Disc = {
      seat,
      id,
      name,
      color: seatColor(seat),
      points: 0,
      falls: 0,
      ready: false,
      connected: true,
      alive: false,
      x: 0,
      y: 0,
      vx: 0,
      vy: 0,
      dashReadyAt: 0,
      respawnAt: null,
      ack: null,
    };
    this.players = this.players.filter((q) => q.seat !== seat);
    this.players.push(p);
    this.players.sort((a, b) => a.seat - b.seat);
    return p;
  }

  /** Seconds left on the match clock (null outside a match). */
  clockSeconds(): number | null {
    if (this.matchEndsAt === null || (this.phase !== "playing" && this.phase !== "finished")) return null;
    return Math.max(0, (this.matchEndsAt - this.tick) / (this.config.tick_hz || 60));
  }

  /** How much of a disc's dash cooldown is still to run, 0 (ready) to 1 (just dashed). */
  dashCooldown(p: Disc): number {
    const left = p.dashReadyAt - this.tick;
    if (left <= 0) return 0;
    return Math.min(1, left / this.ticks(DASH_COOLDOWN_S));
  }

  /** A compact fingerprint of the state, to compare two clients' reconstructions. */
  fingerprint(): string {
    const ps = this.players
      .map((p) => `${p.seat}:${p.x},${p.y},${p.vx},${p.vy},${p.alive ? 1 : 0},${p.points},${p.falls}`)
      .join(";");
    return `${this.tick}|${this.phase}|${this.floeR}|${ps}`;
  }
}
