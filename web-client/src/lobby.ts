// Lobby (`lobby:main`): presence, the live room list, the game to play (`GET /api/games`),
// create / quick play / join, chat, and the leaderboard. The channel stays joined while a
// room is open, so presence and the room list stay live (spectators switch rooms from it).

import { Presence, type Channel } from "phoenix";
import { api, type GameInfo, type MatchSummary, type LeaderRow, type User } from "./api";
import type { Connection } from "./conn";
import { dot, h, nameColor, replace, toast } from "./dom";
import { PHASE_LABEL, reasonText } from "./labels";
import type { RoomCreated, RoomSummary } from "./wire";

export type { RoomSummary } from "./wire";

export interface OnlineUser {
  id: string;
  name: string;
  status: "lobby" | "playing" | "spectating";
  roomId: string | null;
  tabs: number;
}

interface Meta {
  name?: string;
  status?: OnlineUser["status"];
  room_id?: string | null;
}

interface ChatMsg {
  user: { id: string; name: string };
  body: string;
  at: number | string;
}

export type OpenRoom = (id: string, as: "player" | "spectator", password?: string) => void;

const STATUS_RANK = { playing: 3, spectating: 2, lobby: 1 } as const;

/** The games until `GET /api/games` answers (or a server that has no such route): Curve alone. */
const FALLBACK_GAMES: GameInfo[] = [{ id: "curve", name: "Curve", min_players: 1, max_players: 8 }];
/** Seats a new room gets unless its creator picks another number (the server's default too). */
const DEFAULT_SEATS = 6;

/** The seat counts a room of `g` may have: at least 2 (one seat is no room to share), at most the game's. */
export function seatRange(g: GameInfo): [number, number] {
  const hi = Math.max(2, g.max_players);
  return [Math.min(hi, Math.max(2, g.min_players)), hi];
}

export class Lobby {
  readonly el: HTMLElement;
  readonly channel: Channel;
  rooms = new Map<string, RoomSummary>();
  online: OnlineUser[] = [];
  /** The games the server hosts, the default first. */
  games: GameInfo[] = FALLBACK_GAMES;
  private presence: Presence;
  private roomListeners = new Set<() => void>();
  private roomsEl: HTMLElement;
  private onlineEl: HTMLElement;
  private onlineCount: HTMLElement;
  private chatLog: HTMLElement;
  private boardEl: HTMLElement;
  private matchesEl: HTMLElement;
  private mineOnly: HTMLInputElement;
  /** The game quick play and "create" use (`#create-game`), and the seats (`#create-max`). */
  private gameSel: HTMLSelectElement;
  private seatsSel: HTMLSelectElement;
  private matches: MatchSummary[] = [];
  private leaderTimer: number;
  private joined = false;

  constructor(
    conn: Connection,
    private me: User,
    private openRoom: OpenRoom,
  ) {
    this.channel = conn.socket.channel("lobby:main", {});
    this.presence = new Presence(this.channel);
    this.presence.onSync(() => this.syncPresence());

    this.roomsEl = h("div", { class: "room-list", id: "room-list" });
    this.onlineEl = h("ul", { class: "online-list", id: "online-list" });
    this.onlineCount = h("span", { class: "count" }, "0");
    this.chatLog = h("ol", { class: "chat-log", id: "chat-log", "aria-live": "polite" });
    this.boardEl = h("table", { class: "leaderboard", id: "leaderboard" });
    this.matchesEl = h("ol", { class: "match-list", id: "match-list" });
    this.mineOnly = h("input", { type: "checkbox", id: "matches-mine" });
    this.gameSel = h("select", { id: "create-game", "aria-label": "Game" });
    this.seatsSel = h("select", { id: "create-max" });
    this.el = this.build();
    this.setGames(FALLBACK_GAMES);
    void this.loadGames();

    this.channel.on("room_added", (r: RoomSummary) => this.upsertRoom(r));
    this.channel.on("room_updated", (r: RoomSummary) => this.upsertRoom(r));
    this.channel.on("room_removed", (r: RoomSummary) => {
      this.rooms.delete(r.id);
      this.roomsChanged();
    });
    // A fresh listing after this socket fell behind (docs/PROTOCOL.md, "Falling
    // behind"): it replaces the list, as the join reply's does.
    this.channel.on("rooms", (reply: { rooms?: RoomSummary[] }) => {
      this.rooms = new Map((reply.rooms ?? []).map((r) => [r.id, r]));
      this.roomsChanged();
    });
    this.channel.on("chat", (m: ChatMsg) => this.addChat(m));
    this.channel
      .join()
      .receive("ok", (reply: { rooms?: RoomSummary[] }) => {
        // Also runs after every automatic rejoin: the reply is the fresh list.
        this.joined = true;
        this.rooms = new Map((reply.rooms ?? []).map((r) => [r.id, r]));
        this.roomsChanged();
      })
      .receive("error", (reply: { reason?: string }) => toast(`Lobby: ${reasonText(reply?.reason)}`, "error"));

    void this.refreshLeaderboard();
    this.leaderTimer = window.setInterval(() => void this.refreshLeaderboard(), 30000);
  }

  destroy(): void {
    clearInterval(this.leaderTimer);
    this.channel.leave();
    this.roomListeners.clear();
  }

  /** Subscribes to room list changes; returns an unsubscribe function. */
  onRooms(fn: () => void): () => void {
    this.roomListeners.add(fn);
    return () => this.roomListeners.delete(fn);
  }

  private upsertRoom(r: RoomSummary): void {
    if (r.private) this.rooms.delete(r.id);
    else this.rooms.set(r.id, r);
    this.roomsChanged();
  }

  private roomsChanged(): void {
    this.renderRooms();
    this.syncPresence();
    for (const fn of this.roomListeners) fn();
  }

  // --- layout --------------------------------------------------------------------

  private build(): HTMLElement {
    // Play card: quick play, create, join by code.
    const quick = h("button", { class: "btn primary big", id: "quick-play" }, "Quick play");
    quick.addEventListener("click", () => {
      quick.disabled = true;
      this.channel
        .push("quick_join", { game: this.gameSel.value })
        .receive("ok", (r: RoomCreated) => this.openRoom(r.room_id, "player"))
        .receive("error", (r: { reason?: string }) => toast(reasonText(r?.reason), "error"))
        .receive("timeout", () => toast(reasonText(undefined), "error"));
      setTimeout(() => (quick.disabled = false), 800);
    });

    const rName = h("input", { id: "create-name", type: "text", maxlength: 24, placeholder: `${this.me.name}'s room` });
    const rMax = this.seatsSel;
    this.gameSel.addEventListener("change", () => this.boundSeats());
    const rPrivate = h("input", { id: "create-private", type: "checkbox" });
    const rPassword = h("input", {
      id: "create-password",
      type: "password",
      maxlength: 64,
      placeholder: "Room password",
      autocomplete: "new-password",
    });
    const pwField = h("label", { class: "field" }, h("span", {}, "Password"), rPassword);
    pwField.hidden = true;
    rPrivate.addEventListener("change", () => (pwField.hidden = !rPrivate.checked));
    const createErr = h("p", { class: "form-error", role: "alert" });
    const create = h(
      "form",
      { class: "create-form", id: "create-form" },
      h("label", { class: "field" }, h("span", {}, "Room name"), rName),
      h("label", { class: "field" }, h("span", {}, "Seats"), rMax),
      h("label", { class: "check" }, rPrivate, h("span", {}, "Private (join by code)")),
      pwField,
      createErr,
      h("button", { type: "submit", class: "btn", id: "create-submit" }, "Create room"),
    );
    create.addEventListener("submit", (ev) => {
      ev.preventDefault();
      createErr.textContent = "";
      const payload: Record<string, unknown> = {
        name: rName.value.trim() || `${this.me.name}'s room`,
        game: this.gameSel.value,
        max_players: Number(rMax.value),
        private: rPrivate.checked,
      };
      if (rPrivate.checked && rPassword.value) payload.password = rPassword.value;
      this.channel
        .push("create_room", payload)
        .receive("ok", (r: RoomCreated) =>
          this.openRoom(r.room_id, "player", rPrivate.checked ? rPassword.value || undefined : undefined),
        )
        .receive("error", (r: { reason?: string }) => (createErr.textContent = reasonText(r?.reason)))
        .receive("timeout", () => (createErr.textContent = reasonText(undefined)));
    });

    const code = h("input", { id: "join-code", type: "text", maxlength: 16, placeholder: "Room code", autocomplete: "off" });
    const codePw = h("input", { id: "join-password", type: "password", placeholder: "Password (if any)", autocomplete: "off" });
    const joinForm = h(
      "form",
      { class: "join-form", id: "join-form" },
      h("div", { class: "row" }, code, codePw),
      h(
        "div",
        { class: "row" },
        h("button", { type: "submit", class: "btn", "data-as": "player" }, "Join"),
        h("button", { type: "submit", class: "btn ghost", "data-as": "spectator" }, "Watch"),
      ),
    );
    joinForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const as = ((ev as SubmitEvent).submitter as HTMLElement | null)?.dataset.as === "spectator" ? "spectator" : "player";
      const id = code.value.trim().toLowerCase();
      if (!id) return;
      this.openRoom(id, as, codePw.value || undefined);
    });

    const play = h(
      "div",
      { class: "card play-card" },
      h("h2", {}, "Play"),
      h("label", { class: "field game-field" }, h("span", {}, "Game"), this.gameSel),
      quick,
      h("p", { class: "hint" }, "Jumps into an open room of this game, or makes a new one."),
      h("details", { class: "fold", open: true }, h("summary", {}, "Create a room"), create),
      h("details", { class: "fold" }, h("summary", {}, "Join by code"), joinForm),
    );

    // Chat.
    const chatInput = h("input", {
      id: "chat-input",
      type: "text",
      maxlength: 280,
      placeholder: "Say something nice…",
      autocomplete: "off",
    });
    const chatForm = h("form", { class: "chat-form", id: "chat-form" }, chatInput, h("button", { class: "btn", type: "submit" }, "Send"));
    chatForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const body = chatInput.value.trim();
      if (!body) return;
      this.channel
        .push("chat", { body })
        .receive("ok", () => (chatInput.value = ""))
        .receive("error", (r: { reason?: string }) => toast(reasonText(r?.reason), "error"))
        .receive("timeout", () => toast("Message not sent — no connection.", "error"));
    });

    const rooms = h(
      "div",
      { class: "card rooms-card" },
      h("h2", {}, "Rooms ", h("span", { class: "sub" }, "live")),
      this.roomsEl,
    );
    const chat = h("div", { class: "card chat-card" }, h("h2", {}, "Chat"), this.chatLog, chatForm);
    const online = h("div", { class: "card online-card" }, h("h2", {}, "Online ", this.onlineCount), this.onlineEl);
    const board = h("div", { class: "card board-card" }, h("h2", {}, "Leaderboard"), this.boardEl);
    const mine = h("label", { class: "check small" }, this.mineOnly, h("span", {}, "Mine only"));
    this.mineOnly.addEventListener("change", () => void this.refreshMatches());
    const matches = h("div", { class: "card matches-card" }, h("h2", {}, "Recent matches ", mine), this.matchesEl);

    this.renderRooms();
    return h(
      "section",
      { class: "lobby view", id: "view-lobby" },
      h("div", { class: "col col-left" }, play, board),
      h("div", { class: "col col-mid" }, rooms, chat),
      h("div", { class: "col col-right" }, online, matches),
    );
  }

  // --- games ---------------------------------------------------------------------

  /** Asks the server which games it hosts; a server without the route hosts Curve alone. */
  private async loadGames(): Promise<void> {
    let list: GameInfo[];
    try {
      list = await api.games();
    } catch {
      return;
    }
    if (!Array.isArray(list) || list.length === 0) return;
    this.setGames(list.filter((g) => g && typeof g.id === "string"));
  }

  /** Fills the game select (keeping the choice when it is still there) and bounds the seats. */
  private setGames(list: GameInfo[]): void {
    if (list.length === 0) return;
    this.games = list;
    const was = this.gameSel.value;
    replace(this.gameSel, ...list.map((g) => h("option", { value: g.id }, g.name)));
    this.gameSel.value = list.some((g) => g.id === was) ? was : list[0].id;
    this.boundSeats();
    this.renderRooms();
  }

  /** The seat select from the chosen game's least to most players, the number chosen kept where it fits. */
  private boundSeats(): void {
    const g = this.games.find((x) => x.id === this.gameSel.value) ?? this.games[0];
    const [lo, hi] = seatRange(g);
    const was = Number(this.seatsSel.value) || DEFAULT_SEATS;
    const want = Math.min(hi, Math.max(lo, was));
    const have = [...this.seatsSel.options].map((o) => Number(o.value));
    if (have.length !== hi - lo + 1 || have[0] !== lo) {
      const opts: HTMLOptionElement[] = [];
      for (let n = lo; n <= hi; n++) opts.push(h("option", { value: n }, `${n} players`));
      replace(this.seatsSel, ...opts);
    }
    this.seatsSel.value = String(want);
  }

  /** A game's name for people (its id where the server did not list it). */
  gameName(id: string | undefined): string {
    const g = id ?? "curve";
    return this.games.find((x) => x.id === g)?.name ?? g.charAt(0).toUpperCase() + g.slice(1);
  }

  // --- rooms ---------------------------------------------------------------------

  private renderRooms(): void {
    const list = [...this.rooms.values()].sort((a, b) => {
      const wa = a.phase === "waiting" ? 0 : 1;
      const wb = b.phase === "waiting" ? 0 : 1;
      return wa - wb || b.players.length - a.players.length || a.name.localeCompare(b.name);
    });
    if (list.length === 0) {
      replace(
        this.roomsEl,
        h(
          "div",
          { class: "empty" },
          h("p", {}, this.joined ? "No rooms yet." : "Loading rooms…"),
          h("p", { class: "hint" }, "Create one, or hit Quick play and invite a friend."),
        ),
      );
      return;
    }
    replace(this.roomsEl, ...list.map((r) => this.roomCard(r)));
  }

  private roomCard(r: RoomSummary): HTMLElement {
    const full = r.players.length >= r.max_players;
    const canJoin = r.phase === "waiting" && !full;
    const seats = h("div", { class: "seats" });
    for (let i = 0; i < r.max_players; i++) {
      const p = r.players[i];
      seats.appendChild(p ? h("span", { class: "seat taken", title: p.name }, p.name) : h("span", { class: "seat free" }, "open"));
    }
    const join = h("button", { class: "btn small", "data-action": "join", disabled: !canJoin }, "Join");
    join.addEventListener("click", () => this.openRoom(r.id, "player"));
    const watch = h("button", { class: "btn small ghost", "data-action": "watch" }, "Watch");
    watch.addEventListener("click", () => this.openRoom(r.id, "spectator"));
    return h(
      "article",
      { class: `room-card phase-${r.phase}`, "data-room-id": r.id },
      h(
        "header",
        {},
        h("span", { class: "room-name" }, r.name || r.id),
        h(
          "span",
          { class: "badges" },
          h("span", { class: "badge game", "data-game": r.game ?? "curve" }, this.gameName(r.game)),
          h("span", { class: `badge phase ${r.phase}` }, PHASE_LABEL[r.phase] ?? r.phase),
        ),
      ),
      seats,
      h(
        "footer",
        {},
        h("span", { class: "meta" }, `${r.players.length}/${r.max_players} players · ${r.spectators} watching`),
        h("span", { class: "actions" }, join, watch),
      ),
    );
  }

  // --- presence ------------------------------------------------------------------

  private syncPresence(): void {
    const users: OnlineUser[] = this.presence.list((id: string, { metas }: { metas: Meta[] }) => {
      // One row per user however many tabs: the most engaged status wins.
      let best: Meta = metas[0] ?? {};
      for (const m of metas) {
        if ((STATUS_RANK[m.status ?? "lobby"] ?? 0) > (STATUS_RANK[best.status ?? "lobby"] ?? 0)) best = m;
      }
      return {
        id,
        name: best.name ?? metas.find((m) => m.name)?.name ?? "?",
        status: best.status ?? "lobby",
        roomId: best.room_id ?? null,
        tabs: metas.length,
      };
    });
    users.sort((a, b) => (a.id === this.me.id ? -1 : b.id === this.me.id ? 1 : a.name.localeCompare(b.name)));
    this.online = users;
    this.onlineCount.textContent = String(users.length);
    replace(
      this.onlineEl,
      ...users.map((u) => {
        const room = u.roomId ? this.rooms.get(u.roomId) : undefined;
        const where =
          u.status === "lobby"
            ? "in lobby"
            : `${u.status === "playing" ? "playing" : "watching"}${room ? ` · ${room.name}` : u.roomId ? ` · ${u.roomId}` : ""}`;
        const li = h(
          "li",
          { class: `user status-${u.status}${u.id === this.me.id ? " me" : ""}`, "data-user-id": u.id, "data-status": u.status },
          h("span", { class: "avatar" }, u.name.slice(0, 1).toUpperCase()),
          h("span", { class: "uname" }, u.name, u.id === this.me.id ? h("span", { class: "you" }, " (you)") : null),
          h("span", { class: "where" }, where),
        );
        (li.firstChild as HTMLElement).style.setProperty("--c", nameColor(u.name));
        if (u.roomId && u.id !== this.me.id && this.rooms.has(u.roomId)) {
          li.classList.add("clickable");
          li.title = "Watch";
          li.addEventListener("click", () => this.openRoom(u.roomId!, "spectator"));
        }
        return li;
      }),
    );
  }

  // --- chat ----------------------------------------------------------------------

  private addChat(m: ChatMsg): void {
    const at = typeof m.at === "number" ? new Date(m.at) : new Date(m.at);
    const time = isNaN(at.getTime()) ? "" : at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const name = h("span", { class: "who" }, m.user?.name ?? "?");
    name.style.color = nameColor(m.user?.name ?? "?");
    const li = h("li", { class: m.user?.id === this.me.id ? "mine" : "" }, h("time", {}, time), name, h("span", { class: "body" }, m.body));
    const stick = this.chatLog.scrollTop + this.chatLog.clientHeight >= this.chatLog.scrollHeight - 20;
    this.chatLog.appendChild(li);
    while (this.chatLog.children.length > 150) this.chatLog.firstChild?.remove();
    if (stick) this.chatLog.scrollTop = this.chatLog.scrollHeight;
  }

  // --- match history -----------------------------------------------------------

  /** Reloads the recent matches, or this player's own history when "mine only" is on. */
  async refreshMatches(): Promise<void> {
    try {
      this.matches = (await api.matches(10, this.mineOnly.checked ? this.me.id : undefined)).matches ?? [];
    } catch {
      return;
    }
    this.renderMatches();
  }

  private renderMatches(): void {
    const shown = this.matches;
    if (shown.length === 0) {
      replace(this.matchesEl, h("li", { class: "empty" }, this.mineOnly.checked ? "You have not finished a match yet." : "No finished matches yet."));
      return;
    }
    replace(
      this.matchesEl,
      ...shown.map((m) => {
        const winner = m.players.find((p) => p.id === m.winner);
        const when = new Date(m.finished_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        const mine = m.players.find((p) => p.id === this.me.id);
        return h(
          "li",
          { "data-match-id": m.id, class: mine ? "mine" : "" },
          h(
            "div",
            { class: "match-line" },
            h("strong", {}, m.room_name),
            m.game ? h("span", { class: "badge game", "data-game": m.game }, this.gameName(m.game)) : null,
            h("span", { class: "muted" }, ` ${when} · ${Math.round(m.duration_ms / 1000)} s`),
          ),
          h(
            "div",
            { class: "match-line muted" },
            m.players.map((p) => `${p.place}. ${p.name} ${p.points}`).join("  "),
            winner ? ` — ${winner.name} won` : "",
          ),
          h("a", { class: "btn small ghost", href: `#/replay/${m.id}`, "data-action": "replay" }, "Watch replay"),
        );
      }),
    );
  }

  // --- leaderboard ---------------------------------------------------------------

  async refreshLeaderboard(): Promise<void> {
    void this.refreshMatches();
    let rows: LeaderRow[];
    try {
      rows = (await api.leaderboard()).players ?? [];
    } catch {
      return;
    }
    if (rows.length === 0) {
      replace(this.boardEl, h("tbody", {}, h("tr", {}, h("td", { class: "empty" }, "No finished matches yet — be the first!"))));
      return;
    }
    replace(
      this.boardEl,
      h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "Player"), h("th", {}, "Wins"), h("th", {}, "Points"), h("th", {}, "Matches"))),
      h(
        "tbody",
        {},
        ...rows.slice(0, 15).map((r, i) =>
          h(
            "tr",
            { class: r.name === this.me.name ? "me" : "" },
            h("td", { class: "rank" }, i + 1),
            h("td", { class: "pname" }, dot(nameColor(r.name)), r.name),
            h("td", {}, r.wins),
            h("td", {}, r.points),
            h("td", {}, r.matches),
          ),
        ),
      ),
    );
  }
}
