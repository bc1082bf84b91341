// Curve's drawing of a replay: the spectator's arena and renderer, fed the replay's
// snapshots and ticks (the replay page owns the channel, the controls and the standings).

import { arenaCanvas } from "../../room/chrome";
import type { ReplayGameView, ReplaySeat } from "../types";
import { Arena } from "./arena";
import { ArenaRenderer } from "./render";
import { decodeSnapshot, decodeTick } from "./wire";

export class CurveReplay implements ReplayGameView {
  readonly canvas: HTMLCanvasElement;
  arena: Arena | null = null;
  private renderer: ArenaRenderer;

  constructor() {
    this.canvas = arenaCanvas("Replay arena");
    this.renderer = new ArenaRenderer(this.canvas);
  }

  get at(): number | null {
    return this.arena?.tick ?? null;
  }

  get frames(): number {
    return this.renderer.frames;
  }

  get round(): number | null {
    return this.arena?.round ?? null;
  }

  snapshot(payload: unknown): void {
    const s = decodeSnapshot(payload);
    if (this.arena) this.arena.applySnapshot(s);
    else this.arena = new Arena(s);
    this.renderer.attach(this.arena);
  }

  tick(payload: unknown): boolean {
    const a = this.arena;
    if (!a) return false;
    const t = decodeTick(payload);
    // A tick sent before a seek's snapshot (already covered by it) is skipped.
    if (t.tick <= a.tick) return false;
    a.applyTick(t);
    return true;
  }

  /** The seats arrive with a round's start (the replay's first snapshot has none). */
  seats(): ReplaySeat[] {
    return (this.arena?.players ?? []).map((p) => ({ id: p.id, color: p.color }));
  }

  destroy(): void {
    this.renderer.destroy();
  }
}
