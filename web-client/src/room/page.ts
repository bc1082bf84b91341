// The page of a game's room view, laid out alike for every game: the arena canvas with
// its overlay on the stage, and the side cards — the room card (back to the lobby, the
// room code, the title, the status line, the round trip, the ready button and the game's
// key hint), the score list with the spectators, the game's own cards, the other rooms.
// The ids (#view-room, #arena, #overlay, #room-status, #room-net, #ready-btn,
// #score-list, #spectators, #other-rooms, #match-results) are every game's. A game's page
// (games/<id>/view.ts) extends this with what it shows of its state, each animation
// frame, touching the page only when that changed (`changed`).

import { dot, h, replace } from "../dom";
import { seatColor, type MatchEndMsg, type RoomSummary } from "../wire";
import type { Member, Role } from "./channel";
import { arenaCanvas, renderOtherRooms, resultsPanel, roomHead, showNet, type NetState } from "./chrome";

export interface RoomPageHandlers {
  ready(): void;
  leave(): void;
  /** Watch another room. */
  watch(roomId: string): void;
}

/** What a game puts on the page besides what every game shows. */
export interface RoomPageLayout {
  /** Beside the canvas on the stage (Curve's touch buttons). */
  stage?: HTMLElement;
  /** The key hint under the ready button. */
  keys: HTMLElement;
  /** The score card's heading. */
  scores: string;
  /** What follows the score list and the spectators in the score card. */
  scoresAfter?: HTMLElement[];
  /** Cards between the score card and the other rooms. */
  cards?: HTMLElement[];
  /** The page's data attributes besides `data-room-id` (`data-game`). */
  data?: Record<string, string>;
  /** Whether the game predicts: the round trip line says so when `?predict=0` turned it off. */
  predicts: boolean;
}

/** A player's line in the score list, as far as every game has it. */
export interface PlayerRow {
  id: string;
  name: string;
  color: string;
  alive: boolean;
  /** null: unknown (not in the state, and presence says nothing). */
  ready: boolean | null;
  connected: boolean;
  seat: number | null;
}

/** What a game writes into a player's line. */
export interface ScoreCells {
  /** The score (`data-score`, and the number at the end of the line). */
  score: number;
  /** What the line says of the player while a match runs. */
  state: string;
  /** More data attributes of the line. */
  data?: Record<string, string | number>;
}

/**
 * The score list's lines while waiting (no ticks flow): room presence is the live list of
 * seated players, each with what the state knows of them (`fromMember`); players the
 * state seated and presence no longer lists keep their seat for a while (`offline`).
 * In seat order.
 */
export function waitingRows<P extends { id: string }, R extends PlayerRow>(
  members: Member[],
  players: readonly P[],
  fromMember: (m: Member, p: P | undefined) => R,
  offline: (p: P) => R,
): R[] {
  const rows: R[] = [];
  const seen = new Set<string>();
  for (const m of members) {
    if (m.meta.role !== "player" || seen.has(m.id)) continue;
    seen.add(m.id);
    rows.push(fromMember(m, players.find((x) => x.id === m.id)));
  }
  for (const p of players) {
    if (!seen.has(p.id)) rows.push(offline(p));
  }
  return rows.sort((x, y) => (x.seat ?? 99) - (y.seat ?? 99));
}

export class RoomPage {
  readonly el: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  /** What the page last drew from: it redraws only when this changes. */
  private lastSig = "";
  private overlay: HTMLElement;
  private playersEl: HTMLElement;
  private specEl: HTMLElement;
  private statusEl: HTMLElement;
  protected readonly readyBtn: HTMLButtonElement;
  private otherRoomsEl: HTMLElement;
  private titleEl: HTMLElement;
  private netEl: HTMLElement;
  private predicts: boolean;

  constructor(
    roomId: string,
    roomName: string,
    private on: RoomPageHandlers,
    layout: RoomPageLayout,
  ) {
    this.predicts = layout.predicts;
    this.canvas = arenaCanvas("Game arena");
    this.overlay = h("div", { class: "overlay", id: "overlay" });
    const stage = h("div", { class: "stage" }, h("div", { class: "canvas-wrap", id: "canvas-wrap" }, this.canvas, this.overlay), layout.stage);

    this.titleEl = h("h2", { class: "room-title" }, roomName);
    this.statusEl = h("div", { class: "room-status", id: "room-status" });
    this.netEl = h("div", { class: "room-net hint", id: "room-net", "aria-live": "polite" });
    this.playersEl = h("ol", { class: "score-list", id: "score-list" });
    this.specEl = h("p", { class: "spectators", id: "spectators" });
    this.otherRoomsEl = h("ul", { class: "other-rooms", id: "other-rooms" });
    this.readyBtn = h("button", { class: "btn primary big", id: "ready-btn" }, "Ready");
    // Hidden until the first render says this client is a player in a waiting room: a
    // spectator never sees it, not even for the frame before that render.
    this.readyBtn.hidden = true;
    this.readyBtn.addEventListener("click", () => on.ready());

    const side = h(
      "aside",
      { class: "room-side" },
      h("div", { class: "card" }, roomHead(roomId, () => on.leave()), this.titleEl, this.statusEl, this.netEl, this.readyBtn, layout.keys),
      h("div", { class: "card" }, h("h3", {}, layout.scores), this.playersEl, this.specEl, ...(layout.scoresAfter ?? [])),
      ...(layout.cards ?? []),
      h("div", { class: "card rooms-mini" }, h("h3", {}, "Other rooms"), this.otherRoomsEl),
    );
    this.el = h("section", { class: "room view", id: "view-room", "data-room-id": roomId, ...layout.data }, stage, side);
  }

  /** Something the signature does not cover changed: redraw at the next frame. */
  invalidate(): void {
    this.lastSig = "";
  }

  setTitle(name: string): void {
    this.titleEl.textContent = name;
  }

  setRole(role: Role): void {
    this.el.dataset.role = role;
  }

  /** The ready button waits for the server's answer (disabled) or not. */
  setReadyPending(pending: boolean): void {
    this.readyBtn.disabled = pending;
  }

  /** The round trip, and a notice for a while after a snapshot replaced the state. */
  updateNet(n: NetState, now: number): void {
    showNet(this.netEl, n, now, this.predicts);
  }

  /** The lobby's other rooms, each with a button to watch it. */
  renderOtherRooms(rooms: RoomSummary[]): void {
    renderOtherRooms(this.otherRoomsEl, rooms, (id) => this.on.watch(id));
  }

  /** Whether what the page shows (`sig`) changed since it last drew, or it was invalidated. */
  protected changed(sig: unknown[]): boolean {
    const s = JSON.stringify(sig);
    if (s === this.lastSig) return false;
    this.lastSig = s;
    return true;
  }

  /** `data-phase` and `data-tick` of the page (tests wait on them). */
  protected showPhase(phase: string, tick: number): void {
    this.el.dataset.phase = phase;
    this.el.dataset.tick = String(tick);
  }

  /** The score list, `rows` in the order given; while waiting each says whether it is ready. */
  protected renderScores<R extends PlayerRow>(rows: R[], myId: string, waiting: boolean, cells: (r: R) => ScoreCells): void {
    replace(
      this.playersEl,
      ...rows.map((r) => {
        const c = cells(r);
        const li = h(
          "li",
          {
            class: `prow${r.alive ? " alive" : " dead"}${r.id === myId ? " me" : ""}${r.connected ? "" : " offline"}`,
            "data-user-id": r.id,
            "data-seat": r.seat ?? "",
            "data-score": c.score,
            ...c.data,
          },
          dot(r.color, "dot big"),
          h("span", { class: "pname" }, r.name, r.id === myId ? h("span", { class: "you" }, " you") : null),
          waiting
            ? r.ready === null
              ? h("span", { class: "ready-tag" }, r.connected ? "" : "offline")
              : h("span", { class: `ready-tag${r.ready ? " on" : ""}` }, r.ready ? "ready" : "not ready")
            : h("span", { class: "state" }, c.state),
          h("span", { class: "score" }, String(c.score)),
        );
        li.style.setProperty("--c", r.color);
        return li;
      }),
    );
  }

  /** Who watches, under the score list. */
  protected renderSpectators(members: Member[]): void {
    const specs = members.filter((m) => m.meta.role === "spectator");
    this.specEl.textContent = specs.length ? `Watching: ${specs.map((m) => m.meta.name ?? "?").join(", ")}` : "No spectators";
  }

  /** The status line: `parts`, and that this client watches. */
  protected renderStatus(parts: string[], role: Role): void {
    if (role === "spectator") parts.push("you are watching");
    this.statusEl.textContent = parts.join(" · ");
  }

  /** The ready button: a player's, while waiting. */
  protected renderReady(role: Role, phase: string, ready: boolean): void {
    const canReady = role === "player" && phase === "waiting";
    this.readyBtn.hidden = !canReady;
    this.readyBtn.disabled = !canReady;
    this.readyBtn.textContent = phase !== "waiting" ? "Match running" : ready ? "Not ready" : "Ready";
    this.readyBtn.classList.toggle("is-ready", ready && phase === "waiting");
  }

  /** Shows `panel` over the arena (`kinds`: more classes of the overlay); null hides it. */
  protected showOverlay(panel: HTMLElement | null, ...kinds: string[]): void {
    const o = this.overlay;
    o.className = "overlay";
    if (!panel) {
      replace(o);
      return;
    }
    o.classList.add("show", ...kinds);
    replace(o, panel);
  }

  /** The match results (`#match-results`) over the arena, in the score list's colours. */
  protected showResults(st: MatchEndMsg, kicker: string, rows: PlayerRow[], savedMatch: number | null): void {
    const colorOf = (id: string, seat: number) => rows.find((r) => r.id === id)?.color ?? seatColor(seat);
    this.showOverlay(resultsPanel(st, kicker, colorOf, savedMatch));
  }

  /** "Joining…" over the arena, until a snapshot is there. */
  protected showJoining(): void {
    this.showOverlay(h("div", { class: "panel" }, h("p", { class: "big-text" }, "Joining…")));
  }

  /** The countdown over the arena: `kicker`, the seconds left (at least 1), a player's `hint`. */
  protected showCountdown(kicker: string, secs: number, hint: string | null): void {
    this.showOverlay(
      h("div", { class: "count" }, h("p", { class: "kicker" }, kicker), h("p", { class: "number" }, String(Math.max(1, secs))), hint !== null ? h("p", { class: "hint" }, hint) : null),
      "countdown",
    );
  }

  /** The waiting room over the arena: the room's name and `msg`. */
  protected showWaiting(roomName: string, msg: string): void {
    this.showOverlay(h("div", { class: "panel" }, h("p", { class: "kicker" }, roomName), h("p", { class: "big-text" }, "Waiting room"), h("p", { class: "hint" }, msg)));
  }
}
