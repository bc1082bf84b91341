// Canvas renderer of a Bumper room, every animation frame: open water, the ice floe
// (and, while it shrinks, a dashed ring at the radius it shrinks to), the discs in their
// seat colours with their names and a streak behind them along their velocity, a dash
// cooldown arc round one's own disc, a fallen disc shrinking and fading as it sinks, and
// a HUD: the match clock, the target, and a points / falls table.

import type { BumperState, Disc } from "./state";
import { SHRINK_S, type BumperEvent } from "./wire";

const WATER = "#06121f";
const WATER_EDGE = "#0b2238";
const ICE = "#d8ecff";
const ICE_EDGE = "#8fc4ff";
const HUD = "rgba(220, 232, 255, 0.92)";
const HUD_MUTED = "rgba(220, 232, 255, 0.55)";

/** How long a fall shows, ms. */
const FALL_MS = 700;
/** How long a dash's flash shows, ms. */
const DASH_MS = 300;
/** How long a respawn's ring grows, ms. */
const SPAWN_MS = 400;
/** The velocity streak is where the disc was this long ago, s. */
const STREAK_S = 0.12;

interface Fall {
  x: number;
  y: number;
  vx: number;
  vy: number;
  color: string;
  t0: number;
}

export class BumperRenderer {
  readonly canvas: HTMLCanvasElement;
  private ctx: CanvasRenderingContext2D;
  private state: BumperState | null = null;
  /** Device pixels per arena pixel. */
  private px = 1;
  private raf = 0;
  private falls: Fall[] = [];
  private flashes = new Map<number, { kind: "dash" | "spawn"; t0: number }>();
  /** Seat of the local player (drawn with a ring and its dash arc), if playing. */
  mySeat: number | null = null;
  /** Frames drawn (tests read it to know the canvas is live). */
  frames = 0;
  /** Runs at the start of every frame with its timestamp, before anything is drawn. */
  beforeFrame: ((now: number) => void) | null = null;
  /** Where to draw a disc instead of its state position (wire units); null: the state's. */
  discAt: ((seat: number) => { x: number; y: number } | null) | null = null;

  constructor(canvas: HTMLCanvasElement) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d")!;
    const loop = (t: number) => {
      this.raf = requestAnimationFrame(loop);
      this.frame(t);
    };
    this.raf = requestAnimationFrame(loop);
  }

  destroy(): void {
    cancelAnimationFrame(this.raf);
    this.state = null;
  }

  /** Shows `state` (the same object across snapshots; a new one only for a new room). */
  attach(state: BumperState): void {
    this.state = state;
    this.falls = [];
    this.flashes.clear();
  }

  /** A tick reached the state: its falls, dashes and respawns start their animations. */
  applied(state: BumperState, events: BumperEvent[], now: number): void {
    for (const e of events) {
      if (e.e === "fall") {
        const p = state.player(e.seat);
        if (p) this.falls.push({ x: p.x, y: p.y, vx: p.vx, vy: p.vy, color: p.color, t0: now });
      } else if (e.e === "dash" || e.e === "spawn") {
        this.flashes.set(e.seat, { kind: e.e, t0: now });
      }
    }
  }

  /** Matches the backing store to the displayed size (keeps the arena's aspect crisp). */
  private resize(): void {
    const cfg = this.state?.config;
    const w0 = cfg?.arena.w ?? 1024;
    const h0 = cfg?.arena.h ?? 768;
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    const cssW = Math.max(1, this.canvas.clientWidth || w0);
    const w = Math.max(64, Math.round(cssW * dpr));
    const hgt = Math.round((w * h0) / w0);
    if (this.canvas.width !== w || this.canvas.height !== hgt) {
      this.canvas.width = w;
      this.canvas.height = hgt;
    }
    this.px = w / w0;
  }

  private frame(now: number): void {
    this.beforeFrame?.(now);
    this.resize();
    const c = this.ctx;
    const st = this.state;
    const W = this.canvas.width;
    const H = this.canvas.height;
    const water = c.createRadialGradient(W / 2, H / 2, 0, W / 2, H / 2, Math.max(W, H) * 0.7);
    water.addColorStop(0, WATER_EDGE);
    water.addColorStop(1, WATER);
    c.fillStyle = water;
    c.fillRect(0, 0, W, H);
    this.frames++;
    if (!st) return;
    const cfg = st.config;
    const k = this.px / cfg.pos_scale; // device px per wire unit
    const cx = W / 2;
    const cy = H / 2;

    // The floe.
    const r = st.floeR * k;
    const ice = c.createRadialGradient(cx, cy, r * 0.2, cx, cy, r);
    ice.addColorStop(0, "rgba(216, 236, 255, 0.22)");
    ice.addColorStop(1, "rgba(143, 196, 255, 0.12)");
    c.fillStyle = ice;
    c.beginPath();
    c.arc(cx, cy, r, 0, Math.PI * 2);
    c.fill();
    c.strokeStyle = ICE_EDGE;
    c.lineWidth = 3 * this.px;
    c.shadowColor = ICE;
    c.shadowBlur = 14 * this.px;
    c.stroke();
    c.shadowBlur = 0;
    const clock = st.clockSeconds();
    const shrinking = st.phase === "playing" && (st.floeR < cfg.floe_r || (clock !== null && clock <= SHRINK_S));
    if (shrinking && cfg.floe_final_r < st.floeR) {
      c.save();
      c.setLineDash([10 * this.px, 8 * this.px]);
      c.strokeStyle = "rgba(255, 120, 120, 0.6)";
      c.lineWidth = 2 * this.px;
      c.beginPath();
      c.arc(cx, cy, cfg.floe_final_r * k, 0, Math.PI * 2);
      c.stroke();
      c.restore();
    }

    // Falls: the disc shrinks and fades as it drifts on, slowing.
    const ox = (cfg.arena.w * cfg.pos_scale) / 2;
    const oy = (cfg.arena.h * cfg.pos_scale) / 2;
    this.falls = this.falls.filter((f) => now - f.t0 < FALL_MS);
    for (const f of this.falls) {
      const t = (now - f.t0) / FALL_MS;
      const drift = (FALL_MS / 1000) * t * (1 - t / 2);
      const x = cx + (f.x - ox + f.vx * drift) * k;
      const y = cy + (f.y - oy + f.vy * drift) * k;
      c.globalAlpha = 1 - t;
      c.fillStyle = f.color;
      c.beginPath();
      c.arc(x, y, Math.max(0.5, cfg.disc_r * k * (1 - 0.8 * t)), 0, Math.PI * 2);
      c.fill();
      c.globalAlpha = 1;
    }

    // Discs.
    for (const p of st.players) {
      if (!p.alive || (p.x === 0 && p.y === 0)) continue; // (0, 0): seated, never placed
      const at = this.discAt?.(p.seat) ?? { x: p.x, y: p.y };
      this.drawDisc(p, cx + (at.x - ox) * k, cy + (at.y - oy) * k, cfg.disc_r * k, k, now, st);
    }

    this.drawHud(st, clock);
  }

  private drawDisc(p: Disc, x: number, y: number, r: number, k: number, now: number, st: BumperState): void {
    const c = this.ctx;
    const mine = p.seat === this.mySeat;
    c.globalAlpha = p.connected ? 1 : 0.45;
    // The streak: where the disc was a moment ago.
    const sx = x - p.vx * STREAK_S * k;
    const sy = y - p.vy * STREAK_S * k;
    if (Math.hypot(x - sx, y - sy) > r * 0.3) {
      const g = c.createLinearGradient(sx, sy, x, y);
      g.addColorStop(0, "rgba(255,255,255,0)");
      g.addColorStop(1, p.color);
      c.strokeStyle = g;
      c.lineCap = "round";
      c.lineWidth = r * 1.2;
      c.globalAlpha *= 0.45;
      c.beginPath();
      c.moveTo(sx, sy);
      c.lineTo(x, y);
      c.stroke();
      c.globalAlpha = p.connected ? 1 : 0.45;
    }
    // The disc.
    c.fillStyle = p.color;
    c.shadowColor = p.color;
    c.shadowBlur = 16 * this.px;
    c.beginPath();
    c.arc(x, y, r, 0, Math.PI * 2);
    c.fill();
    c.shadowBlur = 0;
    c.fillStyle = "rgba(255,255,255,0.28)";
    c.beginPath();
    c.arc(x - r * 0.3, y - r * 0.3, r * 0.45, 0, Math.PI * 2);
    c.fill();
    if (mine) {
      c.strokeStyle = "#ffffff";
      c.lineWidth = 2 * this.px;
      c.beginPath();
      c.arc(x, y, r + 2 * this.px, 0, Math.PI * 2);
      c.stroke();
      // The dash cooldown: the part of the ring still to come back.
      const cd = st.dashCooldown(p);
      const ring = r + 7 * this.px;
      c.lineWidth = 3 * this.px;
      c.lineCap = "round";
      if (cd > 0) {
        c.strokeStyle = "rgba(255,255,255,0.18)";
        c.beginPath();
        c.arc(x, y, ring, 0, Math.PI * 2);
        c.stroke();
        c.strokeStyle = "#ffd34d";
        c.beginPath();
        c.arc(x, y, ring, -Math.PI / 2, -Math.PI / 2 + (1 - cd) * Math.PI * 2);
        c.stroke();
      } else {
        c.strokeStyle = "rgba(255, 211, 77, 0.55)";
        c.beginPath();
        c.arc(x, y, ring, 0, Math.PI * 2);
        c.stroke();
      }
    }
    // A dash or a respawn: a ring that grows and fades.
    const fl = this.flashes.get(p.seat);
    if (fl) {
      const span = fl.kind === "dash" ? DASH_MS : SPAWN_MS;
      const t = (now - fl.t0) / span;
      if (t >= 1) {
        this.flashes.delete(p.seat);
      } else {
        c.strokeStyle = fl.kind === "dash" ? "#ffd34d" : "#ffffff";
        c.globalAlpha = (1 - t) * (p.connected ? 1 : 0.45);
        c.lineWidth = 2 * this.px;
        c.beginPath();
        c.arc(x, y, r * (1 + t * (fl.kind === "dash" ? 1.2 : 2)), 0, Math.PI * 2);
        c.stroke();
      }
    }
    // The name.
    c.globalAlpha = p.connected ? 1 : 0.45;
    c.font = `600 ${Math.round(13 * this.px)}px system-ui, sans-serif`;
    c.textAlign = "center";
    c.textBaseline = "bottom";
    c.fillStyle = HUD;
    c.fillText(p.name, x, y - r - 9 * this.px);
    c.globalAlpha = 1;
  }

  private drawHud(st: BumperState, clock: number | null): void {
    const c = this.ctx;
    const u = this.px;
    // The clock and the target, top centre.
    c.textAlign = "center";
    c.textBaseline = "top";
    if (clock !== null) {
      const s = Math.ceil(clock);
      c.font = `800 ${Math.round(28 * u)}px system-ui, sans-serif`;
      c.fillStyle = clock <= SHRINK_S && st.phase === "playing" ? "#ff8a8a" : HUD;
      c.fillText(`${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`, this.canvas.width / 2, 12 * u);
    }
    c.font = `600 ${Math.round(12 * u)}px system-ui, sans-serif`;
    c.fillStyle = HUD_MUTED;
    c.fillText(`first to ${st.target}`, this.canvas.width / 2, (clock !== null ? 44 : 14) * u);

    // Points and falls, top left, while a match runs (the waiting room's list is the page's:
    // no ticks seat new players then).
    if (st.phase === "waiting") return;
    const rows = [...st.players].sort((a, b) => b.points - a.points || a.falls - b.falls || a.seat - b.seat);
    if (rows.length === 0) return;
    const x0 = 14 * u;
    let y = 14 * u;
    const line = 18 * u;
    c.textBaseline = "top";
    c.font = `600 ${Math.round(11 * u)}px system-ui, sans-serif`;
    c.fillStyle = "rgba(7, 10, 18, 0.55)";
    c.fillRect(x0 - 6 * u, y - 6 * u, 190 * u, line * (rows.length + 1) + 8 * u);
    c.fillStyle = HUD_MUTED;
    c.textAlign = "left";
    c.fillText("player", x0 + 14 * u, y);
    c.textAlign = "right";
    c.fillText("pts", x0 + 140 * u, y);
    c.fillText("falls", x0 + 176 * u, y);
    y += line;
    c.font = `600 ${Math.round(13 * u)}px system-ui, sans-serif`;
    for (const p of rows) {
      c.globalAlpha = p.connected ? 1 : 0.5;
      c.fillStyle = p.color;
      c.beginPath();
      c.arc(x0 + 4 * u, y + 7 * u, 4.5 * u, 0, Math.PI * 2);
      c.fill();
      c.fillStyle = p.seat === this.mySeat ? "#ffffff" : HUD;
      c.textAlign = "left";
      c.fillText(p.name.length > 14 ? `${p.name.slice(0, 13)}…` : p.name, x0 + 14 * u, y);
      c.textAlign = "right";
      c.fillText(String(p.points), x0 + 140 * u, y);
      c.fillStyle = HUD_MUTED;
      c.fillText(String(p.falls), x0 + 176 * u, y);
      y += line;
    }
    c.globalAlpha = 1;
  }
}
