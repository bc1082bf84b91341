// Curve's room page (the layout every game shares: room/page.ts) with what is Curve's:
// the touch steering buttons, the power-ups card with its legend, the round banner, and
// the scores, status line and overlays (joining, waiting room, countdown, round banner,
// match results) drawn from a `RoomState` each animation frame, touching the page only
// when what it shows changed.

import { h, replace } from "../../dom";
import { PHASE_LABEL } from "../../labels";
import type { Member, Role } from "../../room/channel";
import type { Banner } from "../../room/lifecycle";
import { RoomPage, waitingRows, type PlayerRow, type RoomPageHandlers } from "../../room/page";
import type { MatchEndMsg } from "../../wire";
import type { Arena } from "./arena";
import { ITEM_COLORS, ITEM_LABELS, drawItemGlyph, itemTarget } from "./render";
import { ITEM_KINDS, seatColor } from "./wire";

/** What the page shows of a room, read each frame. */
export interface RoomState {
  arena: Arena | null;
  members: Member[];
  myId: string;
  role: Role;
  /** This client's seat as the join reply or a round start said (the arena's when it has one). */
  seat: number | null;
  roomName: string;
  ready: boolean;
  banner: Banner | null;
  standings: MatchEndMsg | null;
  savedMatch: number | null;
  awaitingSnapshot: boolean;
}

/** A player's line in the score list. */
interface Row extends PlayerRow {
  score: number;
}

/**
 * The score list's lines: the arena's players while a match runs; while waiting (no
 * ticks flow) room presence is the live list of seated players, and the arena still
 * knows seats and last scores of those it has seen.
 */
function playerRows(s: RoomState): Row[] {
  const a = s.arena;
  if (a && a.phase !== "waiting") {
    return [...a.players]
      .sort((x, y) => x.seat - y.seat)
      .map((p) => ({ id: p.id, name: p.name, color: p.color, score: p.score, alive: p.alive, ready: true, connected: p.connected, seat: p.seat }));
  }
  return waitingRows(
    s.members,
    a?.players ?? [],
    (m, p): Row => {
      const mine = m.id === s.myId;
      return {
        id: m.id,
        name: m.meta.name ?? p?.name ?? "?",
        color: m.meta.color ?? p?.color ?? (m.meta.seat !== undefined ? seatColor(m.meta.seat) : "#888"),
        score: p?.score ?? 0,
        alive: false,
        ready: m.meta.ready ?? (mine ? s.ready : null),
        connected: true,
        seat: p?.seat ?? m.meta.seat ?? (mine ? s.seat : null),
      };
    },
    (p): Row => ({ id: p.id, name: p.name, color: p.color, score: p.score, alive: false, ready: null, connected: false, seat: p.seat }),
  );
}

export class RoomDom extends RoomPage {
  /** The touch steering buttons (`.touch-btn`, `data-dir` left or right). */
  readonly touch: HTMLElement;
  private effectsEl: HTMLElement;

  constructor(roomId: string, roomName: string, on: RoomPageHandlers) {
    const touch = h(
      "div",
      { class: "touch-controls", id: "touch-controls" },
      h("button", { class: "touch-btn left", "aria-label": "Turn left", "data-dir": "left" }, "◀"),
      h("button", { class: "touch-btn right", "aria-label": "Turn right", "data-dir": "right" }, "▶"),
    );
    const effectsEl = h("ul", { class: "effects", id: "effects" });
    super(roomId, roomName, on, {
      stage: touch,
      keys: h("p", { class: "hint keys player-only" }, h("kbd", {}, "←"), h("kbd", {}, "→"), " / ", h("kbd", {}, "A"), h("kbd", {}, "D"), " steer · ", h("kbd", {}, "Space"), " ready"),
      scores: "Scores",
      cards: [h("div", { class: "card effects-card" }, h("h3", {}, "Power-ups"), effectsEl, legend())],
      predicts: true,
    });
    this.touch = touch;
    this.effectsEl = effectsEl;
  }

  setTurn(turn: number): void {
    this.el.dataset.turn = String(turn);
  }

  update(s: RoomState): void {
    const a = s.arena;
    const rows = playerRows(s);
    const remaining = a && a.phaseEndsAt !== null ? Math.max(0, a.phaseEndsAt - a.tick) : null;
    const secs = remaining !== null && a ? Math.ceil(remaining / (a.config.tick_hz || 60)) : null;
    const effSig = a ? a.effects.map((e) => `${e.id}:${Math.ceil((e.ends_at - a.tick) / 15)}`).join(",") : "";
    const changed = this.changed([
      rows,
      a?.phase,
      a?.round,
      a?.target,
      secs,
      s.role,
      s.ready,
      s.members.length,
      effSig,
      !!s.banner,
      !!s.standings,
      s.savedMatch,
      s.awaitingSnapshot,
    ]);
    if (!changed) return;

    const phase = a?.phase ?? "waiting";
    this.showPhase(phase, a?.tick ?? 0);

    // Scores.
    const byScore = [...rows].sort((x, y) => y.score - x.score || (x.seat ?? 99) - (y.seat ?? 99));
    this.renderScores(byScore, s.myId, phase === "waiting", (r) => ({
      score: r.score,
      state: r.connected ? (r.alive ? "" : "✕") : "offline",
    }));
    this.renderSpectators(s.members);

    // Status line.
    const practice = a && a.target === 0 && phase !== "waiting";
    const parts: string[] = [phase === "round_over" ? "Round over" : (PHASE_LABEL[phase] ?? phase)];
    if (a && a.round > 0 && phase !== "waiting") parts.push(`round ${a.round}`);
    if (a && a.target > 0) parts.push(`first to ${a.target}`);
    if (practice) parts.push("practice");
    this.renderStatus(parts, s.role);

    this.renderReady(s.role, phase, s.ready);

    // Effects.
    replace(
      this.effectsEl,
      ...(a?.effects ?? []).map((e) => {
        const left = Math.max(0, (e.ends_at - a!.tick) / (a!.config.tick_hz || 60));
        const who = e.kind === "wrap_all" ? "everyone" : e.targets.map((t) => a!.player(t)?.name ?? `seat ${t}`).join(", ");
        const li = h(
          "li",
          { class: `effect ${itemTarget(e.kind)}` },
          h("span", { class: "ename" }, ITEM_LABELS[e.kind] ?? e.kind),
          h("span", { class: "ewho" }, who),
          h("span", { class: "eleft" }, `${left.toFixed(0)}s`),
        );
        li.style.setProperty("--c", ITEM_COLORS[itemTarget(e.kind)]);
        return li;
      }),
    );

    this.renderOverlay(s, rows, phase, secs);
  }

  private renderOverlay(s: RoomState, rows: Row[], phase: string, secs: number | null): void {
    const a = s.arena;
    if (!a || s.awaitingSnapshot) return this.showJoining();
    if (s.standings && phase === "finished") {
      const st = s.standings;
      return this.showResults(st, st.forfeit ? "Match over (forfeit)" : `Match over · ${st.rounds} rounds`, rows, s.savedMatch);
    }
    if (phase === "countdown" && secs !== null) {
      return this.showCountdown(a.target > 0 ? `Round ${a.round}` : "Practice", secs, s.role === "player" ? "Steer now — your head turns in place" : null);
    }
    if (s.banner) {
      const t = h("p", { class: "big-text" }, s.banner.text);
      if (s.banner.color) t.style.color = s.banner.color;
      return this.showOverlay(h("div", { class: "panel slim" }, t), "banner");
    }
    if (phase === "waiting") {
      const players = rows.length;
      const msg =
        s.role === "player"
          ? s.ready
            ? players < 2
              ? "Ready — practising alone until someone joins."
              : "Ready. The match starts when everyone is ready…"
            : players < 2
              ? "Invite a friend with the room code, or press Ready to practise."
              : "Press Ready (Space) when you are set."
          : `${players} player${players === 1 ? "" : "s"} seated — waiting for them to get ready.`;
      return this.showWaiting(s.roomName, msg);
    }
    this.showOverlay(null);
  }
}

/** What each item does, with its glyph as the arena draws it. */
function legend(): HTMLElement {
  const ul = h("ul", { class: "legend" });
  for (const k of ITEM_KINDS) {
    const cv = h("canvas", { width: 28, height: 28, class: "glyph" });
    const c = cv.getContext("2d");
    if (c) {
      const col = ITEM_COLORS[itemTarget(k)];
      c.translate(14, 14);
      c.fillStyle = "#0a0f1c";
      c.strokeStyle = col;
      c.lineWidth = 1.6;
      c.beginPath();
      c.arc(0, 0, 12, 0, Math.PI * 2);
      c.fill();
      c.stroke();
      drawItemGlyph(c, k, 12, col);
    }
    ul.appendChild(h("li", { title: ITEM_LABELS[k] }, cv, h("span", {}, ITEM_LABELS[k])));
  }
  return h("details", { class: "fold legend-fold" }, h("summary", {}, "What do the items do?"), ul);
}
