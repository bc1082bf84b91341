// What every game's room view (RoomGameView, games/types.ts) does alike: it hands the
// frames to its playout (playout.ts) and redraws its page (page.ts) each animation frame;
// it follows the match's course from the lifecycle events (lifecycle.ts), toggles ready,
// and passes the round trip, the other rooms and the fingerprints a test asks for. A
// game's room view (games/<id>/room.ts) extends it with the join reply's config, its keys
// and inputs, what it draws each frame, and its debug views.

import type { RoomContext, RoomGameView } from "../games/types";
import type { MatchEndMsg, PhaseMsg, RoomSummary } from "../wire";
import type { JoinReply, Member, Role } from "./channel";
import { Lifecycle } from "./lifecycle";
import type { RoomPage, RoomPageHandlers } from "./page";
import type { TickPlayout } from "./playout";

/** What the room view asks of its game's playout. */
type Playout = Pick<TickPlayout<never, never, never>, "clock" | "fingerprints" | "onSnapshot" | "onTick" | "onTicks" | "expectSnapshot" | "destroy">;

export abstract class GameRoom implements RoomGameView {
  /** Room presence, as the page lists it. */
  protected memberList: Member[] = [];
  /** The room's name: the lobby's, then the join reply's. */
  protected roomName: string;
  protected lifecycle = new Lifecycle();
  /** The game's page and playout, made by its constructor. */
  protected abstract readonly dom: RoomPage;
  protected abstract readonly playout: Playout;
  private raf = 0;

  constructor(protected ctx: RoomContext) {
    this.roomName = ctx.roomName;
  }

  /**
   * Redraws the page every animation frame from now on: the game's constructor calls it
   * last, so that within a frame its renderer (which applies the ticks due) runs first.
   */
  protected startFrames(): void {
    const loop = () => {
      this.raf = requestAnimationFrame(loop);
      this.updateUi();
    };
    this.raf = requestAnimationFrame(loop);
  }

  /** The join reply's config and seat, for this game (its playout starts over). */
  protected abstract configure(reply: JoinReply): void;
  /** Redraws the page from the playout and the lifecycle (every animation frame). */
  protected abstract updateUi(): void;
  abstract debug(): object;
  abstract netDebug(): object;

  get el(): HTMLElement {
    return this.dom.el;
  }

  /** What the page's buttons do. */
  protected handlers(): RoomPageHandlers {
    return {
      ready: () => this.toggleReady(),
      leave: () => this.ctx.leave(),
      watch: (id) => this.ctx.watch(id),
    };
  }

  joined(reply: JoinReply): void {
    this.configure(reply);
    if (reply.config?.name) this.roomName = reply.config.name;
    this.dom.setTitle(this.roomName);
    this.dom.setRole(this.role);
    this.dom.invalidate();
  }

  members(list: Member[]): void {
    this.memberList = list;
    this.dom.invalidate();
  }

  snapshot(payload: unknown): void {
    this.playout.onSnapshot(payload, performance.now());
  }

  tick(payload: unknown): void {
    this.playout.onTick(payload, performance.now());
  }

  ticks(payload: unknown): void {
    this.playout.onTicks(payload, performance.now());
  }

  phase(m: PhaseMsg): void {
    this.lifecycle.phase(m);
    this.dom.invalidate();
  }

  matchEnd(m: MatchEndMsg): void {
    this.lifecycle.matchEnd(m);
    this.dom.invalidate();
    this.ctx.matchEnded();
  }

  matchSaved(matchId: number): void {
    this.lifecycle.matchSaved(matchId);
    this.dom.invalidate();
  }

  errored(): void {
    this.playout.expectSnapshot();
  }

  rtt(ms: number): void {
    this.playout.clock.rttMs = ms;
  }

  otherRooms(rooms: RoomSummary[]): void {
    this.dom.renderOtherRooms(rooms);
  }

  destroy(): void {
    this.playout.destroy();
    cancelAnimationFrame(this.raf);
  }

  /** What this client is in the room (a player refused a seat watches instead). */
  get role(): Role {
    return this.ctx.channel.role;
  }

  /** Per-tick fingerprints, when a test asks for them (`window.__kurve.recordFingerprints()`). */
  get fingerprints(): Map<number, string> | null {
    return this.playout.fingerprints;
  }

  set fingerprints(m: Map<number, string> | null) {
    this.playout.fingerprints = m;
  }

  /** Ready or not (a player's, while waiting): the button waits for the server's answer. */
  protected toggleReady(): void {
    if (this.role !== "player") return;
    const want = !this.lifecycle.ready;
    this.dom.setReadyPending(true);
    this.ctx.channel.ready(want, (ok) => {
      if (ok) this.lifecycle.ready = want;
      this.dom.setReadyPending(false);
      this.dom.invalidate();
    });
  }
}
