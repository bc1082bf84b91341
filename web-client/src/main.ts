// kurve web client: sign-in → lobby ↔ room. Routes live in the hash so a reload comes
// back to the same place: `#/` lobby, `#/room/<id>` play, `#/watch/<id>` spectate,
// `#/replay/<match_id>` a finished match again.

import "./style.css";
import { api, ApiError, loadSession, saveSession, type Session } from "./api";
import { Connection, type ConnState } from "./conn";
import { h, replace, toast } from "./dom";
import { Lobby } from "./lobby";
import { AdminView } from "./admin";
import { ReplayView } from "./replay";
import { RoomView, type Role } from "./room";
import { signInView } from "./signin";

type View = "signin" | "lobby" | "room" | "replay" | "admin" | "loading";

const PASSWORDS = "kurve.roomPasswords";

class App {
  session: Session | null = null;
  conn: Connection | null = null;
  lobby: Lobby | null = null;
  room: RoomView | null = null;
  replay: ReplayView | null = null;
  view: View = "loading";
  private main: HTMLElement;
  private connEl: HTMLElement;
  private userEl: HTMLElement;
  private connUnsub: (() => void) | null = null;

  constructor() {
    this.connEl = h("div", { class: "conn", id: "conn-state", "data-state": "offline", role: "status" });
    this.userEl = h("div", { class: "user-chip", id: "user-chip" });
    const logo = h("a", { class: "logo", href: "#/", title: "kurve" }, h("span", { class: "logo-mark" }), "kurve");
    const header = h("header", { class: "topbar" }, logo, h("div", { class: "spacer" }), this.connEl, this.userEl);
    this.main = h("main", { id: "main" });
    const app = document.getElementById("app")!;
    replace(app, header, this.main);
    window.addEventListener("hashchange", () => this.route());
  }

  async start(): Promise<void> {
    const stored = loadSession();
    if (!stored) return this.showSignIn();
    this.setView("loading", h("div", { class: "loading" }, "Signing in…"));
    try {
      const { user } = await api.me(stored.token);
      this.enter({ token: stored.token, user });
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        saveSession(null);
        this.showSignIn("Your session ended. Please sign in again.");
      } else {
        // Server unreachable: keep the session and let the socket reconnect.
        toast("Cannot reach the server — retrying…", "error");
        this.enter(stored);
      }
    }
  }

  private setView(v: View, el: HTMLElement): void {
    this.view = v;
    document.body.dataset.view = v;
    replace(this.main, el);
  }

  /** Shows the operator page instead of the game (no sign-in: the token is the key). */
  showAdmin(view: AdminView): void {
    this.setConn(null);
    this.setView("admin", view.el);
  }

  showSignIn(notice?: string): void {
    this.teardown();
    this.renderUser();
    this.setConn(null);
    this.setView(
      "signin",
      signInView((s) => {
        saveSession(s);
        this.enter(s);
      }, notice),
    );
  }

  private enter(s: Session): void {
    this.teardown();
    this.session = s;
    saveSession(s);
    this.renderUser();
    this.conn = new Connection(s.token, {
      onAuthLost: () => {
        saveSession(null);
        this.showSignIn("Your session ended. Please sign in again.");
      },
    });
    this.connUnsub = this.conn.onChange((st) => this.setConn(st));
    this.lobby = new Lobby(this.conn, s.user, (id, as, pw) => this.openRoom(id, as, pw));
    this.route();
  }

  private teardown(): void {
    this.room?.destroy();
    this.room = null;
    this.replay?.destroy();
    this.replay = null;
    this.lobby?.destroy();
    this.lobby = null;
    this.connUnsub?.();
    this.connUnsub = null;
    this.conn?.close();
    this.conn = null;
    this.session = null;
  }

  signOut(): void {
    saveSession(null);
    history.replaceState(null, "", "#/");
    this.showSignIn();
  }

  /** Navigates to a room (the hash change does the work). */
  openRoom(id: string, as: Role, password?: string): void {
    if (password) rememberPassword(id, password);
    const hash = `#/${as === "spectator" ? "watch" : "room"}/${encodeURIComponent(id)}`;
    if (location.hash === hash) this.route(true);
    else location.hash = hash;
  }

  private route(force = false): void {
    if (!this.session || !this.conn || !this.lobby) return;
    const r = location.hash.match(/^#\/replay\/(\d+)/);
    if (r) {
      if (this.replay && this.replay.matchId === r[1] && this.view === "replay") return;
      this.room?.destroy();
      this.room = null;
      this.replay?.destroy();
      this.replay = new ReplayView(this.conn, r[1], (msg) => {
        if (msg) toast(msg, "error");
        location.hash = "#/";
      });
      this.setView("replay", this.replay.el);
      return;
    }
    this.replay?.destroy();
    this.replay = null;
    const m = location.hash.match(/^#\/(room|watch)\/([^/?#]+)/);
    if (m) {
      const id = decodeURIComponent(m[2]);
      const as: Role = m[1] === "watch" ? "spectator" : "player";
      if (!force && this.room && this.room.roomId === id && this.view === "room") return;
      this.room?.destroy();
      this.room = new RoomView(
        this.conn,
        this.lobby,
        this.session.user.id,
        id,
        as,
        recallPassword(id),
        (msg) => {
          if (msg) toast(msg, "error");
          location.hash = "#/";
        },
        (other, role) => this.openRoom(other, role),
      );
      this.setView("room", this.room.el);
      return;
    }
    this.room?.destroy();
    this.room = null;
    this.setView("lobby", this.lobby.el);
    void this.lobby.refreshLeaderboard();
  }

  private setConn(st: ConnState | null): void {
    const el = this.connEl;
    el.dataset.state = st ?? "offline";
    const transport = this.conn?.transport() ?? "websocket";
    const via = transport === "longpoll" ? " (long-poll)" : "";
    const label = st === "connected" ? `Connected${via}` : st === "reconnecting" ? "Reconnecting…" : st === "connecting" ? "Connecting…" : "";
    el.dataset.transport = transport;
    replace(el, st ? h("span", { class: "pip" }) : null, h("span", { class: "conn-label" }, label));
    el.title = label;
    el.hidden = !st;
    document.body.dataset.conn = st ?? "offline";
  }

  private renderUser(): void {
    const s = this.session;
    if (!s) {
      replace(this.userEl);
      return;
    }
    const out = h("button", { class: "btn small ghost", id: "sign-out" }, "Sign out");
    out.addEventListener("click", () => this.signOut());
    replace(
      this.userEl,
      h("span", { class: "uname", id: "me-name" }, s.user.name),
      s.user.guest ? h("span", { class: "badge guest" }, "guest") : h("span", { class: "badge member" }, "member"),
      out,
    );
  }
}

function rememberPassword(id: string, pw: string): void {
  try {
    const m = JSON.parse(sessionStorage.getItem(PASSWORDS) ?? "{}") as Record<string, string>;
    m[id] = pw;
    sessionStorage.setItem(PASSWORDS, JSON.stringify(m));
  } catch {
    /* ignore */
  }
}

function recallPassword(id: string): string | undefined {
  try {
    const m = JSON.parse(sessionStorage.getItem(PASSWORDS) ?? "{}") as Record<string, string>;
    return m[id];
  } catch {
    return undefined;
  }
}

/** The operator page (`/admin`, served only when the server has an operator token). */
const admin = location.pathname === "/admin" ? new AdminView() : null;
const app = new App();

// Read-only state for tests and debugging. Nothing here changes the game.
Object.defineProperty(window, "__kurve", {
  value: Object.freeze({
    get view() {
      return app.view;
    },
    get user() {
      return app.session ? { ...app.session.user } : null;
    },
    get conn() {
      return app.conn?.state ?? null;
    },
    /** "websocket" or "longpoll": how the socket reaches the server now. */
    get transport() {
      return app.conn?.transport() ?? null;
    },
    get online() {
      return app.lobby ? app.lobby.online.map((u) => ({ ...u })) : [];
    },
    get rooms() {
      return app.lobby ? [...app.lobby.rooms.values()].map((r) => JSON.parse(JSON.stringify(r))) : [];
    },
    get room() {
      return app.room ? app.room.debug() : null;
    },
    get replay() {
      return app.replay ? app.replay.debug() : null;
    },
    get admin() {
      return admin ? admin.debug() : null;
    },
    /** Starts keeping a fingerprint of the arena after every tick (to compare clients). */
    recordFingerprints() {
      if (app.room && !app.room.fingerprints) app.room.fingerprints = new Map();
    },
    fingerprintAt(tick: number) {
      return app.room?.fingerprints?.get(tick) ?? null;
    },
    fingerprintTicks() {
      return app.room?.fingerprints ? [...app.room.fingerprints.keys()] : [];
    },
  }),
});

// CONTRACT §10: `window.kurve.debug()` while a room is shown (null otherwise);
// `bench()` adds what tests/e2e/bench/keypress.js measures.
Object.defineProperty(window, "kurve", {
  value: Object.freeze({
    debug() {
      return app.room ? app.room.netDebug() : null;
    },
    bench() {
      return app.room ? app.room.netBench() : null;
    },
  }),
});

if (admin) app.showAdmin(admin);
else void app.start();
