// The room view's page: the arena canvas with its overlays (joining, waiting room,
// countdown, round banner, match results), the side cards (status, round trip, ready,
// scores, spectators, power-ups, other rooms) and the touch buttons. It draws from a
// `RoomState` each animation frame, and only touches the page when what it shows changed.

import { dot, h, replace } from "../../dom";
import { PHASE_LABEL } from "../../labels";
import type { Member, Role } from "../../room/channel";
import { renderOtherRooms, resultsPanel, roomHead, showNet, type NetState } from "../../room/chrome";
import type { Banner } from "../../room/lifecycle";
import type { MatchEndMsg, RoomSummary } from "../../wire";
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

export interface RoomDomHandlers {
  ready(): void;
  leave(): void;
  /** Watch another room. */
  watch(roomId: string): void;
}

/** A player's line in the score list. */
interface Row {
  id: string;
  name: string;
  color: string;
  score: number;
  alive: boolean;
  /** null: unknown (another player's ready flag is not broadcast while waiting). */
  ready: boolean | null;
  connected: boolean;
  seat: number | null;
}

/**
 * The score list's lines: the arena's players while a match runs; while waiting (no
 * ticks flow) room presence is the live list of seated players, and the arena still
 * knows seats and last scores of those it has seen.
 */
function playerRows(s: RoomState): Row[] {
  const a = s.arena;
  const rows: Row[] = [];
  if (a && a.phase !== "waiting") {
    for (const p of [...a.players].sort((x, y) => x.seat - y.seat)) {
      rows.push({
        id: p.id,
        name: p.name,
        color: p.color,
        score: p.score,
        alive: p.alive,
        ready: true,
        connected: p.connected,
        seat: p.seat,
      });
    }
    return rows;
  }
  const seen = new Set<string>();
  for (const m of s.members) {
    if (m.meta.role !== "player" || seen.has(m.id)) continue;
    seen.add(m.id);
    const p = a?.players.find((x) => x.id === m.id);
    const mine = m.id === s.myId;
    rows.push({
      id: m.id,
      name: m.meta.name ?? p?.name ?? "?",
      color: m.meta.color ?? p?.color ?? (m.meta.seat !== undefined ? seatColor(m.meta.seat) : "#888"),
      score: p?.score ?? 0,
      alive: false,
      ready: m.meta.ready ?? (mine ? s.ready : null),
      connected: true,
      seat: p?.seat ?? m.meta.seat ?? (mine ? s.seat : null),
    });
  }
  // Seated but disconnected players (their seat is kept for a while).
  for (const p of a?.players ?? []) {
    if (seen.has(p.id)) continue;
    rows.push({ id: p.id, name: p.name, color: p.color, score: p.score, alive: false, ready: null, connected: false, seat: p.seat });
  }
  return rows.sort((x, y) => (x.seat ?? 99) - (y.seat ?? 99));
}

export class RoomDom {
  readonly el: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  /** The touch steering buttons (`.touch-btn`, `data-dir` left or right). */
  readonly touch: HTMLElement;
  /** What the page last drew from: it redraws only when this changes. */
  private lastSig = "";
  private overlay: HTMLElement;
  private playersEl: HTMLElement;
  private specEl: HTMLElement;
  private statusEl: HTMLElement;
  private readyBtn: HTMLButtonElement;
  private effectsEl: HTMLElement;
  private otherRoomsEl: HTMLElement;
  private titleEl: HTMLElement;
  private netEl: HTMLElement;

  constructor(
    roomId: string,
    roomName: string,
    private on: RoomDomHandlers,
  ) {
    this.canvas = h("canvas", { class: "arena", id: "arena", width: 1024, height: 768, "aria-label": "Game arena" });
    this.overlay = h("div", { class: "overlay", id: "overlay" });
    this.touch = h(
      "div",
      { class: "touch-controls", id: "touch-controls" },
      h("button", { class: "touch-btn left", "aria-label": "Turn left", "data-dir": "left" }, "◀"),
      h("button", { class: "touch-btn right", "aria-label": "Turn right", "data-dir": "right" }, "▶"),
    );
    const stage = h("div", { class: "stage" }, h("div", { class: "canvas-wrap", id: "canvas-wrap" }, this.canvas, this.overlay), this.touch);

    this.titleEl = h("h2", { class: "room-title" }, roomName);
    this.statusEl = h("div", { class: "room-status", id: "room-status" });
    this.netEl = h("div", { class: "room-net hint", id: "room-net", "aria-live": "polite" });
    this.playersEl = h("ol", { class: "score-list", id: "score-list" });
    this.specEl = h("p", { class: "spectators", id: "spectators" });
    this.effectsEl = h("ul", { class: "effects", id: "effects" });
    this.otherRoomsEl = h("ul", { class: "other-rooms", id: "other-rooms" });
    this.readyBtn = h("button", { class: "btn primary big", id: "ready-btn" }, "Ready");
    this.readyBtn.addEventListener("click", () => on.ready());

    const side = h(
      "aside",
      { class: "room-side" },
      h("div", { class: "card" }, roomHead(roomId, () => on.leave()), this.titleEl, this.statusEl, this.netEl, this.readyBtn, h("p", { class: "hint keys player-only" }, h("kbd", {}, "←"), h("kbd", {}, "→"), " / ", h("kbd", {}, "A"), h("kbd", {}, "D"), " steer · ", h("kbd", {}, "Space"), " ready")),
      h("div", { class: "card" }, h("h3", {}, "Scores"), this.playersEl, this.specEl),
      h("div", { class: "card effects-card" }, h("h3", {}, "Power-ups"), this.effectsEl, legend()),
      h("div", { class: "card rooms-mini" }, h("h3", {}, "Other rooms"), this.otherRoomsEl),
    );
    this.el = h("section", { class: "room view", id: "view-room", "data-room-id": roomId }, stage, side);
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

  setTurn(turn: number): void {
    this.el.dataset.turn = String(turn);
  }

  /** The ready button waits for the server's answer (disabled) or not. */
  setReadyPending(pending: boolean): void {
    this.readyBtn.disabled = pending;
  }

  /** The round trip, and a notice for a while after a snapshot replaced the arena. */
  updateNet(n: NetState, now: number): void {
    showNet(this.netEl, n, now);
  }

  update(s: RoomState): void {
    const a = s.arena;
    const rows = playerRows(s);
    const remaining = a && a.phaseEndsAt !== null ? Math.max(0, a.phaseEndsAt - a.tick) : null;
    const secs = remaining !== null && a ? Math.ceil(remaining / (a.config.tick_hz || 60)) : null;
    const effSig = a ? a.effects.map((e) => `${e.id}:${Math.ceil((e.ends_at - a.tick) / 15)}`).join(",") : "";
    const sig = JSON.stringify([
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
    if (sig === this.lastSig) return;
    this.lastSig = sig;

    const phase = a?.phase ?? "waiting";
    this.el.dataset.phase = phase;
    this.el.dataset.tick = String(a?.tick ?? 0);

    // Scores.
    const byScore = [...rows].sort((x, y) => y.score - x.score || (x.seat ?? 99) - (y.seat ?? 99));
    replace(
      this.playersEl,
      ...byScore.map((r) => {
        const li = h(
          "li",
          {
            class: `prow${r.alive ? " alive" : " dead"}${r.id === s.myId ? " me" : ""}${r.connected ? "" : " offline"}`,
            "data-user-id": r.id,
            "data-seat": r.seat ?? "",
            "data-score": r.score,
          },
          dot(r.color, "dot big"),
          h("span", { class: "pname" }, r.name, r.id === s.myId ? h("span", { class: "you" }, " you") : null),
          phase === "waiting"
            ? r.ready === null
              ? h("span", { class: "ready-tag" }, r.connected ? "" : "offline")
              : h("span", { class: `ready-tag${r.ready ? " on" : ""}` }, r.ready ? "ready" : "not ready")
            : h("span", { class: "state" }, r.connected ? (r.alive ? "" : "✕") : "offline"),
          h("span", { class: "score" }, String(r.score)),
        );
        li.style.setProperty("--c", r.color);
        return li;
      }),
    );
    const specs = s.members.filter((m) => m.meta.role === "spectator");
    this.specEl.textContent = specs.length
      ? `Watching: ${specs.map((m) => m.meta.name ?? "?").join(", ")}`
      : "No spectators";

    // Status line.
    const practice = a && a.target === 0 && phase !== "waiting";
    const parts: string[] = [phase === "round_over" ? "Round over" : (PHASE_LABEL[phase] ?? phase)];
    if (a && a.round > 0 && phase !== "waiting") parts.push(`round ${a.round}`);
    if (a && a.target > 0) parts.push(`first to ${a.target}`);
    if (practice) parts.push("practice");
    if (s.role === "spectator") parts.push("you are watching");
    this.statusEl.textContent = parts.join(" · ");

    // Ready button.
    const canReady = s.role === "player" && phase === "waiting";
    this.readyBtn.hidden = s.role !== "player" || phase !== "waiting";
    this.readyBtn.disabled = !canReady;
    this.readyBtn.textContent = phase !== "waiting" ? "Match running" : s.ready ? "Not ready" : "Ready";
    this.readyBtn.classList.toggle("is-ready", s.ready && phase === "waiting");

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
    const o = this.overlay;
    const a = s.arena;
    o.className = "overlay";
    if (!a || s.awaitingSnapshot) {
      o.classList.add("show");
      replace(o, h("div", { class: "panel" }, h("p", { class: "big-text" }, "Joining…")));
      return;
    }
    if (s.standings && phase === "finished") {
      o.classList.add("show");
      const st = s.standings;
      const colorOf = (id: string, seat: number) => rows.find((r) => r.id === id)?.color ?? seatColor(seat);
      replace(o, resultsPanel(st, st.forfeit ? "Match over (forfeit)" : `Match over · ${st.rounds} rounds`, colorOf, s.savedMatch));
      return;
    }
    if (phase === "countdown" && secs !== null) {
      o.classList.add("show", "countdown");
      replace(
        o,
        h(
          "div",
          { class: "count" },
          h("p", { class: "kicker" }, a.target > 0 ? `Round ${a.round}` : "Practice"),
          h("p", { class: "number" }, String(Math.max(1, secs))),
          s.role === "player" ? h("p", { class: "hint" }, "Steer now — your head turns in place") : null,
        ),
      );
      return;
    }
    if (s.banner) {
      o.classList.add("show", "banner");
      const t = h("p", { class: "big-text" }, s.banner.text);
      if (s.banner.color) t.style.color = s.banner.color;
      replace(o, h("div", { class: "panel slim" }, t));
      return;
    }
    if (phase === "waiting") {
      o.classList.add("show");
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
      replace(
        o,
        h(
          "div",
          { class: "panel" },
          h("p", { class: "kicker" }, s.roomName),
          h("p", { class: "big-text" }, "Waiting room"),
          h("p", { class: "hint" }, msg),
        ),
      );
      return;
    }
    replace(o);
  }

  /** The lobby's other rooms, each with a button to watch it. */
  renderOtherRooms(rooms: RoomSummary[]): void {
    renderOtherRooms(this.otherRoomsEl, rooms, (id) => this.on.watch(id));
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
