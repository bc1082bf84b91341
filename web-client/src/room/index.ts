// The room page (`#/room/<id>`, `#/watch/<id>`): joins the room's channel, and once the
// join reply names the room's game (`config.game`, absent = Curve), shows that game's
// view (games/index.ts) and hands it everything the channel brings. The page itself
// knows no game:
//
//   channel.ts    the room channel: join, rejoins, presence, the events it brings
//   lifecycle.ts  the JSON lifecycle events → ready, banner, standings (games share it)
//   gameroom.ts   what every game's room view does alike (a game's room.ts extends it)
//   page.ts       the page layout every game shares (a game's view.ts extends it)
//   playout.ts    the playout buffer every game draws through (a game's playout.ts extends it)
//   chrome.ts, keys.ts   DOM builders and key listening the games share
//   games/…       each game's view: decoding, state, drawing, keys
//
// Imports run one way: this page → games/index.ts → games/<id>/ → the modules above
// (none of which imports a game).

import type { Connection } from "../conn";
import { h, toast } from "../dom";
import { viewsFor } from "../games";
import type { RoomContext, RoomGameView } from "../games/types";
import type { Lobby } from "../lobby";
import { RoomChannel, type JoinReply, type Member, type Role } from "./channel";

export type { Role } from "./channel";

/** How often the round trip is measured (a Phoenix heartbeat on the socket), ms. */
const PING_EVERY_MS = 1000;
/** Game payloads kept while the join reply that names the game is still on its way. */
const MAX_EARLY_EVENTS = 600;

/** What the channel brought before the game's view existed, replayed to it in order. */
type Early = (view: RoomGameView) => void;

export class RoomView {
  /** The page: a placeholder until the game's view replaces what it holds. */
  readonly el: HTMLElement;
  /** The game the room runs, once the join reply said it. */
  game: string | null = null;
  private view: RoomGameView | null = null;
  private early: Early[] = [];
  private members: Member[] = [];
  private channel: RoomChannel;
  private pingTimer = 0;
  private unsubRooms: () => void;
  private ctx: RoomContext;
  /** Asked for before the game's view existed (`window.__kurve.recordFingerprints()`). */
  private wantFingerprints: Map<number, string> | null = null;

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
    const roomName = lobby.rooms.get(roomId)?.name ?? roomId;
    // `display: contents`: the game's page lays out as if it were the page itself.
    this.el = h("div", { class: "room-host", "data-room-id": roomId });
    this.el.appendChild(placeholder(roomId, roomName));
    this.unsubRooms = lobby.onRooms(() => this.renderOtherRooms());
    this.channel = new RoomChannel(conn, roomId, as, password, {
      joined: (reply, first) => {
        const view = this.show(reply);
        if (!view) return;
        view.joined(reply, first);
        // What came before the reply follows it, as it would have on the wire.
        const early = this.early;
        this.early = [];
        for (const f of early) f(view);
        if (first && this.role === "spectator") toast(`Watching ${reply.config?.name ?? roomName}`);
      },
      members: (list) => {
        this.members = list;
        this.view?.members(list);
      },
      snapshot: (payload) => this.pass((v) => v.snapshot(payload)),
      tick: (payload) => this.pass((v) => v.tick(payload)),
      ticks: (payload) => this.pass((v) => v.ticks(payload)),
      phase: (m) => this.pass((v) => v.phase(m)),
      roundStart: () => this.pass((v) => v.roundStart?.()),
      roundEnd: (m) => this.pass((v) => v.roundEnd?.(m)),
      matchEnd: (m) => this.pass((v) => v.matchEnd(m)),
      matchSaved: (id) => this.pass((v) => v.matchSaved(id)),
      errored: () => this.view?.errored(),
      exit: (message) => this.onExit(message),
    });
    this.ctx = {
      roomId,
      roomName,
      myId,
      channel: this.channel,
      leave: () => this.onExit(),
      watch: (id) => onSwitch(id, "spectator"),
      matchEnded: () => void this.lobby.refreshLeaderboard(),
    };

    const ping = () => {
      try {
        this.conn.socket.ping((rtt: number) => this.view?.rtt(rtt));
      } catch {
        // Not connected (or a transport without pings): try again at the next beat.
      }
    };
    ping();
    this.pingTimer = window.setInterval(ping, PING_EVERY_MS);
  }

  /**
   * The view of the game the join reply names, made and shown the first time; null when
   * this client cannot draw that game (the page then closes).
   */
  private show(reply: JoinReply): RoomGameView | null {
    const views = viewsFor(reply.config);
    if (!views) {
      this.onExit(`This room runs a game this page cannot show (${String(reply.config?.game)}). Reload to update.`);
      return null;
    }
    if (this.view && this.game === views.id) return this.view;
    this.view?.destroy();
    this.game = views.id;
    const view = views.room(this.ctx);
    this.view = view;
    if (this.wantFingerprints && "fingerprints" in view) view.fingerprints = this.wantFingerprints;
    this.el.replaceChildren(view.el);
    view.members(this.members);
    this.renderOtherRooms();
    return view;
  }

  /** Hands an event to the game's view, or keeps it until the view exists. */
  private pass(f: Early): void {
    if (this.view) f(this.view);
    else if (this.early.length < MAX_EARLY_EVENTS) this.early.push(f);
  }

  destroy(): void {
    this.view?.destroy();
    this.view = null;
    clearInterval(this.pingTimer);
    this.unsubRooms();
    this.channel.leave();
  }

  /** What this client is in the room (a player refused a seat watches instead). */
  get role(): Role {
    return this.channel.role;
  }

  /** Per-tick fingerprints, when a test asks for them (`window.__kurve.recordFingerprints()`). */
  get fingerprints(): Map<number, string> | null {
    return this.view ? (this.view.fingerprints ?? null) : this.wantFingerprints;
  }

  set fingerprints(m: Map<number, string> | null) {
    this.wantFingerprints = m;
    if (this.view && "fingerprints" in this.view) this.view.fingerprints = m;
  }

  private renderOtherRooms(): void {
    this.view?.otherRooms([...this.lobby.rooms.values()].filter((r) => r.id !== this.roomId));
  }

  /** `window.kurve.debug()` (CONTRACT §10): the game's; null until the game is known. */
  netDebug() {
    return this.view ? this.view.netDebug() : null;
  }

  /** `window.kurve.bench()`: what tests/e2e/bench/keypress.js measures (games that measure it). */
  netBench() {
    return this.view?.netBench ? this.view.netBench() : null;
  }

  /** Read-only state for tests and debugging (`window.__kurve.room`). */
  debug() {
    if (this.view) return { game: this.game, ...this.view.debug() };
    return { id: this.roomId, game: null, role: this.role, myId: this.myId, snapshots: 0, phase: null, tick: null, players: [] };
  }
}

/** What the page shows until the join reply names the game. */
function placeholder(roomId: string, roomName: string): HTMLElement {
  return h(
    "section",
    { class: "room view", id: "view-room", "data-room-id": roomId, "data-phase": "joining" },
    h(
      "div",
      { class: "stage" },
      h("div", { class: "canvas-wrap" }, h("div", { class: "overlay show" }, h("div", { class: "panel" }, h("p", { class: "kicker" }, roomName), h("p", { class: "big-text" }, "Joining…")))),
    ),
  );
}
