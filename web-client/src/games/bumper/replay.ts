// Bumper's drawing of a replay: the room's state and renderer, fed the replay's
// snapshots and ticks as they come (the replay page owns the channel, the controls and
// the standings; the server paces the ticks, so no playout buffer).

import { arenaCanvas } from "../../room/chrome";
import type { RoomConfig } from "../../wire";
import type { ReplayGameView, ReplaySeat } from "../types";
import { BumperRenderer } from "./render";
import { BumperState, OutOfSequence } from "./state";
import { bumperConfig, decodeSnapshot, decodeTick, type BumperConfig } from "./wire";

export class BumperReplay implements ReplayGameView {
  readonly canvas: HTMLCanvasElement;
  state: BumperState | null = null;
  private config: BumperConfig;
  private renderer: BumperRenderer;

  constructor(config: RoomConfig) {
    this.config = bumperConfig(config as Partial<BumperConfig>);
    this.canvas = arenaCanvas("Replay arena");
    this.renderer = new BumperRenderer(this.canvas);
  }

  get at(): number | null {
    return this.state?.tick ?? null;
  }

  get frames(): number {
    return this.renderer.frames;
  }

  get round(): number | null {
    return null;
  }

  snapshot(payload: unknown): void {
    const s = decodeSnapshot(payload);
    if (this.state) this.state.applySnapshot(s);
    else this.state = new BumperState(this.config, s);
    this.renderer.attach(this.state);
  }

  tick(payload: unknown): boolean {
    const st = this.state;
    if (!st) return false;
    const t = decodeTick(payload);
    // A tick sent before a seek's snapshot (already covered by it) is skipped.
    if (t.tick <= st.tick) return false;
    try {
      st.applyTick(t);
    } catch (e) {
      if (!(e instanceof OutOfSequence)) throw e;
      // A gap in a replay is the server's to explain; the drawing goes on from here.
      console.warn(`kurve: replay ${e.message}`);
      st.tick = t.tick - 1;
      st.applyTick(t);
    }
    this.renderer.applied(st, t.ev, performance.now());
    return true;
  }

  seats(): ReplaySeat[] {
    return (this.state?.players ?? []).map((p) => ({ id: p.id, color: p.color }));
  }

  destroy(): void {
    this.renderer.destroy();
  }
}
