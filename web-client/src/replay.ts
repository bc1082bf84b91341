// Replay view (`#/replay/<match_id>`, topic `replay:<match_id>`): the server re-simulates
// a finished match and sends it as a live spectator sees it; this view draws it with the
// game's replay drawing (picked by the join reply's `config.game`, games/index.ts), with
// play/pause, speed and a scrubber. Viewers of one match watch together: a control from
// any of them moves everyone.

import type { Channel } from "phoenix";
import type { MatchSummary } from "./api";
import type { Connection } from "./conn";
import { dot, h, replace, toast } from "./dom";
import { viewsFor } from "./games";
import type { ReplayGameView } from "./games/types";
import { reasonText } from "./labels";
import type { RoomConfig, Standing } from "./wire";

/** The dot of a recorded player the replay has not shown seated (yet): nobody's colour. */
const UNSEEN_COLOR = "var(--muted)";

interface ReplayReply {
  config: RoomConfig & { match_id: number };
  duration_ticks: number;
  start_tick: number;
  tick: number;
  speed: number;
  match: MatchSummary;
}

const SPEEDS = [0.5, 1, 2, 4];
/** Payloads kept while the join reply that names the game is on its way. */
const MAX_EARLY = 600;

export class ReplayView {
  readonly el: HTMLElement;
  /** The game's drawing, once the join reply named the game. */
  drawing: ReplayGameView | null = null;
  /** The game the match was played in. */
  game: string | null = null;
  snapshots = 0;
  ticks = 0;
  speed = 1;
  start = 0;
  duration = 0;
  ended: { verified: boolean; standings: Standing[] } | null = null;
  private tickHz = 60;
  private match: MatchSummary | null = null;
  private channel: Channel;
  private raf = 0;
  private scrubbing = false;
  /** Where the game's canvas goes. */
  private wrap: HTMLElement;
  /** Payloads that came before the join reply named the game. */
  private early: { snapshot: boolean; payload: unknown }[] = [];
  private playBtn: HTMLButtonElement;
  private speedSel: HTMLSelectElement;
  private scrub: HTMLInputElement;
  private clock: HTMLElement;
  private verdict: HTMLElement;
  private title: HTMLElement;
  private playersEl: HTMLElement;
  /**
   * Each recorded player's seat colour by user id, as the replay has shown them seated.
   * Kept apart from the arena: the replay's first snapshot is taken before the log's
   * seats are applied (no players yet), and a player who leaves mid-match is dropped
   * from the arena but keeps a row in the standings.
   */
  private colors = new Map<string, string>();

  constructor(
    conn: Connection,
    readonly matchId: string,
    private onExit: (message?: string) => void,
  ) {
    this.wrap = h("div", { class: "canvas-wrap" });
    this.title = h("h2", { id: "replay-title" }, `Match ${matchId}`);
    this.playBtn = h("button", { class: "btn", id: "replay-play", type: "button" }, "Pause");
    this.speedSel = h("select", { id: "replay-speed", "aria-label": "Speed" });
    for (const s of SPEEDS) this.speedSel.appendChild(h("option", { value: s, selected: s === 1 }, `${s}×`));
    this.scrub = h("input", { id: "replay-scrub", type: "range", min: 0, max: 0, value: 0, step: 1, "aria-label": "Position" });
    this.clock = h("span", { class: "replay-clock", id: "replay-clock" }, "0:00 / 0:00");
    this.verdict = h("span", { class: "replay-verdict", id: "replay-verdict" });
    this.playersEl = h("ol", { class: "replay-players", id: "replay-players" });
    const back = h("a", { class: "btn ghost small", href: "#/" }, "← Lobby");
    const controls = h("div", { class: "replay-controls" }, this.playBtn, this.speedSel, this.scrub, this.clock, this.verdict);
    const side = h("aside", { class: "side card" }, this.title, this.playersEl);
    this.el = h(
      "section",
      { class: "replay view", id: "view-replay" },
      h("div", { class: "room-head" }, back),
      h("div", { class: "replay-main" }, h("div", { class: "stage" }, this.wrap), side),
      controls,
    );

    this.playBtn.addEventListener("click", () => this.control({ speed: this.speed === 0 ? Number(this.speedSel.value) : 0 }));
    this.speedSel.addEventListener("change", () => this.control({ speed: Number(this.speedSel.value) }));
    this.scrub.addEventListener("input", () => {
      this.scrubbing = true;
      this.showClock(Number(this.scrub.value));
    });
    this.scrub.addEventListener("change", () => {
      this.scrubbing = false;
      this.control({ seek_tick: Number(this.scrub.value) });
    });

    this.channel = conn.socket.channel(`replay:${matchId}`, {});
    this.channel.on("snapshot", (payload: unknown) => this.onSnapshot(payload));
    this.channel.on("tick", (payload: unknown) => this.onTick(payload));
    this.channel.on("replay_end", (m: { verified: boolean; standings: Standing[] }) => this.onEnd(m));
    this.channel
      .join()
      .receive("ok", (reply: ReplayReply) => this.onJoined(reply))
      .receive("error", (reply: { reason?: string }) => {
        this.channel.leave();
        this.onExit(reply?.reason === "not_found" ? "There is no such match." : reasonText(reply?.reason));
      });

    const loop = () => {
      this.raf = requestAnimationFrame(loop);
      this.updateUi();
    };
    this.raf = requestAnimationFrame(loop);
  }

  destroy(): void {
    cancelAnimationFrame(this.raf);
    this.drawing?.destroy();
    this.channel.leave();
  }

  /** The replay's state for tests (`window.__kurve.replay`). */
  debug() {
    return {
      id: this.matchId,
      game: this.game,
      tick: this.drawing?.at ?? null,
      position: this.drawing?.at != null ? this.drawing.at - this.start : null,
      start: this.start,
      duration: this.duration,
      speed: this.speed,
      snapshots: this.snapshots,
      ticks: this.ticks,
      frames: this.drawing?.frames ?? 0,
      ended: this.ended ? { verified: this.ended.verified } : null,
      round: this.drawing?.round ?? null,
      /** The seat colours the standings use, by user id. */
      colors: Object.fromEntries(this.colors),
    };
  }

  private control(payload: { speed?: number; seek_tick?: number }): void {
    this.channel
      .push("control", payload)
      .receive("ok", (r: { speed: number }) => {
        this.speed = r.speed;
        if (r.speed > 0) this.speedSel.value = String(r.speed);
      })
      .receive("error", (r: { reason?: string }) => toast(reasonText(r?.reason), "error"));
    if (payload.seek_tick !== undefined) this.ended = null;
  }

  private onJoined(reply: ReplayReply): void {
    if (!this.drawing) {
      const views = viewsFor(reply.config);
      if (!views) {
        this.channel.leave();
        this.onExit(`This match was played in a game this page cannot show (${String(reply.config?.game)}).`);
        return;
      }
      this.game = views.id;
      this.drawing = views.replay(reply.config);
      this.wrap.replaceChildren(this.drawing.canvas);
      const early = this.early;
      this.early = [];
      for (const e of early) {
        if (e.snapshot) this.onSnapshot(e.payload);
        else this.onTick(e.payload);
      }
    }
    this.tickHz = reply.config.tick_hz || 60;
    this.start = reply.start_tick;
    this.duration = reply.duration_ticks;
    this.speed = reply.speed;
    this.scrub.max = String(reply.duration_ticks);
    this.match = reply.match;
    this.title.textContent = `${reply.match.room_name} — replay`;
    this.renderPlayers();
  }

  /**
   * The recorded standings, each in its player's seat colour once the replay has shown
   * that player seated (a neutral dot until then, never another seat's colour).
   */
  private renderPlayers(): void {
    const m = this.match;
    if (!m) return;
    replace(
      this.playersEl,
      ...m.players.map((p) => {
        const color = this.colors.get(p.id);
        return h(
          "li",
          { "data-user-id": p.id, "data-color": color ?? null },
          dot(color ?? UNSEEN_COLOR),
          `${p.place}. ${p.name}`,
          h("span", { class: "score" }, String(p.points)),
        );
      }),
    );
  }

  /** Notes the seat colours of the drawing's players; re-draws the standings on news. */
  private learnColors(): void {
    let news = false;
    for (const p of this.drawing?.seats() ?? []) {
      if (this.colors.get(p.id) !== p.color) {
        this.colors.set(p.id, p.color);
        news = true;
      }
    }
    if (news) this.renderPlayers();
  }

  private onSnapshot(payload: unknown): void {
    if (!this.drawing) {
      if (this.early.length < MAX_EARLY) this.early.push({ snapshot: true, payload });
      return;
    }
    this.drawing.snapshot(payload);
    this.snapshots++;
    this.learnColors();
  }

  private onTick(payload: unknown): void {
    if (!this.drawing) {
      if (this.early.length < MAX_EARLY) this.early.push({ snapshot: false, payload });
      return;
    }
    if (!this.drawing.tick(payload)) return;
    this.ticks++;
    // Players are seated as the match goes (Curve: at a round's start; the first
    // snapshot has none): a look at up to eight seats per tick.
    this.learnColors();
  }

  private onEnd(m: { verified: boolean; standings: Standing[] }): void {
    this.ended = m;
  }

  private showClock(position: number): void {
    const fmt = (ticks: number) => {
      const s = Math.max(0, Math.round(ticks / this.tickHz));
      return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
    };
    this.clock.textContent = `${fmt(position)} / ${fmt(this.duration)}`;
  }

  private updateUi(): void {
    const at = this.drawing?.at;
    const position = at != null ? at - this.start : 0;
    if (!this.scrubbing) {
      this.scrub.value = String(position);
      this.showClock(position);
    }
    this.playBtn.textContent = this.speed === 0 ? "Play" : "Pause";
    this.el.dataset.playing = String(this.speed > 0 && !this.ended);
    if (this.ended) {
      this.verdict.dataset.verified = String(this.ended.verified);
      this.verdict.textContent = this.ended.verified ? "✓ Same result as recorded" : "✗ Differs from the recorded result";
    } else {
      delete this.verdict.dataset.verified;
      this.verdict.textContent = "";
    }
  }
}
