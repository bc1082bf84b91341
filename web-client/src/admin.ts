// The operator page (`/admin`, CONTRACT §7): the operator types the server's
// KURVE_ADMIN_TOKEN, the page connects with it through the same official client as the
// game, joins `admin:stats`, and shows the live figures with plots of the last minutes,
// the room list with members, and a button to close a room.

import type { Channel } from "phoenix";
import { Connection } from "./conn";
import { h, replace } from "./dom";

interface Stats {
  at: number;
  sockets: number;
  users: number;
  lobbies: number;
  replays: number;
  rooms: Record<string, number>;
  frames_per_s: number;
  bytes_per_s: number;
  tick_lateness_ms: { p50: number; p99: number };
  slow_drops: number;
  restarts: number;
}

interface AdminRoom {
  id: string;
  name: string;
  lobby: string;
  phase: string;
  players: { id: string; name: string }[];
  spectators: number;
  max_players: number;
  private: boolean;
  tick: number;
}

/** A plotted quantity: its name, how to read it from a sample, its line's colour. */
interface Series {
  name: string;
  read: (s: Stats) => number;
  color: string;
}

/**
 * A plot: its caption, its unit (how a value is written, unit included: the y axis, the
 * legend and the figures above all write values with it), whether it counts whole
 * things (its axis then stops at whole numbers), and its series.
 */
interface Plot {
  key: string;
  label: string;
  unit: (v: number) => string;
  whole?: boolean;
  series: Series[];
}

/** Three significant figures at most, trailing zeros dropped. */
function sig(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  return String(Number(v.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : 2)));
}

/** `v` with an SI prefix (k, M, G) and a space before `unit`. */
function si(v: number, unit = ""): string {
  const a = Math.abs(v);
  const [x, prefix] = a >= 1e9 ? [v / 1e9, "G"] : a >= 1e6 ? [v / 1e6, "M"] : a >= 1e3 ? [v / 1e3, "k"] : [v, ""];
  const u = prefix + unit;
  return u ? `${sig(x)} ${u}` : sig(x);
}

const count = (v: number) => si(v);
const perSecond = (v: number) => si(v, "/s");
const bytesPerSecond = (v: number) => si(v, "B/s");
/** Milliseconds, written in µs below one (tick lateness is mostly µs). */
const millis = (v: number) => (v !== 0 && Math.abs(v) < 1 ? `${sig(v * 1000)} µs` : `${sig(v)} ms`);

const PLOTS: Plot[] = [
  { key: "sockets", label: "Sockets and users", unit: count, whole: true, series: [
    { name: "sockets", read: (s) => s.sockets, color: "#5b6cff" },
    { name: "users", read: (s) => s.users, color: "#2ecc40" },
  ] },
  { key: "rooms", label: "Rooms by phase", unit: count, whole: true, series: [
    { name: "waiting", read: (s) => s.rooms.waiting ?? 0, color: "#8d97bd" },
    { name: "countdown", read: (s) => s.rooms.countdown ?? 0, color: "#ffdc00" },
    { name: "playing", read: (s) => s.rooms.playing ?? 0, color: "#2ecc40" },
    { name: "finished", read: (s) => s.rooms.finished ?? 0, color: "#ff851b" },
  ] },
  { key: "frames", label: "Frames out per second", unit: perSecond, series: [
    { name: "frames", read: (s) => s.frames_per_s, color: "#7fdbff" },
  ] },
  { key: "bytes", label: "Bytes out per second", unit: bytesPerSecond, series: [
    { name: "bytes", read: (s) => s.bytes_per_s, color: "#b10dc9" },
  ] },
  // The server takes each sample's percentiles over its last ten seconds.
  { key: "lateness", label: "Tick lateness (over the last 10 s)", unit: millis, series: [
    { name: "p50", read: (s) => s.tick_lateness_ms.p50, color: "#2ecc40" },
    { name: "p99", read: (s) => s.tick_lateness_ms.p99, color: "#ff4136" },
  ] },
  { key: "drops", label: "Slow-client drops and restarts (since start)", unit: count, whole: true, series: [
    { name: "slow drops", read: (s) => s.slow_drops, color: "#ff4136" },
    { name: "restarts", read: (s) => s.restarts, color: "#ffdc00" },
  ] },
];

/** The time spans a plot may show, seconds: it shows the shortest that holds the kept samples. */
const WINDOWS = [60, 120, 300];
/** The time axis's step for each window, seconds. */
const STEP: Record<number, number> = { 60: 15, 120: 30, 300: 60 };

const SVG = "http://www.w3.org/2000/svg";
/** The plot's box in viewBox units (drawn at about a unit a pixel), and its margins for the axes. */
const W = 360;
const H = 132;
const LEFT = 52;
const RIGHT = 10;
const TOP = 8;
const BOTTOM = 20;
const PW = W - LEFT - RIGHT;
const PH = H - TOP - BOTTOM;

/** The smallest 1, 2 or 5 × 10ⁿ at or above `peak`: the y axis's top (1 when all is 0). */
function niceMax(peak: number, whole = false): number {
  if (!(peak > 0)) return 1;
  const e = 10 ** Math.floor(Math.log10(peak));
  const f = peak / e;
  const top = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * e;
  return whole ? Math.max(1, Math.ceil(top)) : top;
}

interface PlotData {
  /** The newest sample: "now" on the time axis. */
  last: Stats;
  /** Seconds shown, back from `last`. */
  window: number;
  /** The samples inside the window, oldest first. */
  shown: Stats[];
  /** Each series' values over `shown`, its value now (the line's last point) and its peak (its highest). */
  series: (Series & { values: number[]; now: number; peak: number })[];
  /** The y axis's top. */
  yMax: number;
}

/**
 * What a plot shows. Its "now" is the newest sample and its "peak" the highest sample
 * inside the window, so the figures written beside a plot are points of its line.
 */
function plotData(samples: Stats[], plot: Plot): PlotData {
  const last = samples[samples.length - 1];
  const span = (last.at - samples[0].at) / 1000;
  const window = WINDOWS.find((w) => w >= span) ?? WINDOWS[WINDOWS.length - 1];
  const shown = samples.filter((s) => last.at - s.at <= window * 1000);
  const series = plot.series.map((x) => {
    const values = shown.map((s) => x.read(s));
    return { ...x, values, now: values[values.length - 1], peak: Math.max(...values) };
  });
  const yMax = niceMax(Math.max(...series.map((x) => x.peak)), plot.whole);
  return { last, window, shown, series, yMax };
}

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** `sec` seconds before the newest sample, as the time axis writes it. */
function ago(sec: number): string {
  if (sec === 0) return "now";
  return sec % 60 === 0 ? `−${sec / 60} min` : `−${sec} s`;
}

/**
 * An SVG line plot: a y axis from 0 to a round top in the plot's unit, a time axis from
 * the window's start to the newest sample ("now"), and one line per series, each point
 * at its sample's time.
 */
function drawPlot(plot: Plot, d: PlotData): SVGSVGElement {
  const el = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "plot-svg",
    role: "img",
    "aria-label": `${plot.label} over the last ${ago(d.window).slice(1)}, 0 to ${plot.unit(d.yMax)}`,
    "data-y-max": d.yMax,
    "data-window-s": d.window,
    "data-plot-top": TOP,
    "data-plot-height": PH,
  });
  const y = (v: number) => TOP + PH - (v / d.yMax) * PH;
  const x = (at: number) => LEFT + PW - ((d.last.at - at) / (d.window * 1000)) * PW;

  const yAxis = svg("g", { class: "axis y-axis" });
  for (const v of [0, d.yMax / 2, d.yMax]) {
    if (plot.whole && !Number.isInteger(v)) continue;
    yAxis.append(
      svg("line", { class: v === 0 ? "axis-line" : "grid", x1: LEFT, x2: LEFT + PW, y1: y(v), y2: y(v) }),
      svg(
        "text",
        { class: "tick-label", x: LEFT - 5, y: y(v), "text-anchor": "end", "dominant-baseline": "middle", "data-value": v },
        v === 0 ? "0" : plot.unit(v),
      ),
    );
  }
  yAxis.append(svg("line", { class: "axis-line", x1: LEFT, x2: LEFT, y1: TOP, y2: TOP + PH }));
  const xAxis = svg("g", { class: "axis x-axis" });
  for (let sec = d.window; sec >= 0; sec -= STEP[d.window]) {
    const at = x(d.last.at - sec * 1000);
    const anchor = sec === d.window ? "start" : sec === 0 ? "end" : "middle";
    xAxis.append(
      svg("line", { class: "tick", x1: at, x2: at, y1: TOP + PH, y2: TOP + PH + 3 }),
      svg("text", { class: "tick-label", x: at, y: H - 4, "text-anchor": anchor, "data-seconds": -sec }, ago(sec)),
    );
  }
  el.append(yAxis, xAxis);

  for (const s of d.series) {
    const points = d.shown.map((sample, i) => `${x(sample.at).toFixed(1)},${y(s.values[i]).toFixed(1)}`);
    el.append(
      svg("polyline", {
        points: points.join(" "),
        fill: "none",
        stroke: s.color,
        "stroke-width": 1.8,
        "stroke-linejoin": "round",
        "data-series": s.name,
      }),
    );
  }
  return el;
}

export class AdminView {
  readonly el: HTMLElement;
  samples: Stats[] = [];
  rooms: AdminRoom[] = [];
  state: "locked" | "connecting" | "live" | "refused" = "locked";
  private conn: Connection | null = null;
  private channel: Channel | null = null;
  private figures: HTMLElement;
  private plots: HTMLElement;
  private roomsEl: HTMLElement;
  private error: HTMLElement;
  private form: HTMLFormElement;
  private roomTimer = 0;

  constructor() {
    const token = h("input", { id: "admin-token", type: "password", placeholder: "KURVE_ADMIN_TOKEN", autocomplete: "off" });
    this.error = h("p", { class: "form-error", id: "admin-error", role: "alert" });
    this.form = h(
      "form",
      { class: "card admin-login", id: "admin-login" },
      h("h2", {}, "Operator"),
      h("label", { class: "field" }, h("span", {}, "Operator token"), token),
      this.error,
      h("button", { type: "submit", class: "btn primary", id: "admin-enter" }, "Enter"),
    );
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.connect(token.value.trim());
    });
    this.figures = h("div", { class: "admin-figures", id: "admin-figures" });
    this.plots = h("div", { class: "admin-plots", id: "admin-plots" });
    this.roomsEl = h("table", { class: "admin-rooms", id: "admin-rooms" });
    this.el = h(
      "section",
      { class: "admin view", id: "view-admin" },
      this.form,
      this.figures,
      this.plots,
      h("div", { class: "card" }, h("h2", {}, "Rooms"), this.roomsEl),
    );
  }

  destroy(): void {
    clearInterval(this.roomTimer);
    this.conn?.close();
  }

  private connect(token: string): void {
    this.conn?.close();
    this.error.textContent = "";
    this.state = "connecting";
    // The operator's socket: a retry every 2 s, WebSocket only, and no /api/me check (a
    // refused token shows as the first connection's error, below).
    const conn = new Connection(token, { retry: { reconnectAfterMs: () => 2000 }, longPoll: false });
    this.conn = conn;
    conn.socket.onError(() => {
      if (this.state === "connecting") this.refuse("The server refused that token.");
    });
    const channel = conn.socket.channel("admin:stats", {});
    this.channel = channel;
    channel.on("stats", (s: Stats) => {
      this.samples.push(s);
      if (this.samples.length > 300) this.samples.shift();
      this.render();
    });
    channel
      .join()
      .receive("ok", (reply: { history: Stats[] }) => {
        this.state = "live";
        this.samples = reply.history ?? [];
        this.form.hidden = true;
        this.render();
        void this.refreshRooms();
        this.roomTimer = window.setInterval(() => void this.refreshRooms(), 2000);
      })
      .receive("error", (reply: { reason?: string }) =>
        this.refuse(reply?.reason === "unauthorized" ? "That token is not the operator's." : `Refused: ${reply?.reason ?? "unknown"}`),
      );
  }

  private refuse(message: string): void {
    this.state = "refused";
    this.error.textContent = message;
    this.conn?.close();
    this.conn = null;
  }

  private refreshRooms(): Promise<void> {
    return new Promise((resolve) => {
      this.channel
        ?.push("rooms", {})
        .receive("ok", (r: { rooms: AdminRoom[] }) => {
          this.rooms = r.rooms;
          this.renderRooms();
          resolve();
        })
        .receive("error", () => resolve())
        .receive("timeout", () => resolve());
    });
  }

  private render(): void {
    const s = this.samples[this.samples.length - 1];
    if (!s) return;
    // The newest sample, in the plots' units: each figure is the last point of a plot's line.
    const figure = (key: string, label: string, value: number, unit: (v: number) => string = count) =>
      h(
        "div",
        { class: "figure", "data-k": key, "data-value": value },
        h("span", { class: "label" }, label),
        h("strong", { class: "value" }, unit(value)),
      );
    const { p50, p99 } = s.tick_lateness_ms;
    replace(
      this.figures,
      h("h2", { class: "figures-title" }, "Now ", h("span", { class: "at" }, `· sampled ${new Date(s.at).toLocaleTimeString()}`)),
      figure("sockets", "Sockets", s.sockets),
      figure("users", "Users", s.users),
      figure("lobbies", "Lobbies", s.lobbies),
      figure("rooms", "Rooms", Object.values(s.rooms).reduce((a, b) => a + b, 0)),
      figure("replays", "Replays", s.replays),
      figure("frames", "Frames out", s.frames_per_s, perSecond),
      figure("bytes", "Bytes out", s.bytes_per_s, bytesPerSecond),
      h(
        "div",
        { class: "figure", "data-k": "lateness", "data-p50": p50, "data-p99": p99 },
        h("span", { class: "label" }, "Tick lateness p50 / p99"),
        h("strong", { class: "value" }, `${millis(p50)} / ${millis(p99)}`),
      ),
      figure("drops", "Slow drops", s.slow_drops),
      figure("restarts", "Restarts", s.restarts),
    );
    replace(
      this.plots,
      ...PLOTS.map((p) => {
        const d = plotData(this.samples, p);
        return h(
          "figure",
          { class: "plot card", "data-plot": p.key },
          h("figcaption", {}, p.label),
          h(
            "div",
            { class: "plot-legend" },
            ...d.series.map((x) =>
              h(
                "span",
                { class: "legend", "data-series": x.name, "data-now": x.now, "data-peak": x.peak },
                h("span", { class: "swatch", style: `background:${x.color}` }),
                h("span", { class: "name" }, x.name),
                h("span", { class: "now" }, "now ", h("b", {}, p.unit(x.now))),
                h("span", { class: "peak" }, "peak ", h("b", {}, p.unit(x.peak))),
              ),
            ),
          ),
          drawPlot(p, d),
        );
      }),
    );
  }

  private renderRooms(): void {
    if (this.rooms.length === 0) {
      replace(this.roomsEl, h("tbody", {}, h("tr", {}, h("td", { class: "empty" }, "No rooms."))));
      return;
    }
    replace(
      this.roomsEl,
      h("thead", {}, h("tr", {}, ...["Room", "Lobby", "Phase", "Players", "Spectators", "Tick", ""].map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        ...this.rooms.map((r) => {
          const close = h("button", { class: "btn small danger", "data-action": "close" }, "Close");
          close.addEventListener("click", () => {
            close.disabled = true;
            this.channel?.push("close_room", { id: r.id }).receive("ok", () => void this.refreshRooms());
          });
          return h(
            "tr",
            { "data-room-id": r.id },
            h("td", {}, `${r.name} (${r.id})`, r.private ? " 🔒" : ""),
            h("td", {}, r.lobby),
            h("td", {}, r.phase),
            h("td", {}, r.players.map((p) => p.name).join(", ") || "—"),
            h("td", {}, String(r.spectators)),
            h("td", {}, String(r.tick)),
            h("td", {}, close),
          );
        }),
      ),
    );
  }

  /** State for tests (`window.__kurve.admin`). */
  debug() {
    const last = this.samples[this.samples.length - 1] ?? null;
    return { state: this.state, samples: this.samples.length, last, rooms: this.rooms.map((r) => r.id) };
  }
}
