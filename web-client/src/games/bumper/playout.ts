// A Bumper room's frames through a playout buffer: a `snapshot` resets the state; `tick`s
// and `ticks` wait in a buffer sized from the measured jitter (netclock.ts) and reach the
// state when their time comes, so discs move evenly although the room sends several ticks
// per frame (`send_hz` below `tick_hz`). Each animation frame (`frame(now)`) applies the
// ticks due and places every disc between the state's tick and the next one. A missed
// tick asks for a fresh snapshot. No prediction: the own disc is drawn as the others.
//
// Every method that depends on time takes `now` (a `performance.now()` instant), so the
// tests drive it with plain numbers.

import { NetClock } from "../../netclock";
import { BumperState, OutOfSequence } from "./state";
import { decodeSnapshot, decodeTick, decodeTicks, type BumperConfig, type Snapshot, type Tick } from "./wire";

/** The playout buffer never holds more than this many ticks (0.5 s at 60 Hz): beyond, it catches up. */
const MAX_BUFFERED_TICKS = 30;
/** Ticks kept while no snapshot is there to apply them to (10 s at 60 Hz). */
const MAX_PENDING_TICKS = 600;
/** Per-tick fingerprints kept when a test asks for them. */
const MAX_FINGERPRINTS = 1200;

/** What the playout tells its room view. */
export interface BumperPlayoutHooks {
  /** A tick is missing: the channel must rejoin for a fresh snapshot. */
  resync(): void;
  /** A snapshot replaced the state. */
  snapshotApplied(): void;
  /** A tick reached the state (its events are in `state.lastEvents`). */
  applied(t: Tick): void;
}

/** Where a disc is drawn, wire units. */
export interface DrawnDisc {
  x: number;
  y: number;
}

export class BumperPlayout {
  state: BumperState | null = null;
  /** Number of snapshots applied (joins, rejoins and resyncs). */
  snapshots = 0;
  /** Number of resyncs asked for after a missed tick. */
  resyncs = 0;
  /** No snapshot since the join or since a tick went missing: ticks wait in `pending`. */
  awaitingSnapshot = true;
  /** When the last snapshot replaced a state already shown. */
  resyncedAt = -Infinity;
  /** The newest tick received (applied or queued). */
  received = 0;
  /** Per-tick fingerprints, when a test asks for them. */
  fingerprints: Map<number, string> | null = null;
  readonly clock: NetClock;
  /** Ticks received and not yet applied (the playout buffer), in order. */
  private queue: Tick[] = [];
  /** Ticks received before the snapshot they follow. */
  private pending: Tick[] = [];
  /** Where each disc on the floe is drawn this frame. */
  private view = new Map<number, DrawnDisc>();
  private stopped = false;

  constructor(
    public config: BumperConfig,
    private hooks: BumperPlayoutHooks,
  ) {
    this.clock = new NetClock(1000 / (config.tick_hz || 60));
  }

  destroy(): void {
    this.stopped = true;
  }

  /** A join was accepted (with this room's config): what came before it is void, a snapshot follows. */
  joined(config: BumperConfig): void {
    this.config = config;
    this.clock.periodMs = 1000 / (config.tick_hz || 60);
    this.awaitingSnapshot = true;
    this.pending = [];
    this.queue = [];
  }

  /** The channel errored: its rejoin brings a snapshot. */
  expectSnapshot(): void {
    this.awaitingSnapshot = true;
  }

  onSnapshot(payload: unknown, now: number): void {
    let s: Snapshot;
    try {
      s = decodeSnapshot(payload);
    } catch (e) {
      console.warn("bad snapshot", e);
      return;
    }
    this.snapshot(s, now);
  }

  onTick(payload: unknown, now: number): void {
    let t: Tick;
    try {
      t = decodeTick(payload);
    } catch (e) {
      console.warn("bad tick", e);
      return;
    }
    this.take(t, now);
  }

  /** A frame of several ticks: they enter the buffer like single ticks, one period apart in effect. */
  onTicks(payload: unknown, now: number): void {
    let ts: Tick[];
    try {
      ts = decodeTicks(payload);
    } catch (e) {
      console.warn("bad ticks", e);
      return;
    }
    for (const t of ts) this.take(t, now);
  }

  /**
   * A snapshot may come at any time (a join, a rejoin, the server's resync of a member
   * that fell behind): it replaces everything, and ticks go on from `s.tick + 1`.
   */
  snapshot(s: Snapshot, now: number): void {
    if (this.state) this.state.applySnapshot(s);
    else this.state = new BumperState(this.config, s);
    this.snapshots++;
    if (this.snapshots > 1) this.resyncedAt = now;
    this.awaitingSnapshot = false;
    this.fingerprints?.clear();
    const queued = this.pending.filter((t) => t.tick > s.tick);
    this.pending = [];
    this.queue = [];
    this.received = s.tick;
    this.view.clear();
    for (const t of queued) this.take(t, now);
    this.hooks.snapshotApplied();
  }

  /** A tick arrived at `now`: into the buffer (or kept for the snapshot to come). */
  take(t: Tick, now: number): void {
    if (this.awaitingSnapshot || !this.state) {
      if (this.pending.length < MAX_PENDING_TICKS) this.pending.push(t);
      return;
    }
    const waiting = this.state.phase === "waiting" && this.queue.length === 0;
    if (t.tick <= this.received && !waiting) return; // duplicate / stale
    this.received = t.tick;
    this.clock.arrived(t.tick, now);
    this.queue.push(t);
  }

  /**
   * How far behind the newest tick the link could have delivered discs are drawn, ticks:
   * the jitter the clock measured, and one tick more when the room sends several ticks
   * per frame (the clock's jitter covers a frame's spread, not the wait for the next).
   */
  bufferTicks(): number {
    const perFrame = (this.config.tick_hz || 60) / (this.config.send_hz || this.config.tick_hz || 60);
    return Math.min(MAX_BUFFERED_TICKS, this.clock.bufferTicks() + (perFrame > 1 ? 1 : 0));
  }

  /** The (fractional) tick drawn at `now`. */
  renderTick(now: number): number {
    return this.clock.latestTick(now) - this.bufferTicks();
  }

  /** Ticks waiting in the buffer. */
  get buffered(): number {
    return this.queue.length;
  }

  /**
   * One animation frame at `now`: the ticks due reach the state, and every disc on the
   * floe is placed between the state's tick and the next buffered one.
   */
  frame(now: number): void {
    const st = this.state;
    this.view.clear();
    if (!st || this.awaitingSnapshot) return;
    const render = this.renderTick(now);
    while (this.queue.length > 0 && (this.queue[0].tick <= render || this.queue.length > MAX_BUFFERED_TICKS)) {
      if (!this.apply(this.queue.shift()!)) return;
    }
    const next = this.queue[0];
    const f = next && next.tick === st.tick + 1 ? Math.min(1, Math.max(0, render - st.tick)) : 0;
    for (const p of st.players) {
      if (!p.alive) continue;
      let x = p.x;
      let y = p.y;
      if (f > 0) {
        const u = next.d.find((d) => d.s === p.seat);
        // A respawn is a jump, not a slide.
        const jumps = next.ev.some((e) => e.e === "spawn" && e.seat === p.seat);
        if (u && !jumps) {
          x += (u.x - x) * f;
          y += (u.y - y) * f;
        }
      }
      this.view.set(p.seat, { x, y });
    }
  }

  /** Where the disc in `seat` is drawn this frame (null: not on the floe, or no frame yet). */
  discAt(seat: number): DrawnDisc | null {
    return this.view.get(seat) ?? null;
  }

  /** Every disc on the floe as drawn this frame (the state's positions before the first frame). */
  drawn(): { s: number; x: number; y: number }[] {
    const st = this.state;
    if (!st) return [];
    const out: { s: number; x: number; y: number }[] = [];
    for (const p of st.players) {
      if (!p.alive) continue;
      const v = this.view.get(p.seat);
      out.push({ s: p.seat, x: v ? v.x : p.x, y: v ? v.y : p.y });
    }
    return out;
  }

  private resync(): void {
    if (this.awaitingSnapshot || this.stopped) return;
    this.resyncs++;
    this.awaitingSnapshot = true;
    this.pending = [];
    this.queue = [];
    this.hooks.resync();
  }

  private apply(t: Tick): boolean {
    const st = this.state!;
    try {
      st.applyTick(t);
    } catch (e) {
      if (e instanceof OutOfSequence) {
        console.warn(`kurve: ${e.message}; asking for a fresh snapshot`);
        this.resync();
        return false;
      }
      throw e;
    }
    if (this.fingerprints) {
      this.fingerprints.set(st.tick, st.fingerprint());
      if (this.fingerprints.size > MAX_FINGERPRINTS) {
        const first = this.fingerprints.keys().next().value;
        if (first !== undefined) this.fingerprints.delete(first);
      }
    }
    this.hooks.applied(t);
    return true;
  }
}
