// Room view (`room:<id>`): the arena from `snapshot` + every `tick`, the player list with
// live scores, countdown / round / match overlays, ready, steering, spectating.

import { Presence, type Channel } from "phoenix";
import { Arena, OutOfSequence } from "./arena";
import { NetClock } from "./netclock";
import { OwnHead, wireOf, type PathPoint } from "./predict";
import type { Connection } from "./conn";
import { dot, h, replace, toast } from "./dom";
import { PHASE_LABEL, reasonText } from "./labels";
import type { Lobby } from "./lobby";
import { ArenaRenderer, ITEM_COLORS, ITEM_LABELS, drawItemGlyph, itemTarget } from "./render";
import {
  decodeSnapshot,
  decodeTick,
  decodeTicks,
  ITEM_KINDS,
  seatColor,
  type MatchEndMsg,
  type PhaseMsg,
  type RoundEndMsg,
  type Tick,
} from "./wire";

export type Role = "player" | "spectator";

interface JoinReply {
  you: { id: string; role: Role; color?: string; seat?: number };
  config: {
    tick_hz: number;
    arena: { w: number; h: number };
    pos_scale?: number;
    max_players?: number;
    name?: string;
    lobby?: string;
    motion?: { speed_px_per_s: number; turn_rate_mrad_per_s: number };
  };
}

interface RoomMeta {
  name?: string;
  role?: Role;
  color?: string;
  ready?: boolean;
  seat?: number;
}

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

const LEFT_KEYS = new Set(["ArrowLeft", "a", "A"]);
/** How often the round trip is measured (a Phoenix heartbeat on the socket), ms. */
const PING_EVERY_MS = 1000;
/** The playout buffer never holds more than this many ticks (0.5 s): beyond, it catches up. */
const MAX_BUFFERED_TICKS = 30;
/** Corrections kept for `window.kurve.bench()`. */
const MAX_CORRECTIONS = 4000;
/** How long the "resynced" notice shows, ms. */
const RESYNC_NOTICE_MS = 2500;

/** `?predict=0` draws the own head where the last tick put it, as before prediction. */
export function predictionEnabled(): boolean {
  return new URLSearchParams(location.search).get("predict") !== "0";
}

/** What was drawn of the own head in one frame (for the key-press measurement). */
interface DrawnFrame {
  t: number;
  heading: number;
  x: number;
  y: number;
  seq: number;
  ackSeq: number | null;
}
const RIGHT_KEYS = new Set(["ArrowRight", "d", "D"]);

export class RoomView {
  readonly el: HTMLElement;
  arena: Arena | null = null;
  role: Role;
  seat: number | null = null;
  color: string | null = null;
  turn = 0;
  /** Since when rejoins find no room (its node died; another is adopting it). */
  private lostAt: number | null = null;
  /** Number of snapshots applied (joins, rejoins and resyncs). */
  snapshots = 0;
  /** Number of resyncs asked for after a missed tick. */
  resyncs = 0;
  /** Per-tick fingerprints, when a test asks for them. */
  fingerprints: Map<number, string> | null = null;
  /** Own head prediction (`?predict=0`: off) and the arrival clock behind it. */
  readonly predicting = predictionEnabled();
  private own: OwnHead | null = null;
  /** The room's motion rules, from the join reply's config. */
  private motion: { speed_px_per_s: number; turn_rate_mrad_per_s: number } | null = null;
  private clock = new NetClock(1000 / 60);
  /** Inputs sent in this room view, numbered from 1 (`seq`). */
  private seq = 0;
  /** `latestTick` when each unacknowledged input was sent (calibrates the lead). */
  private sentAt = new Map<number, number>();
  /** Ticks received and not yet applied to the arena (the playout buffer), in order. */
  private queue: Tick[] = [];
  /** The newest tick received (applied or queued). */
  private received = 0;
  /**
   * The own head as last predicted for recent ticks, to measure each correction: made
   * when the shadow was at tick `from`, with no input in flight (`quiet`) or some.
   */
  private predictedAt = new Map<number, { x: number; y: number; from: number; quiet: boolean }>();
  /** The last tick that brought something no prediction can know of (pickup, death…). */
  private surpriseTick = 0;
  /**
   * Distance between predicted and authoritative own head as each tick arrived, px;
   * `clean`: predicted with no input in flight and nothing unforeseeable since (the
   * port is exact, so these are 0).
   */
  corrections: { tick: number; px: number; clean: boolean }[] = [];
  /** The own head as drawn in recent frames. */
  drawn: DrawnFrame[] = [];
  /** What this frame draws: the own head's prediction and the others between ticks. */
  private view = new Map<number, { x: number; y: number; heading: number }>();
  private resyncedAt = -Infinity;
  private pingTimer = 0;
  private channel!: Channel;
  private presence!: Presence;
  private renderer: ArenaRenderer;
  private pending: Tick[] = [];
  private awaitingSnapshot = true;
  private joinedOnce = false;
  private destroyed = false;
  private ready = false;
  private keys = { left: false, right: false, tleft: false, tright: false };
  private roomName: string;
  private members: { id: string; meta: RoomMeta }[] = [];
  private lastSig = "";
  private banner: { text: string; color?: string; until: number; sub?: string } | null = null;
  private standings: MatchEndMsg | null = null;
  /** The id under which the last match was stored (`match_saved`), for its replay link. */
  private savedMatch: number | null = null;
  private raf = 0;
  private unsubRooms: () => void;
  private cleanup: (() => void)[] = [];

  // DOM
  private stage: HTMLElement;
  private canvas: HTMLCanvasElement;
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
    private conn: Connection,
    private lobby: Lobby,
    private myId: string,
    readonly roomId: string,
    as: Role,
    private password: string | undefined,
    private onExit: (message?: string) => void,
    private onSwitch: (id: string, as: Role) => void,
  ) {
    this.role = as;
    this.roomName = lobby.rooms.get(roomId)?.name ?? roomId;

    this.canvas = h("canvas", { class: "arena", id: "arena", width: 1024, height: 768, "aria-label": "Game arena" });
    this.overlay = h("div", { class: "overlay", id: "overlay" });
    const touch = h(
      "div",
      { class: "touch-controls", id: "touch-controls" },
      h("button", { class: "touch-btn left", "aria-label": "Turn left", "data-dir": "left" }, "◀"),
      h("button", { class: "touch-btn right", "aria-label": "Turn right", "data-dir": "right" }, "▶"),
    );
    this.stage = h("div", { class: "stage" }, h("div", { class: "canvas-wrap", id: "canvas-wrap" }, this.canvas, this.overlay), touch);
    this.renderer = new ArenaRenderer(this.canvas);
    this.renderer.beforeFrame = (now) => this.frame(now);
    this.renderer.headAt = (seat) => this.view.get(seat) ?? null;

    this.titleEl = h("h2", { class: "room-title" }, this.roomName);
    this.statusEl = h("div", { class: "room-status", id: "room-status" });
    this.netEl = h("div", { class: "room-net hint", id: "room-net", "aria-live": "polite" });
    this.playersEl = h("ol", { class: "score-list", id: "score-list" });
    this.specEl = h("p", { class: "spectators", id: "spectators" });
    this.effectsEl = h("ul", { class: "effects", id: "effects" });
    this.otherRoomsEl = h("ul", { class: "other-rooms", id: "other-rooms" });
    this.readyBtn = h("button", { class: "btn primary big", id: "ready-btn" }, "Ready");
    this.readyBtn.addEventListener("click", () => this.toggleReady());
    const leave = h("button", { class: "btn ghost", id: "leave-btn" }, "← Lobby");
    leave.addEventListener("click", () => this.onExit());
    const copy = h("button", { class: "btn small ghost", id: "copy-code", title: "Copy the room code" }, `Code ${roomId}`);
    copy.addEventListener("click", () => {
      void navigator.clipboard?.writeText(roomId).then(
        () => toast("Room code copied"),
        () => toast(`Room code: ${roomId}`),
      );
    });

    const side = h(
      "aside",
      { class: "room-side" },
      h("div", { class: "card" }, h("div", { class: "room-head" }, leave, copy), this.titleEl, this.statusEl, this.netEl, this.readyBtn, h("p", { class: "hint keys player-only" }, h("kbd", {}, "←"), h("kbd", {}, "→"), " / ", h("kbd", {}, "A"), h("kbd", {}, "D"), " steer · ", h("kbd", {}, "Space"), " ready")),
      h("div", { class: "card" }, h("h3", {}, "Scores"), this.playersEl, this.specEl),
      h("div", { class: "card effects-card" }, h("h3", {}, "Power-ups"), this.effectsEl, this.legend()),
      h("div", { class: "card rooms-mini" }, h("h3", {}, "Other rooms"), this.otherRoomsEl),
    );
    this.el = h("section", { class: "room view", id: "view-room", "data-room-id": roomId }, this.stage, side);

    // Input.
    const onKey = (ev: KeyboardEvent) => this.onKey(ev);
    const onBlur = () => {
      this.keys = { left: false, right: false, tleft: false, tright: false };
      this.sendTurn();
    };
    window.addEventListener("keydown", onKey);
    window.addEventListener("keyup", onKey);
    window.addEventListener("blur", onBlur);
    this.cleanup.push(() => {
      window.removeEventListener("keydown", onKey);
      window.removeEventListener("keyup", onKey);
      window.removeEventListener("blur", onBlur);
    });
    for (const b of touch.querySelectorAll<HTMLButtonElement>(".touch-btn")) {
      const dir = b.dataset.dir === "left" ? "tleft" : "tright";
      const set = (v: boolean) => (ev: Event) => {
        ev.preventDefault();
        this.keys[dir] = v;
        b.classList.toggle("down", v);
        this.sendTurn();
      };
      b.addEventListener("pointerdown", set(true));
      b.addEventListener("pointerup", set(false));
      b.addEventListener("pointercancel", set(false));
      b.addEventListener("pointerleave", set(false));
      b.addEventListener("contextmenu", (e) => e.preventDefault());
    }

    this.unsubRooms = lobby.onRooms(() => this.renderOtherRooms());
    this.renderOtherRooms();
    this.join();

    const loop = () => {
      this.raf = requestAnimationFrame(loop);
      this.updateUi();
    };
    this.raf = requestAnimationFrame(loop);
    const ping = () => {
      try {
        this.conn.socket.ping((rtt: number) => {
          this.clock.rttMs = rtt;
        });
      } catch {
        // Not connected (or a transport without pings): try again at the next beat.
      }
    };
    ping();
    this.pingTimer = window.setInterval(ping, PING_EVERY_MS);
  }

  destroy(): void {
    this.destroyed = true;
    cancelAnimationFrame(this.raf);
    clearInterval(this.pingTimer);
    this.unsubRooms();
    for (const f of this.cleanup) f();
    this.renderer.destroy();
    this.channel?.leave();
  }

  // --- channel -------------------------------------------------------------------

  private join(): void {
    const params: Record<string, unknown> = { as: this.role };
    if (this.password) params.password = this.password;
    const ch = this.conn.socket.channel(`room:${this.roomId}`, params);
    this.channel = ch;
    this.presence = new Presence(ch);
    this.presence.onSync(() => {
      this.members = this.presence.list((id: string, { metas }: { metas: RoomMeta[] }) => ({ id, meta: metas[metas.length - 1] ?? {} }));
      this.lastSig = "";
    });
    ch.on("snapshot", (payload: unknown) => {
      if (ch !== this.channel) return;
      this.onSnapshot(payload);
    });
    ch.on("tick", (payload: unknown) => {
      if (ch !== this.channel) return;
      this.onTick(payload);
    });
    ch.on("ticks", (payload: unknown) => {
      if (ch !== this.channel) return;
      this.onTicks(payload);
    });
    ch.on("phase", (m: PhaseMsg) => this.onPhase(m));
    ch.on("round_end", (m: RoundEndMsg) => this.onRoundEnd(m));
    ch.on("match_end", (m: MatchEndMsg) => this.onMatchEnd(m));
    ch.on("match_saved", (m: { match_id: number }) => {
      this.savedMatch = m.match_id;
      this.lastSig = "";
    });
    ch.on("round_start", () => {
      this.banner = null;
      this.standings = null;
    });
    ch.onError(() => {
      // The socket dropped or the room crashed: the client rejoins by itself and the
      // server sends a fresh snapshot after the join reply.
      if (ch === this.channel) this.awaitingSnapshot = true;
    });
    ch.join()
      .receive("ok", (reply: JoinReply) => {
        if (ch !== this.channel) return;
        this.lostAt = null;
        this.awaitingSnapshot = true;
        this.pending = [];
        this.queue = [];
        this.role = reply.you?.role ?? this.role;
        this.seat = reply.you?.seat ?? null;
        this.color = reply.you?.color ?? null;
        if (reply.config?.name) this.roomName = reply.config.name;
        this.motion = reply.config?.motion ?? null;
        this.titleEl.textContent = this.roomName;
        this.el.dataset.role = this.role;
        if (!this.joinedOnce && this.role === "spectator") toast(`Watching ${this.roomName}`);
        this.joinedOnce = true;
        this.lastSig = "";
      })
      .receive("error", (reply: { reason?: string }) => {
        if (ch !== this.channel) return;
        const reason = reply?.reason;
        if (this.joinedOnce && reason === "not_found") {
          // In a cluster the room's node went away and another node adopts the room
          // within seconds: until then rejoins find nothing. The official client's
          // rejoin timer tries again by itself; give up after 20 s.
          this.lostAt ??= Date.now();
          if (Date.now() - this.lostAt < 20000) return;
        }
        ch.leave();
        if (this.role === "player" && (reason === "already_started" || reason === "room_full") && !this.joinedOnce) {
          toast(reasonText(reason));
          this.role = "spectator";
          this.join();
          return;
        }
        this.onExit(reasonText(reason));
      });
  }

  /**
   * Rejoins to get a fresh snapshot (after a missed tick). The channel takes the same
   * path as after a room crash: errored → the client's own rejoin timer sends a new
   * phx_join on this topic, which the server treats as a duplicate join (the old
   * channel is replaced, the seat kept) and answers with a snapshot. An explicit
   * phx_leave would give a player's seat up, so none is sent.
   */
  private resync(): void {
    if (this.awaitingSnapshot || this.destroyed) return;
    this.resyncs++;
    this.awaitingSnapshot = true;
    this.pending = [];
    this.queue = [];
    (this.channel as unknown as { trigger(event: string, payload: object): void }).trigger("phx_error", {});
  }

  private onSnapshot(payload: unknown): void {
    let s;
    try {
      s = decodeSnapshot(payload);
    } catch (e) {
      console.warn("bad snapshot", e);
      return;
    }
    // A snapshot may come at any time (a join, a rejoin, or the server's resync of a
    // member that fell behind): it replaces everything, and ticks go on from s.tick + 1.
    if (this.arena) this.arena.applySnapshot(s);
    else this.arena = new Arena(s);
    this.renderer.attach(this.arena);
    this.renderer.mySeat = this.role === "player" ? this.mySeat() : null;
    this.snapshots++;
    if (this.snapshots > 1) this.resyncedAt = performance.now();
    this.awaitingSnapshot = false;
    this.fingerprints?.clear();
    const queued = this.pending.filter((t) => t.tick > s.tick);
    this.pending = [];
    this.queue = [];
    this.received = s.tick;
    this.clock.periodMs = this.tickPeriodMs();
    this.predictedAt.clear();
    const seat = this.role === "player" ? this.mySeat() : null;
    if (this.predicting && seat !== null) {
      if (!this.own || this.own.seat !== seat) this.own = this.newOwn(seat);
      this.own.applySnapshot(s);
    } else {
      this.own = null;
    }
    for (const t of queued) this.takeTick(t, performance.now());
    this.lastSig = "";
  }

  private newOwn(seat: number): OwnHead {
    const cfg = this.arena!.config;
    const own = new OwnHead(seat, {
      tick_hz: cfg.tick_hz,
      arena_w: cfg.w,
      arena_h: cfg.h,
      // The join config's `motion`; a server that sends none runs GAME.md's defaults.
      // Were the rules wrong, the shadow would miss its checks and re-seed from every
      // tick (counted in `reseeds`): prediction degrades, nothing wrong is drawn for long.
      speed_px_per_s: this.motion?.speed_px_per_s ?? 90,
      turn_rate_mrad_per_s: this.motion?.turn_rate_mrad_per_s ?? 2950,
    });
    own.onAck = (seq, tick) => {
      const at = this.sentAt.get(seq);
      if (at !== undefined) this.clock.leadSample(at, tick);
      for (const k of this.sentAt.keys()) if (k <= seq) this.sentAt.delete(k);
    };
    return own;
  }

  private onTick(payload: unknown): void {
    let t: Tick;
    try {
      t = decodeTick(payload);
    } catch (e) {
      console.warn("bad tick", e);
      return;
    }
    this.takeTick(t, performance.now());
  }

  /**
   * A frame carrying several ticks (the room sends below its tick rate): they enter the
   * playout buffer like single ticks, which spreads them one tick period apart.
   */
  private onTicks(payload: unknown): void {
    let ts: Tick[];
    try {
      ts = decodeTicks(payload);
    } catch (e) {
      console.warn("bad ticks", e);
      return;
    }
    const now = performance.now();
    for (const t of ts) this.takeTick(t, now);
  }

  private tickPeriodMs(): number {
    return 1000 / (this.arena?.config.tick_hz || 60);
  }

  /**
   * A tick arrived. The own head's shadow takes it at once (the prediction starts from
   * the newest authoritative state); the arena takes it from the playout buffer, when
   * its time comes (`frame`), so heads and trails of others move evenly despite jitter.
   * With `?predict=0` the arena takes it at once, as before.
   */
  private takeTick(t: Tick, now: number): void {
    if (this.awaitingSnapshot || !this.arena) {
      if (this.pending.length < 600) this.pending.push(t);
      return;
    }
    const waiting = this.arena.phase === "waiting" && this.queue.length === 0;
    if (t.tick <= this.received && !waiting) return; // duplicate / stale
    this.received = t.tick;
    this.clock.arrived(t.tick, now);
    if (this.own) this.feedOwn(t);
    if (!this.predicting) {
      this.apply(t);
      return;
    }
    this.queue.push(t);
  }

  /** The own head's shadow takes a tick; the correction it makes is measured. */
  private feedOwn(t: Tick): void {
    const own = this.own!;
    if (t.tick !== own.tick + 1 && own.phase !== "waiting") {
      // A tick is missing: the arena asks for a snapshot, which resets the shadow too.
      own.auth = null;
      return;
    }
    own.applyTick(t);
    const seat = own.seat;
    const surprise = t.events.some(
      (e) =>
        e.type === "round_start" ||
        e.type === "clear" ||
        e.type === "phase" ||
        e.type === "item_pickup" ||
        (e.type === "effect_start" && e.effect.targets.includes(seat)) ||
        ((e.type === "death" || e.type === "left") && e.seat === seat),
    );
    const p = this.predictedAt.get(t.tick);
    const a = own.auth;
    if (p && a?.alive) {
      const dx = wireOf(a.fx) - p.x;
      const dy = wireOf(a.fy) - p.y;
      const px = Math.hypot(dx, dy) / (this.arena?.config.pos_scale || 32);
      const clean = p.quiet && p.from >= this.surpriseTick && !surprise;
      this.corrections.push({ tick: t.tick, px, clean });
      if (this.corrections.length > MAX_CORRECTIONS) this.corrections.shift();
    }
    if (surprise) this.surpriseTick = t.tick;
    for (const k of this.predictedAt.keys()) if (k <= t.tick) this.predictedAt.delete(k);
  }

  /**
   * Everything one animation frame draws, at its timestamp: the ticks due from the
   * playout buffer, other heads between two ticks, and the own head predicted.
   */
  private frame(now: number): void {
    const a = this.arena;
    this.view.clear();
    this.renderer.predictedTrail = null;
    if (!a || this.awaitingSnapshot) return;
    if (this.predicting) {
      // The playout buffer: apply every tick at or before the render tick.
      const render = this.clock.latestTick(now) - this.clock.bufferTicks();
      while (this.queue.length > 0 && (this.queue[0].tick <= render || this.queue.length > MAX_BUFFERED_TICKS)) {
        if (!this.apply(this.queue.shift()!)) return;
      }
      // Other heads between the arena's tick and the next buffered one.
      const next = this.queue[0];
      const f = Math.min(1, Math.max(0, render - a.tick));
      if (next && next.tick === a.tick + 1 && f > 0) {
        for (const hu of next.heads) {
          const p = a.player(hu.s);
          if (!p || !p.alive || hu.d === 3) continue;
          this.view.set(hu.s, { x: p.pos[0] + (hu.x - p.pos[0]) * f, y: p.pos[1] + (hu.y - p.pos[1]) * f, heading: hu.h });
        }
      }
      this.predictOwn(now);
    }
    const own = this.own;
    const seat = this.mySeat();
    if (seat !== null && this.role === "player") {
      const v = this.view.get(seat);
      const p = a.player(seat);
      const drawn = v ?? (p ? { x: p.pos[0], y: p.pos[1], heading: p.heading } : null);
      if (drawn) {
        this.drawn.push({ t: now, heading: drawn.heading, x: drawn.x, y: drawn.y, seq: this.seq, ackSeq: own?.ackSeq ?? null });
        if (this.drawn.length > 600) this.drawn.shift();
      }
    }
  }

  /** The own head at `now`: the shadow stepped to the predicted tick with the inputs in flight. */
  private predictOwn(now: number): void {
    const own = this.own;
    const a = this.arena!;
    if (!own || !own.auth?.alive || (own.phase !== "countdown" && own.phase !== "playing")) return;
    const me = a.player(own.seat);
    if (!me || !me.alive) return; // dead in the arena's (buffered) view: shown as dead
    const frontier = Math.max(own.tick, this.clock.latestTick(now) + this.clock.leadTicks());
    const base = Math.floor(frontier);
    const path: PathPoint[] = [];
    const h = own.predict(base + 1, path);
    if (!h) return;
    const quiet = own.pending.length === 0;
    // The last prediction made for each tick is the one a correction is measured against.
    for (const q of path) this.predictedAt.set(q.tick, { x: q.x, y: q.y, from: own.tick, quiet });
    const end = path[path.length - 1];
    const prev = path.length >= 2 ? path[path.length - 2] : { x: wireOf(own.auth.fx), y: wireOf(own.auth.fy) };
    const f = frontier - base;
    let x = end ? prev.x + (end.x - prev.x) * f : wireOf(h.fx);
    let y = end ? prev.y + (end.y - prev.y) * f : wireOf(h.fy);
    if (end && !end.solid) [x, y] = [end.x, end.y]; // a wrap: no sliding across the arena
    this.view.set(own.seat, { x, y, heading: h.hf >>> 16 });
    // The own trail from the arena's (buffered) tick to the predicted head.
    const pts = [{ x: me.pos[0], y: me.pos[1], solid: false }];
    for (const q of own.path) if (q.tick > a.tick) pts.push(q);
    const drawing = !me.gap && !a.effects.some((e) => e.kind === "ghost_self" && e.targets.includes(own.seat));
    for (const q of path.slice(0, -1)) pts.push({ ...q, solid: q.solid && drawing });
    pts.push({ x, y, solid: drawing && (end?.solid ?? true) });
    this.renderer.predictedTrail = { seat: own.seat, r: me.radius, pts };
  }

  private apply(t: Tick): boolean {
    const a = this.arena!;
    try {
      a.applyTick(t);
    } catch (e) {
      if (e instanceof OutOfSequence) {
        console.warn(`kurve: ${e.message}; asking for a fresh snapshot`);
        this.resync();
        return false;
      }
      throw e;
    }
    if (this.fingerprints) {
      this.fingerprints.set(a.tick, a.fingerprint());
      if (this.fingerprints.size > 1200) {
        const first = this.fingerprints.keys().next().value;
        if (first !== undefined) this.fingerprints.delete(first);
      }
    }
    for (const e of t.events) {
      if (e.type === "death") {
        const p = a.player(e.seat);
        if (p) this.renderer.burst(p.pos[0], p.pos[1], p.color, true);
      } else if (e.type === "item_pickup") {
        const p = a.player(e.seat);
        if (p) this.renderer.burst(p.pos[0], p.pos[1], "#ffffff", false);
      }
      if (e.type === "round_start" || (e.type === "phase" && e.phase === "waiting")) {
        // A new round (or back to waiting): my seat may have changed colour or gone.
        const me = a.players.find((p) => p.id === this.myId);
        if (me) this.seat = me.seat;
        if (e.type === "phase") this.ready = false;
      }
    }
    this.renderer.mySeat = this.role === "player" ? this.mySeat() : null;
    return true;
  }

  private mySeat(): number | null {
    const me = this.arena?.players.find((p) => p.id === this.myId);
    return me ? me.seat : this.seat;
  }

  // --- lifecycle (JSON) ----------------------------------------------------------

  private onPhase(m: PhaseMsg): void {
    if (m.phase === "waiting") {
      this.ready = false;
      this.banner = null;
    }
    if (m.phase === "countdown") this.standings = null;
    this.lastSig = "";
  }

  private onRoundEnd(m: RoundEndMsg): void {
    const w = m.winner ? m.scores.find((s) => s.id === m.winner) : undefined;
    this.banner = w
      ? { text: `${w.name} wins round ${m.round}`, color: w.color, until: performance.now() + 4000 }
      : { text: `Round ${m.round}: nobody survived`, until: performance.now() + 4000 };
    this.lastSig = "";
  }

  private onMatchEnd(m: MatchEndMsg): void {
    this.standings = m;
    this.savedMatch = null;
    this.banner = null;
    this.lastSig = "";
    void this.lobby.refreshLeaderboard();
  }

  // --- input ---------------------------------------------------------------------

  private onKey(ev: KeyboardEvent): void {
    const t = ev.target as HTMLElement | null;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
    const down = ev.type === "keydown";
    if (LEFT_KEYS.has(ev.key)) {
      this.keys.left = down;
      ev.preventDefault();
      this.sendTurn();
    } else if (RIGHT_KEYS.has(ev.key)) {
      this.keys.right = down;
      ev.preventDefault();
      this.sendTurn();
    } else if (down && (ev.key === " " || ev.key === "Enter") && !ev.repeat) {
      if (t && t.tagName === "BUTTON") return; // the button handles it
      ev.preventDefault();
      if (this.arena?.phase === "waiting" || !this.arena) this.toggleReady();
    }
  }

  private sendTurn(): void {
    const left = this.keys.left || this.keys.tleft;
    const right = this.keys.right || this.keys.tright;
    const turn = (right ? 1 : 0) - (left ? 1 : 0);
    if (turn === this.turn) return;
    this.turn = turn;
    this.el.dataset.turn = String(turn);
    if (this.role !== "player") return;
    // Numbered so the server can say which input each tick applied (docs/PROTOCOL.md).
    const seq = ++this.seq;
    this.channel.push("input", { turn, seq });
    if (this.own && this.clock.synced) {
      const latest = this.clock.latestTick(performance.now());
      this.sentAt.set(seq, latest);
      // Applied from the first tick at or after the predicted frontier: the next frame
      // already draws the head turning.
      this.own.sent(seq, turn, Math.max(this.own.tick + 1, Math.ceil(latest + this.clock.leadTicks())));
    } else {
      this.own?.sent(seq, turn, (this.own?.tick ?? 0) + 1);
    }
  }

  private toggleReady(): void {
    if (this.role !== "player") return;
    const want = !this.ready;
    this.readyBtn.disabled = true;
    this.channel
      .push("ready", { ready: want })
      .receive("ok", () => {
        this.ready = want;
        this.readyBtn.disabled = false;
        this.lastSig = "";
      })
      .receive("error", (r: { reason?: string }) => {
        this.readyBtn.disabled = false;
        toast(reasonText(r?.reason), "error");
      })
      .receive("timeout", () => {
        this.readyBtn.disabled = false;
        toast("No answer from the server.", "error");
      });
  }

  // --- UI ------------------------------------------------------------------------

  private rows(): Row[] {
    const a = this.arena;
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
    // Waiting: no ticks flow, so room presence is the live list of seated players; the
    // arena still knows seats and last scores of those it has seen.
    const seen = new Set<string>();
    for (const m of this.members) {
      if (m.meta.role !== "player" || seen.has(m.id)) continue;
      seen.add(m.id);
      const p = a?.players.find((x) => x.id === m.id);
      const mine = m.id === this.myId;
      rows.push({
        id: m.id,
        name: m.meta.name ?? p?.name ?? "?",
        color: m.meta.color ?? p?.color ?? (m.meta.seat !== undefined ? seatColor(m.meta.seat) : "#888"),
        score: p?.score ?? 0,
        alive: false,
        ready: m.meta.ready ?? (mine ? this.ready : null),
        connected: true,
        seat: p?.seat ?? m.meta.seat ?? (mine ? this.seat : null),
      });
    }
    // Seated but disconnected players (their seat is kept for a while).
    for (const p of a?.players ?? []) {
      if (seen.has(p.id)) continue;
      rows.push({ id: p.id, name: p.name, color: p.color, score: p.score, alive: false, ready: null, connected: false, seat: p.seat });
    }
    return rows.sort((x, y) => (x.seat ?? 99) - (y.seat ?? 99));
  }

  /** The round trip, and a notice for a while after a snapshot replaced the arena. */
  private updateNet(now: number): void {
    const rtt = this.clock.rttMs === null ? "…" : `${Math.round(this.clock.rttMs)} ms`;
    const parts = [`round trip ${rtt}`];
    if (!this.predicting) parts.push("prediction off");
    const resynced = now - this.resyncedAt < RESYNC_NOTICE_MS;
    if (resynced) parts.push("resynced");
    const text = parts.join(" · ");
    if (this.netEl.textContent !== text) this.netEl.textContent = text;
    this.netEl.classList.toggle("resynced", resynced);
  }

  private updateUi(): void {
    const a = this.arena;
    const now = performance.now();
    this.updateNet(now);
    if (this.banner && now > this.banner.until) {
      this.banner = null;
      this.lastSig = "";
    }
    const rows = this.rows();
    const remaining = a && a.phaseEndsAt !== null ? Math.max(0, a.phaseEndsAt - a.tick) : null;
    const secs = remaining !== null && a ? Math.ceil(remaining / (a.config.tick_hz || 60)) : null;
    const effSig = a ? a.effects.map((e) => `${e.id}:${Math.ceil((e.ends_at - a.tick) / 15)}`).join(",") : "";
    const sig = JSON.stringify([
      rows,
      a?.phase,
      a?.round,
      a?.target,
      secs,
      this.role,
      this.ready,
      this.members.length,
      effSig,
      !!this.banner,
      !!this.standings,
      this.savedMatch,
      this.awaitingSnapshot,
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
            class: `prow${r.alive ? " alive" : " dead"}${r.id === this.myId ? " me" : ""}${r.connected ? "" : " offline"}`,
            "data-user-id": r.id,
            "data-seat": r.seat ?? "",
            "data-score": r.score,
          },
          dot(r.color, "dot big"),
          h("span", { class: "pname" }, r.name, r.id === this.myId ? h("span", { class: "you" }, " you") : null),
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
    const specs = this.members.filter((m) => m.meta.role === "spectator");
    this.specEl.textContent = specs.length
      ? `Watching: ${specs.map((m) => m.meta.name ?? "?").join(", ")}`
      : "No spectators";

    // Status line.
    const practice = a && a.target === 0 && phase !== "waiting";
    const parts: string[] = [phase === "round_over" ? "Round over" : (PHASE_LABEL[phase] ?? phase)];
    if (a && a.round > 0 && phase !== "waiting") parts.push(`round ${a.round}`);
    if (a && a.target > 0) parts.push(`first to ${a.target}`);
    if (practice) parts.push("practice");
    if (this.role === "spectator") parts.push("you are watching");
    this.statusEl.textContent = parts.join(" · ");

    // Ready button.
    const canReady = this.role === "player" && phase === "waiting";
    this.readyBtn.hidden = this.role !== "player" || phase !== "waiting";
    this.readyBtn.disabled = !canReady;
    this.readyBtn.textContent = phase !== "waiting" ? "Match running" : this.ready ? "Not ready" : "Ready";
    this.readyBtn.classList.toggle("is-ready", this.ready && phase === "waiting");

    // Effects.
    replace(
      this.effectsEl,
      ...(a?.effects ?? []).map((e) => {
        const left = Math.max(0, (e.ends_at - a!.tick) / (a!.config.tick_hz || 60));
        const who = e.kind === "wrap_all" ? "everyone" : e.targets.map((s) => a!.player(s)?.name ?? `seat ${s}`).join(", ");
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

    // Overlay.
    this.renderOverlay(rows, phase, secs);
  }

  private renderOverlay(rows: Row[], phase: string, secs: number | null): void {
    const o = this.overlay;
    const a = this.arena;
    o.className = "overlay";
    if (!a || this.awaitingSnapshot) {
      o.classList.add("show");
      replace(o, h("div", { class: "panel" }, h("p", { class: "big-text" }, "Joining…")));
      return;
    }
    if (this.standings && phase === "finished") {
      o.classList.add("show");
      const st = this.standings;
      const colorOf = (id: string, seat: number) => rows.find((r) => r.id === id)?.color ?? seatColor(seat);
      const winner = st.standings.find((s) => s.won);
      replace(
        o,
        h(
          "div",
          { class: "panel results", id: "match-results" },
          h("p", { class: "kicker" }, st.forfeit ? "Match over (forfeit)" : `Match over · ${st.rounds} rounds`),
          h("h2", { class: "winner" }, winner ? `${winner.name} wins!` : "Draw"),
          h(
            "ol",
            { class: "standings" },
            ...st.standings.map((s) => {
              const li = h(
                "li",
                { class: s.won ? "won" : "" },
                h("span", { class: "place" }, `${s.place}.`),
                dot(colorOf(s.id, s.seat)),
                h("span", { class: "pname" }, s.name, s.left ? " (left)" : ""),
                h("span", { class: "score" }, `${s.points}`),
              );
              return li;
            }),
          ),
          this.savedMatch !== null
            ? h("a", { class: "btn small", id: "match-replay", href: `#/replay/${this.savedMatch}` }, "Watch replay")
            : null,
          h("p", { class: "hint" }, "Back to the waiting room in a moment…"),
        ),
      );
      const w = o.querySelector(".winner") as HTMLElement;
      if (winner) w.style.color = colorOf(winner.id, winner.seat);
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
          this.role === "player" ? h("p", { class: "hint" }, "Steer now — your head turns in place") : null,
        ),
      );
      return;
    }
    if (this.banner) {
      o.classList.add("show", "banner");
      const t = h("p", { class: "big-text" }, this.banner.text);
      if (this.banner.color) t.style.color = this.banner.color;
      replace(o, h("div", { class: "panel slim" }, t));
      return;
    }
    if (phase === "waiting") {
      o.classList.add("show");
      const players = rows.length;
      const msg =
        this.role === "player"
          ? this.ready
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
          h("p", { class: "kicker" }, this.roomName),
          h("p", { class: "big-text" }, "Waiting room"),
          h("p", { class: "hint" }, msg),
        ),
      );
      return;
    }
    replace(o);
  }

  private renderOtherRooms(): void {
    const rooms = [...this.lobby.rooms.values()].filter((r) => r.id !== this.roomId);
    if (rooms.length === 0) {
      replace(this.otherRoomsEl, h("li", { class: "empty" }, "No other rooms right now."));
      return;
    }
    replace(
      this.otherRoomsEl,
      ...rooms.slice(0, 8).map((r) => {
        const watch = h("button", { class: "btn small ghost", "data-action": "watch", "data-room-id": r.id }, "Watch");
        watch.addEventListener("click", () => this.onSwitch(r.id, "spectator"));
        return h(
          "li",
          {},
          h("span", { class: "rname" }, r.name || r.id),
          h("span", { class: `badge phase ${r.phase}` }, PHASE_LABEL[r.phase] ?? r.phase),
          h("span", { class: "rmeta" }, `${r.players.length}/${r.max_players}`),
          watch,
        );
      }),
    );
  }

  private legend(): HTMLElement {
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

  /**
   * `window.kurve.debug()` (CONTRACT §10): the heads as drawn this frame, in arena px,
   * headings in radians; `tick` is the newest tick received.
   */
  netDebug() {
    const a = this.arena;
    const k = a?.config.pos_scale || 32;
    const seat = this.role === "player" ? this.mySeat() : null;
    return {
      seat,
      tick: this.received,
      predicting: this.predicting && !!this.own,
      rttMs: this.clock.rttMs,
      heads: (a?.players ?? [])
        .filter(() => a?.phase !== "waiting")
        .map((p) => {
          const v = p.alive ? this.view.get(p.seat) : undefined;
          const x = v ? v.x : p.pos[0];
          const y = v ? v.y : p.pos[1];
          const hd = v ? v.heading : p.heading;
          return { seat: p.seat, x: x / k, y: y / k, heading: (hd / 65536) * 2 * Math.PI, alive: p.alive };
        }),
    };
  }

  /**
   * What the key-press measurement and the browser test read: the own head as drawn
   * per frame, each correction, the authoritative own head, inputs sent and acknowledged.
   */
  netBench() {
    const own = this.own;
    const k = this.arena?.config.pos_scale || 32;
    return {
      seq: this.seq,
      ackSeq: own?.ackSeq ?? null,
      pending: own?.pending.length ?? 0,
      reseeds: own?.reseeds ?? 0,
      leadTicks: this.clock.leadTicks(),
      bufferTicks: this.clock.bufferTicks(),
      jitterMs: this.clock.jitterMs(),
      auth: own?.auth ? { tick: own.tick, x: own.auth.fx / 32 / k, y: own.auth.fy / 32 / k, heading: own.auth.hf, alive: own.auth.alive } : null,
      corrections: this.corrections.map((c) => ({ ...c })),
      drawn: this.drawn.map((d) => ({ ...d })),
    };
  }

  /** Read-only state for tests and debugging (`window.__kurve.room`). */
  debug() {
    const a = this.arena;
    return {
      id: this.roomId,
      role: this.role,
      seat: this.mySeat(),
      turn: this.turn,
      ready: this.ready,
      snapshots: this.snapshots,
      resyncs: this.resyncs,
      frames: this.renderer.frames,
      awaitingSnapshot: this.awaitingSnapshot,
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
