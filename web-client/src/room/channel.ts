// The `room:<id>` channel of one room view: the join (as a player, or as a spectator when
// the seats are gone), the automatic rejoins, room presence, and every event the room
// sends, handed to the view's `RoomEvents` as it arrives. Nothing here decodes a payload
// or keeps game state, and nothing here knows which game the room runs.

import { Presence, type Channel } from "phoenix";
import type { Connection } from "../conn";
import { toast } from "../dom";
import { reasonText } from "../labels";
import type { MatchEndMsg, MatchSaved, PhaseMsg, Role, RoomJoinReply, RoundEndMsg } from "../wire";

export type { Role } from "../wire";
/** The join reply, as the view reads it. */
export type JoinReply = RoomJoinReply;

/** A member's room presence meta (docs/PROTOCOL.md). */
export interface RoomMeta {
  name?: string;
  role?: Role;
  color?: string;
  ready?: boolean;
  seat?: number;
}

export interface Member {
  id: string;
  meta: RoomMeta;
}

/**
 * How long rejoins may find no room before the view gives up, ms: in a cluster the room's
 * node went away and another node adopts the room within seconds.
 */
const LOST_ROOM_MS = 20000;

/** What the room view hears from its channel, in the order the room sends it. */
export interface RoomEvents {
  /** A join (the first, or a rejoin) was accepted; a `snapshot` follows. */
  joined(reply: JoinReply, first: boolean): void;
  /** Room presence changed. */
  members(list: Member[]): void;
  snapshot(payload: unknown): void;
  tick(payload: unknown): void;
  ticks(payload: unknown): void;
  phase(m: PhaseMsg): void;
  roundStart(): void;
  roundEnd(m: RoundEndMsg): void;
  matchEnd(m: MatchEndMsg): void;
  /** The finished match was stored under `matchId` (its replay link). */
  matchSaved(matchId: number): void;
  /** The socket dropped or the room crashed: the client rejoins by itself and a snapshot follows. */
  errored(): void;
  /** The view has to close: the join was refused for good. */
  exit(message: string): void;
}

export class RoomChannel {
  /** What this client is in the room: asked for, then as the join reply says. */
  role: Role;
  private channel!: Channel;
  private presence!: Presence;
  private joinedOnce = false;
  /** Since when rejoins find no room (its node died; another is adopting it). */
  private lostAt: number | null = null;

  constructor(
    private conn: Connection,
    private roomId: string,
    as: Role,
    private password: string | undefined,
    private events: RoomEvents,
  ) {
    this.role = as;
    this.join();
  }

  private join(): void {
    const params: Record<string, unknown> = { as: this.role };
    if (this.password) params.password = this.password;
    const ch = this.conn.socket.channel(`room:${this.roomId}`, params);
    const ev = this.events;
    this.channel = ch;
    this.presence = new Presence(ch);
    this.presence.onSync(() => {
      ev.members(this.presence.list((id: string, { metas }: { metas: RoomMeta[] }) => ({ id, meta: metas[metas.length - 1] ?? {} })));
    });
    ch.on("snapshot", (payload: unknown) => {
      if (ch !== this.channel) return;
      ev.snapshot(payload);
    });
    ch.on("tick", (payload: unknown) => {
      if (ch !== this.channel) return;
      ev.tick(payload);
    });
    ch.on("ticks", (payload: unknown) => {
      if (ch !== this.channel) return;
      ev.ticks(payload);
    });
    ch.on("phase", (m: PhaseMsg) => ev.phase(m));
    ch.on("round_end", (m: RoundEndMsg) => ev.roundEnd(m));
    ch.on("match_end", (m: MatchEndMsg) => ev.matchEnd(m));
    ch.on("match_saved", (m: MatchSaved) => ev.matchSaved(m.match_id));
    ch.on("round_start", () => ev.roundStart());
    ch.onError(() => {
      if (ch === this.channel) ev.errored();
    });
    ch.join()
      .receive("ok", (reply: JoinReply) => {
        if (ch !== this.channel) return;
        this.lostAt = null;
        this.role = reply.you?.role ?? this.role;
        const first = !this.joinedOnce;
        this.joinedOnce = true;
        ev.joined(reply, first);
      })
      .receive("error", (reply: { reason?: string }) => {
        if (ch !== this.channel) return;
        const reason = reply?.reason;
        if (this.joinedOnce && reason === "not_found") {
          // In a cluster the room's node went away and another node adopts the room
          // within seconds: until then rejoins find nothing. The official client's
          // rejoin timer tries again by itself; give up after LOST_ROOM_MS.
          this.lostAt ??= Date.now();
          if (Date.now() - this.lostAt < LOST_ROOM_MS) return;
        }
        ch.leave();
        if (this.role === "player" && (reason === "already_started" || reason === "room_full") && !this.joinedOnce) {
          toast(reasonText(reason));
          this.role = "spectator";
          this.join();
          return;
        }
        ev.exit(reasonText(reason));
      });
  }

  /**
   * Rejoins to get a fresh snapshot (after a missed tick). The channel takes the same
   * path as after a room crash: errored → the client's own rejoin timer sends a new
   * phx_join on this topic, which the server treats as a duplicate join (the old
   * channel is replaced, the seat kept) and answers with a snapshot. An explicit
   * phx_leave would give a player's seat up, so none is sent.
   */
  rejoin(): void {
    (this.channel as unknown as { trigger(event: string, payload: object): void }).trigger("phx_error", {});
  }

  /**
   * A game's input, as that game's rules read it (Curve: `{turn, seq}`); numbered (`seq`)
   * where ticks acknowledge it. No reply comes.
   */
  input(payload: Record<string, unknown>): void {
    this.channel.push("input", payload);
  }

  /**
   * Says whether this player is ready; `settled(ok)` runs once the server answered (a
   * refusal or no answer is shown as a toast).
   */
  ready(want: boolean, settled: (ok: boolean) => void): void {
    this.channel
      .push("ready", { ready: want })
      .receive("ok", () => settled(true))
      .receive("error", (r: { reason?: string }) => {
        settled(false);
        toast(reasonText(r?.reason), "error");
      })
      .receive("timeout", () => {
        settled(false);
        toast("No answer from the server.", "error");
      });
  }

  leave(): void {
    this.channel?.leave();
  }
}
