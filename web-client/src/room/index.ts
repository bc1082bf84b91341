// Room view (`room:<id>`): the arena from `snapshot` + every `tick`, the player list with
// live scores, countdown / round / match overlays, ready, steering, spectating. This
// module ties the parts together; each part is one concept:
//
//   channel.ts    the room channel: join, rejoins, presence, the events it brings
//   playout.ts    snapshot and ticks → the arena, the playout buffer, own-head prediction
//   lifecycle.ts  the JSON lifecycle events → ready, banner, standings, the saved match
//   keys.ts       keyboard and touch → a turn
//   view.ts       the page: canvas, overlays, side cards
//
// Each imports none of the others except for types (view and playout read the channel's
// `Role`, `Member` and `Motion`; view reads lifecycle's `Banner`).

import type { Connection } from "../conn";
import { toast } from "../dom";
import { reasonText } from "../labels";
import type { Lobby } from "../lobby";
import { ArenaRenderer } from "../render";
import { RoomChannel, type Member, type Role } from "./channel";
import { Steering } from "./keys";
import { Lifecycle } from "./lifecycle";
import { Playout } from "./playout";
import { RoomDom } from "./view";

export type { Role } from "./channel";

/** How often the round trip is measured (a Phoenix heartbeat on the socket), ms. */
const PING_EVERY_MS = 1000;

export class RoomView {
  readonly el: HTMLElement;
  /** Set from the join reply; not shown. */
  color: string | null = null;
  private members: Member[] = [];
  private roomName: string;
  private channel: RoomChannel;
  private playout: Playout;
  private lifecycle = new Lifecycle();
  private steering: Steering;
  private dom: RoomDom;
  private renderer: ArenaRenderer;
  private raf = 0;
  private pingTimer = 0;
  private unsubRooms: () => void;

  constructor(
    private conn: Connection,
    private lobby: Lobby,
    private myId: string,
    readonly roomId: string,
    as: Role,
    password: string | undefined,
    private onExit: (message?: string) => void,
    onSwitch: (id: string, as: Role) => void,
  ) {
    this.roomName = lobby.rooms.get(roomId)?.name ?? roomId;
    this.dom = new RoomDom(roomId, this.roomName, {
      ready: () => this.toggleReady(),
      leave: () => this.onExit(),
      watch: (id) => onSwitch(id, "spectator"),
    });
    this.el = this.dom.el;
    this.renderer = new ArenaRenderer(this.dom.canvas);
    this.playout = new Playout(this.renderer, myId, () => this.role === "player", {
      resync: () => this.channel.rejoin(),
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

    this.unsubRooms = lobby.onRooms(() => this.renderOtherRooms());
    this.renderOtherRooms();
    this.channel = new RoomChannel(conn, roomId, as, password, {
      joined: (reply, first) => {
        this.playout.joined();
        this.playout.seat = reply.you?.seat ?? null;
        this.color = reply.you?.color ?? null;
        if (reply.config?.name) this.roomName = reply.config.name;
        this.playout.motion = reply.config?.motion ?? null;
        this.dom.setTitle(this.roomName);
        this.dom.setRole(this.role);
        if (first && this.role === "spectator") toast(`Watching ${this.roomName}`);
        this.dom.invalidate();
      },
      members: (list) => {
        this.members = list;
        this.dom.invalidate();
      },
      snapshot: (payload) => this.playout.onSnapshot(payload),
      tick: (payload) => this.playout.onTick(payload),
      ticks: (payload) => this.playout.onTicks(payload),
      phase: (m) => {
        this.lifecycle.phase(m);
        this.dom.invalidate();
      },
      roundStart: () => this.lifecycle.roundStart(),
      roundEnd: (m) => {
        this.lifecycle.roundEnd(m, performance.now());
        this.dom.invalidate();
      },
      matchEnd: (m) => {
        this.lifecycle.matchEnd(m);
        this.dom.invalidate();
        void this.lobby.refreshLeaderboard();
      },
      matchSaved: (id) => {
        this.lifecycle.matchSaved(id);
        this.dom.invalidate();
      },
      errored: () => this.playout.expectSnapshot(),
      exit: (message) => this.onExit(message),
    });

    const loop = () => {
      this.raf = requestAnimationFrame(loop);
      this.updateUi();
    };
    this.raf = requestAnimationFrame(loop);
    const ping = () => {
      try {
        this.conn.socket.ping((rtt: number) => {
          this.playout.clock.rttMs = rtt;
        });
      } catch {
        // Not connected (or a transport without pings): try again at the next beat.
      }
    };
    ping();
    this.pingTimer = window.setInterval(ping, PING_EVERY_MS);
  }

  destroy(): void {
    this.playout.destroy();
    cancelAnimationFrame(this.raf);
    clearInterval(this.pingTimer);
    this.unsubRooms();
    this.steering.destroy();
    this.renderer.destroy();
    this.channel.leave();
  }

  /** What this client is in the room (a player refused a seat watches instead). */
  get role(): Role {
    return this.channel.role;
  }

  /** Per-tick fingerprints, when a test asks for them (`window.__kurve.recordFingerprints()`). */
  get fingerprints(): Map<number, string> | null {
    return this.playout.fingerprints;
  }

  set fingerprints(m: Map<number, string> | null) {
    this.playout.fingerprints = m;
  }

  private sendTurn(turn: number): void {
    this.dom.setTurn(turn);
    if (this.role !== "player") return;
    // Numbered so the server can say which input each tick applied (docs/PROTOCOL.md).
    const seq = this.playout.nextSeq();
    this.channel.input(turn, seq);
    this.playout.sent(seq, turn);
  }

  private toggleReady(): void {
    if (this.role !== "player") return;
    const want = !this.lifecycle.ready;
    this.dom.setReadyPending(true);
    this.channel
      .ready(want)
      .receive("ok", () => {
        this.lifecycle.ready = want;
        this.dom.setReadyPending(false);
        this.dom.invalidate();
      })
      .receive("error", (r: { reason?: string }) => {
        this.dom.setReadyPending(false);
        toast(reasonText(r?.reason), "error");
      })
      .receive("timeout", () => {
        this.dom.setReadyPending(false);
        toast("No answer from the server.", "error");
      });
  }

  private updateUi(): void {
    const p = this.playout;
    const now = performance.now();
    this.dom.updateNet({ rttMs: p.clock.rttMs, predicting: p.predicting, resyncedAt: p.resyncedAt }, now);
    if (this.lifecycle.expire(now)) this.dom.invalidate();
    const l = this.lifecycle;
    this.dom.update({
      arena: p.arena,
      members: this.members,
      myId: this.myId,
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

  private renderOtherRooms(): void {
    this.dom.renderOtherRooms([...this.lobby.rooms.values()].filter((r) => r.id !== this.roomId));
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
      id: this.roomId,
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
