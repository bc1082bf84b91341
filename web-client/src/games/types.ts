// What a game's views implement, and what the pages give them. The room page
// (room/index.ts) and the replay page (replay.ts) own the channel and the page's frame;
// the game, picked by the join reply's `config.game` (games/index.ts), decodes its own
// payloads, keeps its state, draws it and reads its keys.
//
// Invariant: nothing here names a game; a game imports this module, never the pages.

import type { JoinReply, Member, Role, RoomChannel } from "../room/channel";
import type { MatchEndMsg, PhaseMsg, RoomConfig, RoomSummary, RoundEndMsg } from "../wire";

/** A game's views, as the pages make them. */
export interface GameViews {
  /** The id the server names the game by (`config.game`, `GET /api/games`). */
  readonly id: string;
  /** Its name for people, where the server's list is not at hand. */
  readonly name: string;
  /** The view of one room, made once the join reply named the game. */
  room(ctx: RoomContext): RoomGameView;
  /** The drawing of one replay, from the replay's join reply `config`. */
  replay(config: RoomConfig): ReplayGameView;
}

/** What the room page gives a game's room view. */
export interface RoomContext {
  readonly roomId: string;
  /** The room's name as the lobby lists it (the join reply's is newer). */
  readonly roomName: string;
  /** This client's user id. */
  readonly myId: string;
  /** The room's channel: `role`, `input`, `ready`, `rejoin`. */
  readonly channel: RoomChannel;
  /** Back to the lobby. */
  leave(): void;
  /** Watch another room. */
  watch(roomId: string): void;
  /** A match ended: the lobby's leaderboard has news. */
  matchEnded(): void;
}

/**
 * A game's view of one room: its page (`el`, shown in place of the room page's
 * placeholder once the join reply named the game) and everything the channel brings.
 * `room/gameroom.ts` implements what every game does alike; a game's view extends it.
 */
export interface RoomGameView {
  readonly el: HTMLElement;
  /** A join (the first, or a rejoin) was accepted; a `snapshot` follows. */
  joined(reply: JoinReply, first: boolean): void;
  members(list: Member[]): void;
  snapshot(payload: unknown): void;
  tick(payload: unknown): void;
  ticks(payload: unknown): void;
  phase(m: PhaseMsg): void;
  /** Curve's round events; other games have none. */
  roundStart?(): void;
  roundEnd?(m: RoundEndMsg): void;
  matchEnd(m: MatchEndMsg): void;
  matchSaved(matchId: number): void;
  /** The socket dropped or the room crashed: a snapshot follows the rejoin. */
  errored(): void;
  /** A round trip measured on the socket, ms. */
  rtt(ms: number): void;
  /** The lobby's other rooms (for "watch" links beside the arena). */
  otherRooms(rooms: RoomSummary[]): void;
  destroy(): void;
  /** `window.__kurve.room`: read-only state for tests. */
  debug(): object;
  /** `window.kurve.debug()` (CONTRACT §10). */
  netDebug(): object;
  /** `window.kurve.bench()`, where the game measures its key presses. */
  netBench?(): object;
  /** Per-tick fingerprints, where the game keeps them (`window.__kurve.recordFingerprints()`). */
  fingerprints?: Map<number, string> | null;
}

/** A recorded player as the replay page lists them. */
export interface ReplaySeat {
  id: string;
  color: string;
}

/**
 * A game's drawing of a replay (`replay:<match_id>`): the page owns the channel, the
 * controls and the standings; the game decodes and draws the snapshots and ticks.
 */
export interface ReplayGameView {
  /** The arena canvas (`#arena`). */
  readonly canvas: HTMLCanvasElement;
  /** The tick the drawing is at (null before the first snapshot). */
  readonly at: number | null;
  /** Frames drawn (tests read it to know the canvas is live). */
  readonly frames: number;
  /** Curve's round (null for games without rounds). */
  readonly round: number | null;
  /** A snapshot (the first, or a seek's). */
  snapshot(payload: unknown): void;
  /** A tick; whether it moved the drawing on (one a seek's snapshot covered does not). */
  tick(payload: unknown): boolean;
  /** The players the drawing has seated now, with their seat colours. */
  seats(): ReplaySeat[];
  destroy(): void;
}

/** Role, re-exported for the games. */
export type { Role };
