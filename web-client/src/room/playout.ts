// The playout buffer a game's room view draws through: a `snapshot` replaces the game's
// state (any time: a join, a rejoin, the server's resync of a member that fell behind);
// `tick`s and `ticks` wait in a buffer sized from the measured arrival jitter
// (netclock.ts) and reach the state when their time comes (`drain`), so what moves on the
// canvas moves evenly although ticks arrive unevenly, or several to a frame. A tick that
// does not follow the last one asks for a fresh snapshot; ticks that arrive before the
// snapshot they follow wait for it. Each game's playout (games/<id>/playout.ts) extends
// this with its state and what it draws between two ticks.
//
// Every method that depends on time takes `now` (a `performance.now()` instant), so tests
// drive it with plain numbers.

import { NetClock } from "../netclock";
import { OutOfSequence } from "../wire";

/** The playout buffer never holds more than this many ticks (0.5 s at 60 Hz): beyond, it catches up. */
export const MAX_BUFFERED_TICKS = 30;
/** Ticks kept while no snapshot is there to apply them to (10 s at 60 Hz). */
const MAX_PENDING_TICKS = 600;
/** Per-tick fingerprints kept when a test asks for them. */
const MAX_FINGERPRINTS = 1200;

/** A game's state as its snapshots and ticks build it. */
export interface TickState<Snap, T> {
  tick: number;
  phase: string;
  applySnapshot(s: Snap): void;
  /** Throws OutOfSequence for a tick that does not follow. */
  applyTick(t: T): void;
  fingerprint(): string;
}

/** A game's payload decoders (its `wire.ts`); each throws on a payload it cannot read. */
export interface TickCodec<Snap, T> {
  decodeSnapshot(payload: unknown): Snap;
  decodeTick(payload: unknown): T;
  decodeTicks(payload: unknown): T[];
}

/** What the playout tells its room view. */
export interface PlayoutHooks {
  /** A tick is missing: the channel must rejoin for a fresh snapshot. */
  resync(): void;
  /** A snapshot replaced the state. */
  snapshotApplied(): void;
}

export abstract class TickPlayout<State extends TickState<Snap, T>, Snap extends { tick: number }, T extends { tick: number }> {
  state: State | null = null;
  /** Number of snapshots applied (joins, rejoins and resyncs). */
  snapshots = 0;
  /** Number of resyncs asked for after a missed tick. */
  resyncs = 0;
  /** No snapshot since the join or since a tick went missing: ticks wait in `pending`. */
  awaitingSnapshot = true;
  /** When the last snapshot replaced a state already shown (`performance.now()`). */
  resyncedAt = -Infinity;
  /** The newest tick received (applied or queued). */
  received = 0;
  /** Per-tick fingerprints, when a test asks for them. */
  fingerprints: Map<number, string> | null = null;
  readonly clock: NetClock;
  /** Ticks received and not yet applied (the playout buffer), in order. */
  private queue: T[] = [];
  /** Ticks received before the snapshot they follow. */
  private pending: T[] = [];
  private stopped = false;

  constructor(
    private codec: TickCodec<Snap, T>,
    periodMs: number,
    protected readonly hooks: PlayoutHooks,
  ) {
    this.clock = new NetClock(periodMs);
  }

  /** The state a first snapshot makes. */
  protected abstract create(s: Snap): State;
  /** A snapshot replaced the state; the ticks that waited for it follow. */
  protected abstract replaced(s: Snap, now: number): void;
  /** A tick reached the state. */
  protected abstract applied(t: T): void;

  destroy(): void {
    this.stopped = true;
  }

  /** A join was accepted: what came before it is void, a snapshot follows. */
  joined(): void {
    this.awaitingSnapshot = true;
    this.pending = [];
    this.queue = [];
  }

  /** The channel errored: its rejoin brings a snapshot. */
  expectSnapshot(): void {
    this.awaitingSnapshot = true;
  }

  onSnapshot(payload: unknown, now: number): void {
    let s: Snap;
    try {
      s = this.codec.decodeSnapshot(payload);
    } catch (e) {
      console.warn("bad snapshot", e);
      return;
    }
    this.snapshot(s, now);
  }

  onTick(payload: unknown, now: number): void {
    let t: T;
    try {
      t = this.codec.decodeTick(payload);
    } catch (e) {
      console.warn("bad tick", e);
      return;
    }
    this.take(t, now);
  }

  /**
   * A frame carrying several ticks (the room sends below its tick rate): they enter the
   * playout buffer like single ticks, which spreads them one tick period apart.
   */
  onTicks(payload: unknown, now: number): void {
    let ts: T[];
    try {
      ts = this.codec.decodeTicks(payload);
    } catch (e) {
      console.warn("bad ticks", e);
      return;
    }
    for (const t of ts) this.take(t, now);
  }

  /** A snapshot replaces everything, and ticks go on from `s.tick + 1`. */
  snapshot(s: Snap, now: number): void {
    if (this.state) this.state.applySnapshot(s);
    else this.state = this.create(s);
    this.snapshots++;
    if (this.snapshots > 1) this.resyncedAt = now;
    this.awaitingSnapshot = false;
    this.fingerprints?.clear();
    const queued = this.pending.filter((t) => t.tick > s.tick);
    this.pending = [];
    this.queue = [];
    this.received = s.tick;
    this.replaced(s, now);
    for (const t of queued) this.take(t, now);
    this.hooks.snapshotApplied();
  }

  /** A tick arrived at `now`: into the buffer (or kept for the snapshot to come). */
  take(t: T, now: number): void {
    if (this.awaitingSnapshot || !this.state) {
      if (this.pending.length < MAX_PENDING_TICKS) this.pending.push(t);
      return;
    }
    const waiting = this.state.phase === "waiting" && this.queue.length === 0;
    if (t.tick <= this.received && !waiting) return; // duplicate / stale
    this.received = t.tick;
    this.clock.arrived(t.tick, now);
    this.arrived(t);
  }

  /** A new tick, in sequence with those received: it waits in the buffer for its time. */
  protected arrived(t: T): void {
    this.queue.push(t);
  }

  /** How far behind the newest tick the link could have delivered the state is drawn, ticks. */
  bufferTicks(): number {
    return this.clock.bufferTicks();
  }

  /** The (fractional) tick drawn at `now`. */
  renderTick(now: number): number {
    return this.clock.latestTick(now) - this.bufferTicks();
  }

  /** Ticks waiting in the buffer. */
  get buffered(): number {
    return this.queue.length;
  }

  /** The next tick in the buffer, if any. */
  protected get next(): T | undefined {
    return this.queue[0];
  }

  /**
   * Applies every buffered tick at or before the render tick `render` (and more while
   * the buffer is over full); false when one did not follow (a resync is under way).
   */
  protected drain(render: number): boolean {
    while (this.queue.length > 0 && (this.queue[0].tick <= render || this.queue.length > MAX_BUFFERED_TICKS)) {
      if (!this.apply(this.queue.shift()!)) return false;
    }
    return true;
  }

  /** Applies `t` to the state (false: it did not follow, and a resync is under way). */
  protected apply(t: T): boolean {
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
    this.applied(t);
    return true;
  }

  private resync(): void {
    if (this.awaitingSnapshot || this.stopped) return;
    this.resyncs++;
    this.awaitingSnapshot = true;
    this.pending = [];
    this.queue = [];
    this.hooks.resync();
  }
}
