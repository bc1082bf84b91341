// Bumper's room view: the floe from `snapshot` + every `tick` through the playout buffer,
// discs drawn between ticks, points and falls, countdown and match overlays, ready,
// moving and dashing, spectating. The room page (room/index.ts) owns the channel and
// hands this view what it brings. Parts:
//
//   wire.ts       the payloads and their decoding
//   state.ts      snapshot + ticks → the room's state
//   playout.ts    the playout buffer, discs between two ticks
//   render.ts     the canvas
//   keys.ts       keyboard → a `move` vector, a dash, ready
//   touch.ts      touch (a virtual stick, a Dash button) → a `move` vector, a dash
//   view.ts       the page around the canvas
//   (room/gameroom.ts, shared: the events to the playout and the lifecycle, ready, the
//   page redrawn each frame; room/lifecycle.ts: the JSON lifecycle events → ready,
//   standings)
//
// No prediction: the own disc is drawn through the playout buffer as the others are
// (its inputs are still numbered, and ticks acknowledge them: `ackSeq` in the debug view).

import type { JoinReply } from "../../room/channel";
import { GameRoom } from "../../room/gameroom";
import type { RoomContext } from "../types";
import { BumperKeys, type Move } from "./keys";
import { BumperPlayout } from "./playout";
import { BumperRenderer } from "./render";
import { BumperTouch } from "./touch";
import { BumperDom } from "./view";
import { bumperConfig, type BumperConfig, type Tick } from "./wire";

export class BumperRoom extends GameRoom {
  /** This client's seat as the join reply said (the state's once it seats this user). */
  private seat: number | null = null;
  protected dom: BumperDom;
  protected playout: BumperPlayout;
  private keys: BumperKeys;
  private touch: BumperTouch;
  /** The stick's vector while a thumb is on it (it then overrides the keys). */
  private stickMove: Move | null = null;
  private renderer: BumperRenderer;
  /** Inputs sent in this room view, numbered from 1 (`seq`). */
  private seq = 0;

  constructor(ctx: RoomContext) {
    super(ctx);
    this.dom = new BumperDom(ctx.roomId, this.roomName, this.handlers());
    this.renderer = new BumperRenderer(this.dom.canvas);
    this.playout = new BumperPlayout(bumperConfig(null), {
      resync: () => ctx.channel.rejoin(),
      snapshotApplied: () => {
        this.renderer.attach(this.playout.state!);
        this.renderer.mySeat = this.playing() ? this.mySeat() : null;
        this.dom.invalidate();
      },
      applied: (t) => this.applied(t),
    });
    this.renderer.beforeFrame = (now) => this.playout.frame(now);
    this.renderer.discAt = (seat) => this.playout.discAt(seat);
    this.keys = new BumperKeys({
      move: (v) => this.sendMove(v, false),
      dash: () => this.sendMove(this.held(), true),
      ready: () => {
        const st = this.playout.state;
        if (!st || st.phase === "waiting") this.toggleReady();
      },
    });
    this.touch = new BumperTouch(this.dom.stage, this.dom.touch, {
      move: (v, active) => {
        this.stickMove = active ? v : null;
        this.sendMove(active ? v : this.keys.move, false);
      },
      dash: () => this.sendMove(this.held(), true),
    });
    this.startFrames();
  }

  protected configure(reply: JoinReply): void {
    this.playout.joined(bumperConfig(reply.config as Partial<BumperConfig>));
    this.seat = reply.you?.seat ?? null;
  }

  override destroy(): void {
    super.destroy();
    this.keys.destroy();
    this.touch.destroy();
    this.renderer.destroy();
  }

  /** The vector held: the stick's while a thumb is on it, else the keys'. */
  private held(): Move {
    return this.stickMove ?? this.keys.move;
  }

  private playing(): boolean {
    return this.role === "player";
  }

  private mySeat(): number | null {
    const me = this.playout.state?.players.find((p) => p.id === this.ctx.myId);
    return me ? me.seat : this.seat;
  }

  /** A tick reached the state: its animations start; a new match may need the held keys again. */
  private applied(t: Tick): void {
    const st = this.playout.state!;
    this.renderer.applied(st, t.ev, performance.now());
    for (const e of t.ev) {
      if (e.e === "phase" && e.phase === "waiting") this.lifecycle.backToWaiting();
      // Keys held since before the match: the server hears them once play can use them.
      if (e.e === "phase" && (e.phase === "countdown" || e.phase === "playing")) {
        const v = this.held();
        if (v[0] || v[1]) this.sendMove(v, false);
      }
    }
    this.renderer.mySeat = this.playing() ? this.mySeat() : null;
  }

  /** Sends the held vector (with a dash when `dash`), numbered so ticks can acknowledge it. */
  private sendMove(v: Move, dash: boolean): void {
    this.dom.setMove(v);
    if (this.role !== "player") return;
    const seq = ++this.seq;
    this.ctx.channel.input(dash ? { move: v, dash: true, seq } : { move: v, seq });
  }

  protected updateUi(): void {
    const p = this.playout;
    this.dom.updateNet({ rttMs: p.clock.rttMs, predicting: false, resyncedAt: p.resyncedAt }, performance.now());
    const l = this.lifecycle;
    this.dom.update({
      state: p.state,
      members: this.memberList,
      myId: this.ctx.myId,
      role: this.role,
      roomName: this.roomName,
      ready: l.ready,
      standings: l.standings,
      savedMatch: l.savedMatch,
      awaitingSnapshot: p.awaitingSnapshot,
    });
  }

  /** `window.kurve.debug()`: the discs as drawn this frame, in arena px; `tick` is the newest received. */
  netDebug() {
    const k = this.playout.config.pos_scale || 32;
    return {
      game: "bumper",
      seat: this.playing() ? this.mySeat() : null,
      tick: this.playout.received,
      discs: this.playout.drawn().map((d) => ({ s: d.s, x: d.x / k, y: d.y / k })),
    };
  }

  /** Read-only state for tests and debugging (`window.__kurve.room`). */
  debug() {
    const st = this.playout.state;
    const me = st?.players.find((p) => p.id === this.ctx.myId);
    return {
      id: this.ctx.roomId,
      role: this.role,
      seat: this.mySeat(),
      move: [...this.held()],
      seq: this.seq,
      ackSeq: me?.ack ?? null,
      ready: this.lifecycle.ready,
      snapshots: this.playout.snapshots,
      resyncs: this.playout.resyncs,
      frames: this.renderer.frames,
      awaitingSnapshot: this.playout.awaitingSnapshot,
      phase: st?.phase ?? null,
      tick: st?.tick ?? null,
      round: null,
      target: st?.target ?? null,
      floeR: st?.floeR ?? null,
      clock: st?.clockSeconds() ?? null,
      standings: this.lifecycle.standings ? JSON.parse(JSON.stringify(this.lifecycle.standings)) : null,
      players:
        st?.players.map((p) => ({
          seat: p.seat,
          id: p.id,
          name: p.name,
          color: p.color,
          score: p.points,
          points: p.points,
          falls: p.falls,
          alive: p.alive,
          ready: p.ready,
          connected: p.connected,
          x: p.x,
          y: p.y,
        })) ?? [],
      fingerprint: st ? st.fingerprint() : null,
    };
  }
}
