// Curve's room view: the arena from `snapshot` + every `tick`, the player list with live
// scores, countdown / round / match overlays, ready, steering, spectating. The room page
// (room/index.ts) owns the channel and hands this view what it brings. This module ties
// Curve's parts together; each part is one concept:
//
//   playout.ts    snapshot and ticks → the arena, the playout buffer, own-head prediction
//   keys.ts       keyboard and touch → a turn
//   view.ts       the page: canvas, overlays, side cards
//   (room/gameroom.ts, shared: the events to the playout and the lifecycle, ready, the
//   page redrawn each frame; room/lifecycle.ts: the JSON lifecycle events → ready,
//   banner, standings)
//
// Each imports none of the others except for types.

import type { JoinReply } from "../../room/channel";
import { GameRoom } from "../../room/gameroom";
import type { RoundEndMsg } from "../../wire";
import type { RoomContext } from "../types";
import { Steering } from "./keys";
import { Playout } from "./playout";
import { ArenaRenderer } from "./render";
import { RoomDom } from "./view";
import type { CurveConfig } from "./wire";

export class CurveRoom extends GameRoom {
  /** Set from the join reply; not shown. */
  color: string | null = null;
  protected dom: RoomDom;
  protected playout: Playout;
  private steering: Steering;
  private renderer: ArenaRenderer;

  constructor(ctx: RoomContext) {
    super(ctx);
    this.dom = new RoomDom(ctx.roomId, this.roomName, this.handlers());
    this.renderer = new ArenaRenderer(this.dom.canvas);
    this.playout = new Playout(this.renderer, ctx.myId, () => this.role === "player", {
      resync: () => ctx.channel.rejoin(),
      snapshotApplied: () => this.dom.invalidate(),
      backToWaiting: () => this.lifecycle.backToWaiting(),
    });

    this.steering = new Steering(this.dom.touch, {
      turn: (turn) => this.sendTurn(turn),
      ready: () => {
        const a = this.playout.arena;
        if (a?.phase === "waiting" || !a) this.toggleReady();
      },
    });
    this.startFrames();
  }

  protected configure(reply: JoinReply): void {
    const config = reply.config as CurveConfig | undefined;
    this.playout.joined();
    this.playout.seat = reply.you?.seat ?? null;
    this.color = reply.you?.color ?? null;
    this.playout.motion = config?.motion ?? null;
  }

  roundStart(): void {
    this.lifecycle.roundStart();
  }

  roundEnd(m: RoundEndMsg): void {
    this.lifecycle.roundEnd(m, performance.now());
    this.dom.invalidate();
  }

  override destroy(): void {
    super.destroy();
    this.steering.destroy();
    this.renderer.destroy();
  }

  private sendTurn(turn: number): void {
    this.dom.setTurn(turn);
    if (this.role !== "player") return;
    // Numbered so the server can say which input each tick applied (docs/PROTOCOL.md).
    const seq = this.playout.nextSeq();
    this.ctx.channel.input({ turn, seq });
    this.playout.sent(seq, turn);
  }

  protected updateUi(): void {
    const p = this.playout;
    const now = performance.now();
    this.dom.updateNet({ rttMs: p.clock.rttMs, predicting: p.predicting, resyncedAt: p.resyncedAt }, now);
    if (this.lifecycle.expire(now)) this.dom.invalidate();
    const l = this.lifecycle;
    this.dom.update({
      arena: p.arena,
      members: this.memberList,
      myId: this.ctx.myId,
      role: this.role,
      seat: p.seat,
      roomName: this.roomName,
      ready: l.ready,
      banner: l.banner,
      standings: l.standings,
      savedMatch: l.savedMatch,
      awaitingSnapshot: p.awaitingSnapshot,
    });
  }

  /** `window.kurve.debug()` (CONTRACT §10). */
  netDebug() {
    return this.playout.netDebug();
  }

  /** `window.kurve.bench()`: what tests/e2e/bench/keypress.js measures. */
  netBench() {
    return this.playout.netBench();
  }

  /** Read-only state for tests and debugging (`window.__kurve.room`). */
  debug() {
    const a = this.playout.arena;
    return {
      id: this.ctx.roomId,
      role: this.role,
      seat: this.playout.mySeat(),
      turn: this.steering.turn,
      ready: this.lifecycle.ready,
      snapshots: this.playout.snapshots,
      resyncs: this.playout.resyncs,
      frames: this.renderer.frames,
      awaitingSnapshot: this.playout.awaitingSnapshot,
      phase: a?.phase ?? null,
      tick: a?.tick ?? null,
      round: a?.round ?? null,
      target: a?.target ?? null,
      trails: a?.trails.length ?? 0,
      items: a?.items.map((i) => ({ ...i })) ?? [],
      effects: a?.effects.map((e) => ({ ...e })) ?? [],
      players:
        a?.players.map((p) => ({
          seat: p.seat,
          id: p.id,
          name: p.name,
          color: p.color,
          score: p.score,
          alive: p.alive,
          ready: p.ready,
          connected: p.connected,
          x: p.pos[0],
          y: p.pos[1],
          heading: p.heading,
          radius: p.radius,
          gap: p.gap,
        })) ?? [],
      fingerprint: a ? a.fingerprint() : null,
    };
  }
}
