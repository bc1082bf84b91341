// Wire types every room shares (docs/PROTOCOL.md): seat colours, the join reply, the JSON
// lifecycle events, and how a binary game payload (or its JSON form) becomes a value.
// Each game's own payloads are in `games/<id>/wire.ts`.

import { decode } from "@msgpack/msgpack";

/** A room's phase as lifecycle events name it (`round_over` is Curve's alone). */
export type Phase = "waiting" | "countdown" | "playing" | "round_over" | "finished";

export const SEAT_COLORS = [
  "#ff4136",
  "#2ecc40",
  "#0074d9",
  "#ffdc00",
  "#b10dc9",
  "#ff851b",
  "#7fdbff",
  "#f012be",
];

export function seatColor(seat: number): string {
  return SEAT_COLORS[seat % SEAT_COLORS.length];
}

// --- JSON lifecycle events -------------------------------------------------------

/** How a client is in a room: `phx_join`'s `as`, and the join reply's `you.role`. */
export type Role = "player" | "spectator";

/** The reply to a room's `phx_join` (Rust: `kurve_shared::room::RoomJoined`). */
export interface RoomJoinReply {
  you: { id: string; role: Role; color?: string; seat?: number };
  config: RoomConfig;
}

/**
 * A join reply's `config`: the runtime's fields, beside which each game puts its own
 * (its wire module types them: `games/<id>/wire.ts`). A replay's `config` also has `game`.
 */
export interface RoomConfig {
  /** The game the room runs; absent from servers older than the second game: Curve. */
  game?: string;
  tick_hz: number;
  send_hz: number;
  max_players: number;
  name: string;
  lobby: string;
  room_id: string;
}

/** `match_saved` on a room (Rust: `kurve_shared::room::MatchSaved`). */
export interface MatchSaved {
  match_id: number;
  replay: string;
}

/** A room as a lobby lists it (`room_added`, `room_updated`, `GET /api/rooms`; Rust: `kurve_shared::lobby::RoomSummary`). */
export interface RoomSummary {
  id: string;
  name: string;
  lobby: string;
  /** The game it plays (absent from servers older than the second game: Curve). */
  game?: string;
  phase: "waiting" | "countdown" | "playing" | "finished";
  players: { id: string; name: string }[];
  spectators: number;
  max_players: number;
  private: boolean;
}

/** The reply to `create_room` and `quick_join` (Rust: `kurve_shared::room::RoomCreated`). */
export interface RoomCreated {
  room_id: string;
}

export interface PhaseMsg {
  phase: Phase;
  round: number;
  tick: number;
  ends_at: number | null;
  duration_ticks: number | null;
}

export interface ScoreLine {
  id: string;
  name: string;
  seat: number;
  color: string;
  score: number;
}

export interface RoundEndMsg {
  round: number;
  winner: string | null;
  scores: ScoreLine[];
}

export interface Standing {
  id: string;
  name: string;
  seat: number;
  points: number;
  place: number;
  won: boolean;
  left: boolean;
}

export interface MatchEndMsg {
  standings: Standing[];
  winner: string | null;
  rounds: number;
  duration_ticks: number;
  forfeit: boolean;
}

// --- the tick sequence -----------------------------------------------------------

/**
 * A tick that does not follow the last one applied (a game's state throws it; the room
 * view then asks for a fresh snapshot).
 */
export class OutOfSequence extends Error {
  constructor(
    readonly expected: number,
    readonly got: number,
  ) {
    super(`expected tick ${expected}, got ${got}`);
  }
}

// --- decoding --------------------------------------------------------------------

/**
 * A game payload as a value: binary payloads (WebSocket V2) are MessagePack; over
 * long-poll the same document arrives already as JSON (docs/PROTOCOL.md, "JSON forms").
 */
export function unpack(payload: unknown): unknown {
  if (payload instanceof Uint8Array) return decode(payload);
  if (payload instanceof ArrayBuffer) return decode(new Uint8Array(payload));
  if (ArrayBuffer.isView(payload)) {
    return decode(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength));
  }
  if (payload !== null && typeof payload === "object") return payload;
  throw new Error("expected a game payload");
}

/** A MessagePack integer as a number (a u64 may decode as a bigint). */
export function num(v: unknown): number {
  if (typeof v === "bigint") return Number(v);
  return typeof v === "number" ? v : 0;
}
