// Bumper's playout: a room's frames through the shared playout buffer (room/playout.ts:
// snapshot, ticks in order, a fresh snapshot when one is missing). Each animation frame
// (`frame(now)`) applies the ticks due and places every disc between the state's tick and
// the next one, evenly although the room sends several ticks per frame (`send_hz` below
// `tick_hz`). No prediction: the own disc is drawn as the others.
//
// Every method that depends on time takes `now` (a `performance.now()` instant), so the
// tests drive it with plain numbers.

import { MAX_BUFFERED_TICKS, TickPlayout, type PlayoutHooks } from "../../room/playout";
import { BumperState } from "./state";
import { decodeSnapshot, decodeTick, decodeTicks, type BumperConfig, type Snapshot, type Tick } from "./wire";

/** What the playout tells its room view. */
export interface BumperPlayoutHooks extends PlayoutHooks {
  /** A tick reached the state (its events are in `state.lastEvents`). */
  applied(t: Tick): void;
}

/** Where a disc is drawn, wire units. */
export interface DrawnDisc {
  x: number;
  y: number;
}

export class BumperPlayout extends TickPlayout<BumperState, Snapshot, Tick> {
  declare protected readonly hooks: BumperPlayoutHooks;
  /** Where each disc on the floe is drawn this frame. */
  private view = new Map<number, DrawnDisc>();

  constructor(
    public config: BumperConfig,
    hooks: BumperPlayoutHooks,
  ) {
    super({ decodeSnapshot, decodeTick, decodeTicks }, 1000 / (config.tick_hz || 60), hooks);
  }

  /** A join was accepted (with this room's config): what came before it is void, a snapshot follows. */
  override joined(config: BumperConfig = this.config): void {
    this.config = config;
    this.clock.periodMs = 1000 / (config.tick_hz || 60);
    super.joined();
  }

  protected create(s: Snapshot): BumperState {
    return new BumperState(this.config, s);
  }

  protected replaced(): void {
    this.view.clear();
  }

  protected applied(t: Tick): void {
    this.hooks.applied(t);
  }

  /**
   * How far behind the newest tick the link could have delivered discs are drawn, ticks:
   * the jitter the clock measured, and one tick more when the room sends several ticks
   * per frame (the clock's jitter covers a frame's spread, not the wait for the next).
   */
  override bufferTicks(): number {
    const perFrame = (this.config.tick_hz || 60) / (this.config.send_hz || this.config.tick_hz || 60);
    return Math.min(MAX_BUFFERED_TICKS, this.clock.bufferTicks() + (perFrame > 1 ? 1 : 0));
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
    if (!this.drain(render)) return;
    const next = this.next;
    const f = next && next.tick === st.tick + 1 ? Math.min(1, Math.max(0, render - st.tick)) : 0;
    for (const p of st.players) {
      if (!p.alive) continue;
      let x = p.x;
      let y = p.y;
      if (next && f > 0) {
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
}
