// The operator page (`/admin`, CONTRACT §7): the operator types the server's
// KURVE_ADMIN_TOKEN, the page connects with it through the same official client as the
// game, joins `admin:stats`, and shows the live figures with plots of the last minutes,
// the room list with members, and a button to close a room.

import { Socket, type Channel } from "phoenix";
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

/** A plotted series: its label and how to read it from a sample. */
const PLOTS: { key: string; label: string; series: { name: string; read: (s: Stats) => number; color: string }[] }[] = [
  { key: "sockets", label: "Sockets and users", series: [
    { name: "sockets", read: (s) => s.sockets, color: "#5b6cff" },
    { name: "users", read: (s) => s.users, color: "#2ecc40" },
  ] },
  { key: "rooms", label: "Rooms by phase", series: [
    { name: "waiting", read: (s) => s.rooms.waiting ?? 0, color: "#8d97bd" },
    { name: "countdown", read: (s) => s.rooms.countdown ?? 0, color: "#ffdc00" },
    { name: "playing", read: (s) => s.rooms.playing ?? 0, color: "#2ecc40" },
    { name: "finished", read: (s) => s.rooms.finished ?? 0, color: "#ff851b" },
  ] },
  { key: "frames", label: "Frames out per second", series: [{ name: "frames/s", read: (s) => s.frames_per_s, color: "#7fdbff" }] },
  { key: "bytes", label: "Bytes out per second", series: [{ name: "bytes/s", read: (s) => s.bytes_per_s, color: "#b10dc9" }] },
  { key: "lateness", label: "Tick lateness (ms)", series: [
    { name: "p50", read: (s) => s.tick_lateness_ms.p50, color: "#2ecc40" },
    { name: "p99", read: (s) => s.tick_lateness_ms.p99, color: "#ff4136" },
  ] },
  { key: "drops", label: "Slow-client drops and restarts (total)", series: [
    { name: "slow drops", read: (s) => s.slow_drops, color: "#ff4136" },
    { name: "restarts", read: (s) => s.restarts, color: "#ffdc00" },
  ] },
];

const SVG = "http://www.w3.org/2000/svg";
const W = 320;
const H = 90;

/** An SVG line plot of `series` over `samples` (oldest first), scaled to its maximum. */
function plot(samples: Stats[], series: (typeof PLOTS)[number]["series"]): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "plot-svg");
  const max = Math.max(1e-9, ...samples.flatMap((s) => series.map((x) => x.read(s))));
  const n = Math.max(samples.length - 1, 1);
  for (const x of series) {
    const line = document.createElementNS(SVG, "polyline");
    const points = samples.map((s, i) => `${((i / n) * W).toFixed(1)},${(H - 4 - (x.read(s) / max) * (H - 8)).toFixed(1)}`);
    line.setAttribute("points", points.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", x.color);
    line.setAttribute("stroke-width", "1.8");
    line.setAttribute("data-series", x.name);
    svg.appendChild(line);
  }
  return svg;
}

function fmt(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)} M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

export class AdminView {
  readonly el: HTMLElement;
  samples: Stats[] = [];
  rooms: AdminRoom[] = [];
  state: "locked" | "connecting" | "live" | "refused" = "locked";
  private socket: Socket | null = null;
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
    this.socket?.disconnect();
  }

  private connect(token: string): void {
    this.socket?.disconnect();
    this.error.textContent = "";
    this.state = "connecting";
    const socket = new Socket("/socket", { params: { token }, reconnectAfterMs: () => 2000 });
    this.socket = socket;
    socket.onError(() => {
      if (this.state === "connecting") this.refuse("The server refused that token.");
    });
    socket.connect();
    const channel = socket.channel("admin:stats", {});
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
    this.socket?.disconnect();
    this.socket = null;
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
    const figure = (key: string, label: string, value: string) =>
      h("div", { class: "figure", "data-k": key }, h("span", { class: "label" }, label), h("strong", { class: "value" }, value));
    replace(
      this.figures,
      figure("sockets", "Sockets", fmt(s.sockets)),
      figure("users", "Users", fmt(s.users)),
      figure("lobbies", "Lobbies", fmt(s.lobbies)),
      figure("rooms", "Rooms", fmt(Object.values(s.rooms).reduce((a, b) => a + b, 0))),
      figure("replays", "Replays", fmt(s.replays)),
      figure("frames", "Frames/s", fmt(s.frames_per_s)),
      figure("bytes", "Bytes/s", fmt(s.bytes_per_s)),
      figure("lateness", "Lateness p50 / p99", `${s.tick_lateness_ms.p50.toFixed(2)} / ${s.tick_lateness_ms.p99.toFixed(2)} ms`),
      figure("drops", "Slow drops", fmt(s.slow_drops)),
      figure("restarts", "Restarts", fmt(s.restarts)),
    );
    replace(
      this.plots,
      ...PLOTS.map((p) =>
        h(
          "figure",
          { class: "plot card", "data-plot": p.key },
          h("figcaption", {}, p.label, " ", ...p.series.map((x) => h("span", { class: "legend", style: `color:${x.color}` }, `● ${x.name}`))),
          plot(this.samples, p.series),
        ),
      ),
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
