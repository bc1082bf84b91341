// Bumper's room page (the layout every game shares: room/page.ts, with Curve's ids:
// #arena, #overlay, #ready-btn, #score-list, #match-results…) with what is Bumper's: the
// keys and the rules, points and falls in the score list, the match clock in the status
// line, and the overlays (joining, waiting room, countdown, match results) drawn from a
// `BumperRoomState` each animation frame, touching the page only when what it shows
// changed.

import { h } from "../../dom";
import { PHASE_LABEL } from "../../labels";
import type { Member, Role } from "../../room/channel";
import { RoomPage, waitingRows, type PlayerRow, type RoomPageHandlers } from "../../room/page";
import { seatColor, type MatchEndMsg } from "../../wire";
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

/** A player's line in the score list. */
interface Row extends PlayerRow {
  points: number;
  falls: number;
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
  return waitingRows(
    s.members,
    st?.players ?? [],
    (m, p): Row => {
      const seat = p?.seat ?? m.meta.seat ?? null;
      return {
        id: m.id,
        name: m.meta.name ?? p?.name ?? "?",
        color: m.meta.color ?? p?.color ?? (seat !== null ? seatColor(seat) : "#888"),
        points: p?.points ?? 0,
        falls: p?.falls ?? 0,
        alive: false,
        ready: m.meta.ready ?? p?.ready ?? (m.id === s.myId ? s.ready : null),
        connected: true,
        seat,
      };
    },
    (p): Row => ({ id: p.id, name: p.name, color: p.color, points: p.points, falls: p.falls, alive: false, ready: null, connected: false, seat: p.seat }),
  );
}

export class BumperDom extends RoomPage {
  /** The touch controls: the stick pad (`.touch-stick`) and the Dash button (`.touch-btn.dash`). */
  readonly touch: HTMLElement;
  /** The stage (the canvas and the touch controls): a drag on its left half is the stick. */
  readonly stage: HTMLElement;

  constructor(roomId: string, roomName: string, on: RoomPageHandlers) {
    const touch = h(
      "div",
      { class: "touch-controls bumper-touch", id: "touch-controls" },
      h("div", { class: "touch-stick", id: "touch-stick", role: "img", "aria-label": "Move: drag" }, h("div", { class: "stick-ring" }, h("div", { class: "stick-knob" }))),
      h("button", { class: "touch-btn dash", id: "touch-dash", "aria-label": "Dash" }, "Dash"),
    );
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
    super(roomId, roomName, on, { stage: touch, keys, scores: "Points · falls", scoresAfter: [rules], data: { "data-game": "bumper" }, predicts: false });
    this.touch = touch;
    this.stage = touch.parentElement!;
    // Space is the dash here: a focused ready button must not catch it.
    this.readyBtn.addEventListener("click", () => this.readyBtn.blur());
  }

  /** The `move` vector held, for styling and tests. */
  setMove(v: [number, number]): void {
    this.el.dataset.move = v.join(",");
  }

  update(s: BumperRoomState): void {
    const st = s.state;
    const rows = playerRows(s);
    const hz = st?.config.tick_hz || 60;
    const secs = st && st.phaseEndsAt !== null ? Math.ceil(Math.max(0, st.phaseEndsAt - st.tick) / hz) : null;
    const clock = st?.clockSeconds();
    const changed = this.changed([
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
    if (!changed) return;

    const phase = st?.phase ?? "waiting";
    this.showPhase(phase, st?.tick ?? 0);

    // Points and falls: most points first, then fewest falls (the standings' order).
    const ranked = [...rows].sort((x, y) => y.points - x.points || x.falls - y.falls || (x.seat ?? 99) - (y.seat ?? 99));
    this.renderScores(ranked, s.myId, phase === "waiting", (r) => ({
      score: r.points,
      state: r.connected ? (r.alive ? `${r.falls} fall${r.falls === 1 ? "" : "s"}` : "in the water") : "offline",
      data: { "data-falls": r.falls },
    }));
    this.renderSpectators(s.members);

    // Status line.
    const parts: string[] = [PHASE_LABEL[phase] ?? phase];
    if (st) parts.push(`first to ${st.target}`);
    if (clock != null && phase === "playing") {
      const c = Math.ceil(clock);
      parts.push(`${Math.floor(c / 60)}:${String(c % 60).padStart(2, "0")} left`);
    }
    this.renderStatus(parts, s.role);

    this.renderReady(s.role, phase, s.ready);

    this.renderOverlay(s, rows, phase, secs);
  }

  private renderOverlay(s: BumperRoomState, rows: Row[], phase: string, secs: number | null): void {
    if (!s.state || s.awaitingSnapshot) return this.showJoining();
    if (s.standings && phase === "finished") {
      return this.showResults(s.standings, s.standings.forfeit ? "Match over (forfeit)" : "Match over", rows, s.savedMatch);
    }
    if (phase === "countdown" && secs !== null) {
      return this.showCountdown(`First to ${s.state.target}`, secs, s.role === "player" ? "Push the others into the water" : null);
    }
    if (phase === "waiting") {
      const players = rows.length;
      const msg =
        s.role === "player"
          ? players < 2
            ? "Bumper needs two players: invite a friend with the room code."
            : s.ready
              ? "Ready. The match starts when everyone is ready…"
              : "Press Ready (Enter) when you are set."
          : `${players} player${players === 1 ? "" : "s"} seated — waiting for them to get ready.`;
      return this.showWaiting(s.roomName, msg);
    }
    this.showOverlay(null);
  }
}
