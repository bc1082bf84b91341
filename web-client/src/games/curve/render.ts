// Canvas renderer for the arena: a static background, an incrementally drawn trail layer
// (one round-capped segment per solid head move, redrawn in full on resets), a soft
// glow copy of it, then items and heads on top, every animation frame.

import type { Arena, ArenaListener, Pt } from "./arena";
import { HEADING_TURN, type ItemKind } from "./wire";

/** Who an item's effect hits, which sets its colour. */
export function itemTarget(kind: ItemKind): "self" | "others" | "all" {
  if (kind.endsWith("_self")) return "self";
  if (kind.endsWith("_others")) return "others";
  return "all";
}

export const ITEM_COLORS = { self: "#39ff88", others: "#ff4d6d", all: "#4da3ff" } as const;

export const ITEM_LABELS: Record<ItemKind, string> = {
  speed_self: "Speed (you)",
  speed_others: "Speed (others)",
  slow_self: "Slow (you)",
  slow_others: "Slow (others)",
  thin_self: "Thin line (you)",
  fat_others: "Fat lines (others)",
  reverse_others: "Reversed keys (others)",
  ghost_self: "Ghost (you)",
  wrap_all: "Open walls (all)",
  clear_all: "Clear the board",
};

const BG = "#070a12";
const GRID = "rgba(120,140,255,0.06)";
const WALL = "#5b6cff";

export class ArenaRenderer implements ArenaListener {
  readonly canvas: HTMLCanvasElement;
  private ctx: CanvasRenderingContext2D;
  private bg = document.createElement("canvas");
  private trail = document.createElement("canvas");
  private glow = document.createElement("canvas");
  private trailCtx: CanvasRenderingContext2D;
  private glowCtx: CanvasRenderingContext2D;
  private arena: Arena | null = null;
  /** Device pixels per wire unit. */
  private k = 1;
  private glowDirty = true;
  private lastGlow = 0;
  private raf = 0;
  private colors = new Map<number, string>();
  /** Seat of the local player (drawn with a ring), if playing. */
  mySeat: number | null = null;
  /** Frames drawn (tests read it to know the canvas is live). */
  frames = 0;
  /**
   * Runs at the start of every frame with its timestamp, before anything is drawn: the
   * room view moves the heads it draws itself (prediction, playout) to this instant.
   */
  beforeFrame: ((now: number) => void) | null = null;
  /**
   * Where to draw a head instead of its arena position (wire units, u16 heading): the
   * own head's prediction and the other heads between two ticks. Null: as the arena says.
   */
  headAt: ((seat: number) => { x: number; y: number; heading: number } | null) | null = null;
  /**
   * The own head's trail from its last applied tick to its predicted position, drawn
   * over the trail layer each frame (replaced by the real segments as ticks come).
   */
  predictedTrail: { seat: number; r: number; pts: { x: number; y: number; solid: boolean }[] } | null = null;
  private bursts: { x: number; y: number; color: string; t0: number; big: boolean }[] = [];

  constructor(canvas: HTMLCanvasElement) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d")!;
    this.trailCtx = this.trail.getContext("2d")!;
    this.glowCtx = this.glow.getContext("2d")!;
    const loop = (t: number) => {
      this.raf = requestAnimationFrame(loop);
      this.frame(t);
    };
    this.raf = requestAnimationFrame(loop);
  }

  destroy(): void {
    cancelAnimationFrame(this.raf);
    if (this.arena?.listener === this) this.arena.listener = null;
    this.arena = null;
  }

  /** Shows `arena` (a new one after every snapshot). */
  attach(arena: Arena): void {
    this.arena = arena;
    arena.listener = this;
    this.resize(true);
  }

  /** Matches the backing store to the displayed size (keeps 4:3 crisp on any screen). */
  resize(force = false): void {
    const a = this.arena;
    const cfgW = a ? a.config.w : 1024;
    const cfgH = a ? a.config.h : 768;
    const scale = a ? a.config.pos_scale : 32;
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    const cssW = Math.max(1, this.canvas.clientWidth || cfgW);
    const w = Math.max(64, Math.round(cssW * dpr));
    const hgt = Math.round((w * cfgH) / cfgW);
    if (!force && this.canvas.width === w && this.canvas.height === hgt) return;
    for (const c of [this.canvas, this.bg, this.trail]) {
      c.width = w;
      c.height = hgt;
    }
    this.glow.width = Math.max(1, Math.round(w / 2));
    this.glow.height = Math.max(1, Math.round(hgt / 2));
    this.k = w / (cfgW * scale);
    this.drawBackground(cfgW, cfgH);
    this.reset();
  }

  private color(seat: number): string {
    return this.colors.get(seat) ?? "#ffffff";
  }

  private refreshColors(): void {
    if (!this.arena) return;
    for (const p of this.arena.players) this.colors.set(p.seat, p.color);
  }

  /** An expanding ring at a death or pickup (wire units). */
  burst(x: number, y: number, color: string, big = true): void {
    this.bursts.push({ x, y, color, t0: performance.now(), big });
    if (this.bursts.length > 32) this.bursts.shift();
  }

  // --- ArenaListener -------------------------------------------------------------

  reset(): void {
    const a = this.arena;
    const c = this.trailCtx;
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.clearRect(0, 0, this.trail.width, this.trail.height);
    this.glowDirty = true;
    if (!a) return;
    this.refreshColors();
    c.setTransform(this.k, 0, 0, this.k, 0, 0);
    c.lineCap = "round";
    c.lineJoin = "round";
    for (const t of a.trails) {
      if (t.points.length < 2) continue;
      c.strokeStyle = this.color(t.seat);
      c.lineWidth = 2 * t.r;
      c.beginPath();
      c.moveTo(t.points[0][0], t.points[0][1]);
      for (let i = 1; i < t.points.length; i++) c.lineTo(t.points[i][0], t.points[i][1]);
      c.stroke();
    }
  }

  segment(seat: number, r: number, a: Pt, b: Pt): void {
    const c = this.trailCtx;
    if (!this.colors.has(seat)) this.refreshColors();
    c.setTransform(this.k, 0, 0, this.k, 0, 0);
    c.lineCap = "round";
    c.lineJoin = "round";
    c.strokeStyle = this.color(seat);
    c.lineWidth = 2 * r;
    c.beginPath();
    c.moveTo(a[0], a[1]);
    c.lineTo(b[0], b[1]);
    c.stroke();
    this.glowDirty = true;
  }

  // --- drawing -------------------------------------------------------------------

  private drawBackground(w: number, hgt: number): void {
    const c = this.bg.getContext("2d")!;
    const W = this.bg.width;
    const H = this.bg.height;
    c.setTransform(1, 0, 0, 1, 0, 0);
    const g = c.createRadialGradient(W / 2, H / 2, 0, W / 2, H / 2, Math.max(W, H) * 0.7);
    g.addColorStop(0, "#0d1222");
    g.addColorStop(1, BG);
    c.fillStyle = g;
    c.fillRect(0, 0, W, H);
    const px = W / w;
    c.strokeStyle = GRID;
    c.lineWidth = 1;
    c.beginPath();
    for (let x = 32; x < w; x += 32) {
      c.moveTo(Math.round(x * px) + 0.5, 0);
      c.lineTo(Math.round(x * px) + 0.5, H);
    }
    for (let y = 32; y < hgt; y += 32) {
      c.moveTo(0, Math.round(y * px) + 0.5);
      c.lineTo(W, Math.round(y * px) + 0.5);
    }
    c.stroke();
  }

  private frame(now: number): void {
    this.resize();
    const c = this.ctx;
    const W = this.canvas.width;
    const H = this.canvas.height;
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.globalAlpha = 1;
    c.globalCompositeOperation = "source-over";
    c.drawImage(this.bg, 0, 0);
    const a = this.arena;
    if (!a) {
      this.frames++;
      return;
    }
    this.beforeFrame?.(now);
    // Glow: a blurred half-resolution copy of the trails, refreshed at most ~20×/s.
    if (this.glowDirty && now - this.lastGlow > 50) {
      const g = this.glowCtx;
      g.setTransform(1, 0, 0, 1, 0, 0);
      g.clearRect(0, 0, this.glow.width, this.glow.height);
      g.filter = "blur(3px)";
      g.drawImage(this.trail, 0, 0, this.glow.width, this.glow.height);
      g.filter = "none";
      this.glowDirty = false;
      this.lastGlow = now;
    }
    c.globalCompositeOperation = "lighter";
    c.globalAlpha = 0.85;
    c.drawImage(this.glow, 0, 0, W, H);
    c.globalAlpha = 1;
    c.globalCompositeOperation = "source-over";
    c.drawImage(this.trail, 0, 0);

    this.drawWalls(a.wallsWrap(), now);
    c.setTransform(this.k, 0, 0, this.k, 0, 0);
    for (const it of a.items) this.drawItem(it.kind, it.x, it.y, a.config.item_radius, now);
    this.drawPredictedTrail();
    const ghosts = new Set<number>();
    for (const e of a.effects) if (e.kind === "ghost_self") for (const s of e.targets) ghosts.add(s);
    const showHeading = a.phase === "countdown";
    for (const p of a.players) {
      if (a.phase === "waiting") continue;
      const at = p.alive ? this.headAt?.(p.seat) : null;
      this.drawHead(at ? [at.x, at.y] : p.pos, at ? at.heading : p.heading, Math.max(p.radius, 2 * a.config.pos_scale), p.color, {
        alive: p.alive,
        ghost: ghosts.has(p.seat),
        mine: p.seat === this.mySeat,
        arrow: showHeading && p.alive,
        now,
      });
    }
    this.drawBursts(now);
    c.setTransform(1, 0, 0, 1, 0, 0);
    if (showHeading) this.drawNames(a);
    this.frames++;
  }

  private drawPredictedTrail(): void {
    const t = this.predictedTrail;
    if (!t || t.pts.length < 2) return;
    const c = this.ctx;
    c.save();
    c.strokeStyle = this.color(t.seat);
    c.lineWidth = 2 * t.r;
    c.lineCap = "round";
    c.lineJoin = "round";
    c.beginPath();
    for (let i = 1; i < t.pts.length; i++) {
      const [p, q] = [t.pts[i - 1], t.pts[i]];
      if (!q.solid) continue;
      c.moveTo(p.x, p.y);
      c.lineTo(q.x, q.y);
    }
    c.stroke();
    c.restore();
  }

  private drawBursts(now: number): void {
    const c = this.ctx;
    const px = 1 / this.k;
    this.bursts = this.bursts.filter((b) => now - b.t0 < 700);
    for (const b of this.bursts) {
      const t = (now - b.t0) / 700;
      const r = (b.big ? 40 : 24) * 32 * (0.2 + 0.8 * Math.sqrt(t));
      c.save();
      c.globalAlpha = 1 - t;
      c.strokeStyle = b.color;
      c.shadowColor = b.color;
      c.shadowBlur = 16;
      c.lineWidth = (b.big ? 4 : 3) * px * (1 - t * 0.6);
      c.beginPath();
      c.arc(b.x, b.y, r, 0, Math.PI * 2);
      c.stroke();
      c.restore();
    }
  }

  /** Player names beside the heads (countdown: who is who). */
  private drawNames(a: Arena): void {
    const c = this.ctx;
    const fs = Math.max(11, Math.round(13 * (this.canvas.width / 1024)));
    c.save();
    c.font = `700 ${fs}px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif`;
    c.textAlign = "center";
    c.textBaseline = "bottom";
    for (const p of a.players) {
      if (!p.alive) continue;
      const x = p.pos[0] * this.k;
      let y = p.pos[1] * this.k - 12 * (this.canvas.width / 1024);
      if (y < fs + 4) y = p.pos[1] * this.k + fs + 14;
      const label = p.seat === this.mySeat ? `${p.name} (you)` : p.name;
      c.fillStyle = "rgba(7,10,18,0.75)";
      const w = c.measureText(label).width + 10;
      c.fillRect(x - w / 2, y - fs - 3, w, fs + 5);
      c.fillStyle = p.color;
      c.fillText(label, x, y);
    }
    c.restore();
  }

  private drawWalls(wrap: boolean, now: number): void {
    const c = this.ctx;
    const W = this.canvas.width;
    const H = this.canvas.height;
    const lw = Math.max(2, W / 400);
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.save();
    c.strokeStyle = wrap ? "#39d5ff" : WALL;
    c.lineWidth = lw;
    c.shadowColor = c.strokeStyle;
    c.shadowBlur = 12;
    if (wrap) {
      c.setLineDash([lw * 4, lw * 4]);
      c.lineDashOffset = -(now / 40) % (lw * 8);
    }
    c.strokeRect(lw / 2, lw / 2, W - lw, H - lw);
    c.restore();
  }

  private drawHead(
    pos: Pt,
    heading: number,
    r: number,
    color: string,
    o: { alive: boolean; ghost: boolean; mine: boolean; arrow: boolean; now: number },
  ): void {
    const c = this.ctx;
    const [x, y] = pos;
    const px = 1 / this.k; // one device pixel in wire units
    c.save();
    if (!o.alive) {
      c.globalAlpha = 0.9;
      c.strokeStyle = "#ffffff";
      c.lineWidth = 2 * px;
      const s = r * 1.6;
      c.beginPath();
      c.moveTo(x - s, y - s);
      c.lineTo(x + s, y + s);
      c.moveTo(x + s, y - s);
      c.lineTo(x - s, y + s);
      c.stroke();
      c.restore();
      return;
    }
    if (o.ghost) c.globalAlpha = 0.35 + 0.25 * Math.sin(o.now / 90);
    c.shadowColor = color;
    c.shadowBlur = 14;
    c.fillStyle = "#ffffff";
    c.beginPath();
    const hr = Math.max(r * 1.6, 4.5 * px);
    c.arc(x, y, hr, 0, Math.PI * 2);
    c.fill();
    c.shadowBlur = 0;
    c.fillStyle = color;
    c.beginPath();
    c.arc(x, y, hr * 0.5, 0, Math.PI * 2);
    c.fill();
    if (o.mine) {
      c.strokeStyle = color;
      c.globalAlpha *= 0.6 + 0.4 * Math.sin(o.now / 160);
      c.lineWidth = 2 * px;
      c.beginPath();
      c.arc(x, y, hr + 8 * px + 4 * px * Math.sin(o.now / 160), 0, Math.PI * 2);
      c.stroke();
    }
    if (o.arrow) {
      const ang = (heading / HEADING_TURN) * Math.PI * 2;
      const len = 44 * 32; // 44 px ahead
      const ex = x + Math.cos(ang) * len;
      const ey = y + Math.sin(ang) * len;
      c.globalAlpha = 1;
      c.strokeStyle = color;
      c.fillStyle = color;
      c.lineWidth = 3 * 32 * 0.6;
      c.lineCap = "round";
      c.setLineDash([6 * 32, 6 * 32]);
      c.beginPath();
      c.moveTo(x + Math.cos(ang) * r * 2.5, y + Math.sin(ang) * r * 2.5);
      c.lineTo(ex, ey);
      c.stroke();
      c.setLineDash([]);
      const s = 9 * 32;
      c.beginPath();
      c.moveTo(ex + Math.cos(ang) * s, ey + Math.sin(ang) * s);
      c.lineTo(ex + Math.cos(ang + 2.5) * s, ey + Math.sin(ang + 2.5) * s);
      c.lineTo(ex + Math.cos(ang - 2.5) * s, ey + Math.sin(ang - 2.5) * s);
      c.closePath();
      c.fill();
    }
    c.restore();
  }

  private drawItem(kind: ItemKind, x: number, y: number, r: number, now: number): void {
    const c = this.ctx;
    const col = ITEM_COLORS[itemTarget(kind)];
    c.save();
    c.translate(x, y);
    const pulse = 1 + 0.06 * Math.sin(now / 220 + x);
    c.scale(pulse, pulse);
    c.shadowColor = col;
    c.shadowBlur = 16;
    c.fillStyle = "rgba(8,12,24,0.92)";
    c.strokeStyle = col;
    c.lineWidth = r * 0.14;
    c.beginPath();
    c.arc(0, 0, r, 0, Math.PI * 2);
    c.fill();
    c.stroke();
    c.shadowBlur = 0;
    drawItemGlyph(c, kind, r, col);
    c.restore();
  }
}

/**
 * Draws an item's icon centred at the origin within radius `r` (any unit). Shared by the
 * arena and the legend so both look alike.
 */
export function drawItemGlyph(c: CanvasRenderingContext2D, kind: ItemKind, r: number, col: string): void {
  const u = r / 10;
  c.save();
  c.strokeStyle = col;
  c.fillStyle = col;
  c.lineWidth = 1.6 * u;
  c.lineCap = "round";
  c.lineJoin = "round";
  const chevron = (dx: number, dir: number) => {
    c.beginPath();
    c.moveTo(dx - 2.2 * u * dir, -4 * u);
    c.lineTo(dx + 1.8 * u * dir, 0);
    c.lineTo(dx - 2.2 * u * dir, 4 * u);
    c.stroke();
  };
  switch (kind) {
    case "speed_self":
    case "speed_others":
      chevron(-2.2 * u, 1);
      chevron(2.6 * u, 1);
      break;
    case "slow_self":
    case "slow_others":
      // A snail-ish spiral shell.
      c.beginPath();
      for (let i = 0; i <= 40; i++) {
        const t = (i / 40) * Math.PI * 3.2;
        const rr = (0.8 + (i / 40) * 4.4) * u;
        const px = Math.cos(t) * rr;
        const py = Math.sin(t) * rr;
        if (i === 0) c.moveTo(px, py);
        else c.lineTo(px, py);
      }
      c.stroke();
      break;
    case "thin_self":
      c.lineWidth = 0.8 * u;
      c.beginPath();
      c.moveTo(-5 * u, 0);
      c.lineTo(5 * u, 0);
      c.stroke();
      c.lineWidth = 1.4 * u;
      for (const s of [-1, 1]) {
        c.beginPath();
        c.moveTo(0, s * 5.5 * u);
        c.lineTo(0, s * 2.2 * u);
        c.moveTo(-1.6 * u, s * 3.6 * u);
        c.lineTo(0, s * 2.2 * u);
        c.lineTo(1.6 * u, s * 3.6 * u);
        c.stroke();
      }
      break;
    case "fat_others":
      c.lineWidth = 4.2 * u;
      c.beginPath();
      c.moveTo(-4 * u, 0);
      c.lineTo(4 * u, 0);
      c.stroke();
      break;
    case "reverse_others":
      c.beginPath();
      c.moveTo(-5 * u, -2 * u);
      c.lineTo(5 * u, -2 * u);
      c.moveTo(2.5 * u, -4.5 * u);
      c.lineTo(5 * u, -2 * u);
      c.lineTo(2.5 * u, 0.5 * u);
      c.moveTo(5 * u, 2.5 * u);
      c.lineTo(-5 * u, 2.5 * u);
      c.moveTo(-2.5 * u, 0);
      c.lineTo(-5 * u, 2.5 * u);
      c.lineTo(-2.5 * u, 5 * u);
      c.stroke();
      break;
    case "ghost_self":
      c.beginPath();
      c.moveTo(-4.5 * u, 5 * u);
      c.lineTo(-4.5 * u, -0.5 * u);
      c.arc(0, -0.5 * u, 4.5 * u, Math.PI, 0);
      c.lineTo(4.5 * u, 5 * u);
      c.lineTo(3 * u, 3.6 * u);
      c.lineTo(1.5 * u, 5 * u);
      c.lineTo(0, 3.6 * u);
      c.lineTo(-1.5 * u, 5 * u);
      c.lineTo(-3 * u, 3.6 * u);
      c.closePath();
      c.fill();
      c.fillStyle = "#080c18";
      c.beginPath();
      c.arc(-1.7 * u, -0.8 * u, 1 * u, 0, Math.PI * 2);
      c.arc(1.7 * u, -0.8 * u, 1 * u, 0, Math.PI * 2);
      c.fill();
      break;
    case "wrap_all":
      c.setLineDash([1.6 * u, 1.6 * u]);
      c.strokeRect(-4.5 * u, -4.5 * u, 9 * u, 9 * u);
      c.setLineDash([]);
      c.beginPath();
      c.moveTo(-6 * u, 0);
      c.lineTo(6 * u, 0);
      c.moveTo(3.8 * u, -2.2 * u);
      c.lineTo(6 * u, 0);
      c.lineTo(3.8 * u, 2.2 * u);
      c.stroke();
      break;
    case "clear_all":
      for (let i = 0; i < 8; i++) {
        const t = (i / 8) * Math.PI * 2;
        const r0 = (i % 2 ? 2 : 2.6) * u;
        const r1 = (i % 2 ? 4.2 : 5.6) * u;
        c.beginPath();
        c.moveTo(Math.cos(t) * r0, Math.sin(t) * r0);
        c.lineTo(Math.cos(t) * r1, Math.sin(t) * r1);
        c.stroke();
      }
      break;
  }
  c.restore();
}
