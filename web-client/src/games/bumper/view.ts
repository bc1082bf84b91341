// Bumper's room page: the canvas with its overlays (joining, waiting room, countdown,
// match results) and the side cards (status, round trip, ready, points and falls,
// spectators, other rooms), with the ids Curve's page has (#arena, #overlay, #ready-btn,
// #score-list, #match-results…). It draws from a `BumperRoomState` each animation frame,
// and only touches the page when what it shows changed.

import { dot, h, replace } from "../../dom";
import { PHASE_LABEL } from "../../labels";
import type { Member, Role } from "../../room/channel";
import { renderOtherRooms, resultsPanel, roomHead, showNet, type NetState } from "../../room/chrome";
import { seatColor, type MatchEndMsg, type RoomSummary } from "../../wire";
import type { BumperState } from "./state";

/** What the page shows of a room, read each frame. */
export interface BumperRoomState {
  state: BumperState | null;
  members: Member[];
  myId: string;
  role: Role;
  roomName: string;
  ready: boolean;
  standings: MatchEndMsg | null;
  savedMatch: number | null;
  awaitingSnapshot: boolean;
}

export interface BumperDomHandlers {
  ready(): void;
  leave(): void;
  watch(roomId: string): void;
}

/** A player's line in the score list. */
interface Row {
  id: string;
  name: string;
  color: string;
  points: number;
  falls: number;
  alive: boolean;
  /** null: unknown (not in the state, and presence says nothing). */
  ready: boolean | null;
  connected: boolean;
  seat: number | null;
}

/**
 * The score list's lines: the state's players while a match runs; while waiting room
 * presence is the live list of seated players (ticks do not flow), with what the state
 * knows of each.
 */
function playerRows(s: BumperRoomState): Row[] {
  const st = s.state;
  if (st && st.phase !== "waiting") {
    return st.players.map((p) => ({
      id: p.id,
      name: p.name,
      color: p.color,
      points: p.points,
      falls: p.falls,
      alive: p.alive,
      ready: true,
      connected: p.connected,
      seat: p.seat,
    }));
  }
  const rows: Row[] = [];
  const seen = new Set<string>();
  for (const m of s.members) {
    if (m.meta.role !== "player" || seen.has(m.id)) continue;
    seen.add(m.id);
    const p = st?.players.find((x) => x.id === m.id);
    const seat = p?.seat ?? m.meta.seat ?? null;
    rows.push({
      id: m.id,
      name: m.meta.name ?? p?.name ?? "?",
      color: m.meta.color ?? p?.color ?? (seat !== null ? seatColor(seat) : "#888"),
      points: p?.points ?? 0,
      falls: p?.falls ?? 0,
      alive: false,
      ready: m.meta.ready ?? p?.ready ?? (m.id === s.myId ? s.ready : null),
      connected: true,
      seat,
    });
  }
  for (const p of st?.players ?? []) {
    if (seen.has(p.id)) continue;
    rows.push({ id: p.id, name: p.name, color: p.color, points: p.points, falls: p.falls, alive: false, ready: null, connected: false, seat: p.seat });
  }
  return rows.sort((x, y) => (x.seat ?? 99) - (y.seat ?? 99));
}

export class BumperDom {
  readonly el: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  private lastSig = "";
  private overlay: HTMLElement;
  private playersEl: HTMLElement;
  private specEl: HTMLElement;
  private statusEl: HTMLElement;
  private readyBtn: HTMLButtonElement;
  private otherRoomsEl: HTMLElement;
  private titleEl: HTMLElement;
  private netEl: HTMLElement;

  constructor(
    roomId: string,
    roomName: string,
    private on: BumperDomHandlers,
  ) {
    this.canvas = h("canvas", { class: "arena", id: "arena", width: 1024, height: 768, "aria-label": "Game arena" });
    this.overlay = h("div", { class: "overlay", id: "overlay" });
    const stage = h("div", { class: "stage" }, h("div", { class: "canvas-wrap", id: "canvas-wrap" }, this.canvas, this.overlay));

    this.titleEl = h("h2", { class: "room-title" }, roomName);
    this.statusEl = h("div", { class: "room-status", id: "room-status" });
    this.netEl = h("div", { class: "room-net hint", id: "room-net", "aria-live": "polite" });
    this.playersEl = h("ol", { class: "score-list", id: "score-list" });
    this.specEl = h("p", { class: "spectators", id: "spectators" });
    this.otherRoomsEl = h("ul", { class: "other-rooms", id: "other-rooms" });
    this.readyBtn = h("button", { class: "btn primary big", id: "ready-btn" }, "Ready");
    this.readyBtn.addEventListener("click", () => {
      // Space is the dash here: a focused ready button must not catch it.
      this.readyBtn.blur();
      on.ready();
    });
    const keys = h(
      "p",
      { class: "hint keys player-only" },
      h("kbd", {}, "W"),
      h("kbd", {}, "A"),
      h("kbd", {}, "S"),
      h("kbd", {}, "D"),
      " / arrows move · ",
      h("kbd", {}, "Space"),
      " dash · ",
      h("kbd", {}, "Enter"),
      " ready",
    );
    const rules = h("p", { class: "hint" }, "Push the others off the ice. A push that sends someone into the water scores a point; falling alone costs one.");
    const side = h(
      "aside",
      { class: "room-side" },
      h("div", { class: "card" }, roomHead(roomId, () => on.leave()), this.titleEl, this.statusEl, this.netEl, this.readyBtn, keys),
      h("div", { class: "card" }, h("h3", {}, "Points · falls"), this.playersEl, this.specEl, rules),
      h("div", { class: "card rooms-mini" }, h("h3", {}, "Other rooms"), this.otherRoomsEl),
    );
    this.el = h("section", { class: "room view", id: "view-room", "data-room-id": roomId, "data-game": "bumper" }, stage, side);
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

  /** The `move` vector held, for styling and tests. */
  setMove(v: [number, number]): void {
    this.el.dataset.move = v.join(",");
  }

  setReadyPending(pending: boolean): void {
    this.readyBtn.disabled = pending;
  }

  updateNet(n: NetState, now: number): void {
    showNet(this.netEl, n, now, false);
  }

  update(s: BumperRoomState): void {
    const st = s.state;
    const rows = playerRows(s);
    const hz = st?.config.tick_hz || 60;
    const secs = st && st.phaseEndsAt !== null ? Math.ceil(Math.max(0, st.phaseEndsAt - st.tick) / hz) : null;
    const clock = st?.clockSeconds();
    const sig = JSON.stringify([
      rows,
      st?.phase,
      st?.target,
      secs,
      clock == null ? null : Math.ceil(clock),
      s.role,
      s.ready,
      s.members.length,
      !!s.standings,
      s.savedMatch,
      s.awaitingSnapshot,
    ]);
    if (sig === this.lastSig) return;
    this.lastSig = sig;

    const phase = st?.phase ?? "waiting";
    this.el.dataset.phase = phase;
    this.el.dataset.tick = String(st?.tick ?? 0);

    // Points and falls: most points first, then fewest falls (the standings' order).
    const ranked = [...rows].sort((x, y) => y.points - x.points || x.falls - y.falls || (x.seat ?? 99) - (y.seat ?? 99));
    replace(
      this.playersEl,
      ...ranked.map((r) => {
        const li = h(
          "li",
          {
            class: `prow${r.alive ? " alive" : " dead"}${r.id === s.myId ? " me" : ""}${r.connected ? "" : " offline"}`,
            "data-user-id": r.id,
            "data-seat": r.seat ?? "",
            "data-score": r.points,
            "data-falls": r.falls,
          },
          dot(r.color, "dot big"),
          h("span", { class: "pname" }, r.name, r.id === s.myId ? h("span", { class: "you" }, " you") : null),
          phase === "waiting"
            ? r.ready === null
              ? h("span", { class: "ready-tag" }, r.connected ? "" : "offline")
              : h("span", { class: `ready-tag${r.ready ? " on" : ""}` }, r.ready ? "ready" : "not ready")
            : h("span", { class: "state" }, r.connected ? (r.alive ? `${r.falls} fall${r.falls === 1 ? "" : "s"}` : "in the water") : "offline"),
          h("span", { class: "score" }, String(r.points)),
        );
        li.style.setProperty("--c", r.color);
        return li;
      }),
    );
    const specs = s.members.filter((m) => m.meta.role === "spectator");
    this.specEl.textContent = specs.length ? `Watching: ${specs.map((m) => m.meta.name ?? "?").join(", ")}` : "No spectators";

    // Status line.
    const parts: string[] = [PHASE_LABEL[phase] ?? phase];
    if (st) parts.push(`first to ${st.target}`);
    if (clock != null && phase === "playing") {
      const c = Math.ceil(clock);
      parts.push(`${Math.floor(c / 60)}:${String(c % 60).padStart(2, "0")} left`);
    }
    if (s.role === "spectator") parts.push("you are watching");
    this.statusEl.textContent = parts.join(" · ");

    // Ready button.
    this.readyBtn.hidden = s.role !== "player" || phase !== "waiting";
    this.readyBtn.disabled = !(s.role === "player" && phase === "waiting");
    this.readyBtn.textContent = phase !== "waiting" ? "Match running" : s.ready ? "Not ready" : "Ready";
    this.readyBtn.classList.toggle("is-ready", s.ready && phase === "waiting");

    this.renderOverlay(s, rows, phase, secs);
  }

  private renderOverlay(s: BumperRoomState, rows: Row[], phase: string, secs: number | null): void {
    const o = this.overlay;
    o.className = "overlay";
    if (!s.state || s.awaitingSnapshot) {
      o.classList.add("show");
      replace(o, h("div", { class: "panel" }, h("p", { class: "big-text" }, "Joining…")));
      return;
    }
    if (s.standings && phase === "finished") {
      o.classList.add("show");
      const st = s.standings;
      const colorOf = (id: string, seat: number) => rows.find((r) => r.id === id)?.color ?? seatColor(seat);
      replace(o, resultsPanel(st, st.forfeit ? "Match over (forfeit)" : "Match over", colorOf, s.savedMatch));
      return;
    }
    if (phase === "countdown" && secs !== null) {
      o.classList.add("show", "countdown");
      replace(
        o,
        h(
          "div",
          { class: "count" },
          h("p", { class: "kicker" }, `First to ${s.state.target}`),
          h("p", { class: "number" }, String(Math.max(1, secs))),
          s.role === "player" ? h("p", { class: "hint" }, "Push the others into the water") : null,
        ),
      );
      return;
    }
    if (phase === "waiting") {
      o.classList.add("show");
      const players = rows.length;
      const msg =
        s.role === "player"
          ? players < 2
            ? "Bumper needs two players: invite a friend with the room code."
            : s.ready
              ? "Ready. The match starts when everyone is ready…"
              : "Press Ready (Enter) when you are set."
          : `${players} player${players === 1 ? "" : "s"} seated — waiting for them to get ready.`;
      replace(o, h("div", { class: "panel" }, h("p", { class: "kicker" }, s.roomName), h("p", { class: "big-text" }, "Waiting room"), h("p", { class: "hint" }, msg)));
      return;
    }
    replace(o);
  }

  renderOtherRooms(rooms: RoomSummary[]): void {
    renderOtherRooms(this.otherRoomsEl, rooms, (id) => this.on.watch(id));
  }
}
