// Curve's payloads of a `room:<id>` topic (docs/PROTOCOL.md) and their MessagePack
// decoding. Positions and radii are integers in wire units (1/pos_scale px); headings
// are u16 binary angles (65536 = one turn, 0 = +x, clockwise on screen).

import { num, unpack, type Phase, type RoomConfig } from "../../wire";

export { SEAT_COLORS, seatColor, type Phase } from "../../wire";

export type ItemKind =
  | "speed_self"
  | "speed_others"
  | "slow_self"
  | "slow_others"
  | "thin_self"
  | "fat_others"
  | "reverse_others"
  | "ghost_self"
  | "wrap_all"
  | "clear_all";

export const ITEM_KINDS: ItemKind[] = [
  "speed_self",
  "speed_others",
  "slow_self",
  "slow_others",
  "thin_self",
  "fat_others",
  "reverse_others",
  "ghost_self",
  "wrap_all",
  "clear_all",
];

/** Draw kind of a head move: still, solid, gap, wrap. */
export const Draw = { Still: 0, Solid: 1, Gap: 2, Wrap: 3 } as const;
export type Draw = (typeof Draw)[keyof typeof Draw];

export const HEADING_TURN = 65536;

export interface ArenaConfig {
  w: number;
  h: number;
  tick_hz: number;
  pos_scale: number;
  item_radius: number;
}

export interface PlayerState {
  seat: number;
  id: string;
  name: string;
  color: string;
  score: number;
  ready: boolean;
  connected: boolean;
  alive: boolean;
  x: number;
  y: number;
  heading: number;
  radius: number;
  gap: boolean;
  pen: boolean;
  /** The head at full precision and the last input `seq` applied (newer servers). */
  exact?: ExactHead;
}

/** A head at full precision: 1/1024 px and a u32 heading (docs/PROTOCOL.md, prediction). */
export interface ExactHead {
  fx: number;
  fy: number;
  hf: number;
  seq?: number | null;
}

export interface Polyline {
  seat: number;
  r: number;
  pts: number[];
}

export interface Item {
  id: number;
  kind: ItemKind;
  x: number;
  y: number;
}

export interface Effect {
  id: number;
  kind: ItemKind;
  by: number;
  targets: number[];
  ends_at: number;
}

export interface Snapshot {
  tick: number;
  phase: Phase;
  round: number;
  phase_ends_at: number | null;
  target: number;
  config: ArenaConfig;
  players: PlayerState[];
  trails: Polyline[];
  items: Item[];
  effects: Effect[];
}

export interface HeadUpdate {
  s: number;
  x: number;
  y: number;
  h: number;
  d: Draw;
  /** The last input `seq` applied to this seat, when it changed (newer servers). */
  a?: number;
}

export interface RoundPlayer {
  seat: number;
  id: string;
  name: string;
  color: string;
  score: number;
  x: number;
  y: number;
  heading: number;
  /** The spawn heading as a u32 binary angle (newer servers). */
  hf?: number;
  radius: number;
  connected: boolean;
}

export interface SeatScore {
  seat: number;
  score: number;
}

export type DeathCause = "wall" | "trail" | "head_on" | "left";

export type TickEvent =
  | { type: "round_start"; round: number; target: number; players: RoundPlayer[] }
  | { type: "phase"; phase: Phase; round: number; ends_at: number | null }
  | { type: "gap"; seat: number; on: boolean }
  | { type: "death"; seat: number; cause: DeathCause; by: number | null }
  | { type: "score"; seat: number; score: number; delta: number }
  | { type: "item_spawn"; item: Item }
  | { type: "item_pickup"; id: number; seat: number }
  | { type: "effect_start"; effect: Effect }
  | { type: "effect_end"; id: number }
  | { type: "radius"; seat: number; r: number }
  | { type: "clear" }
  | { type: "round_end"; round: number; winner: number | null; scores: SeatScore[] }
  | { type: "match_end"; winner: number | null; scores: SeatScore[] }
  | { type: "connection"; seat: number; connected: boolean }
  | { type: "left"; seat: number };

export interface Tick {
  tick: number;
  heads: HeadUpdate[];
  events: TickEvent[];
}

/** The room's motion rules, from the join reply's config. */
export interface Motion {
  speed_px_per_s: number;
  turn_rate_mrad_per_s: number;
}

/** Curve's join reply `config`: the runtime's fields and Curve's own. */
export interface CurveConfig extends RoomConfig {
  arena: { w: number; h: number };
  pos_scale: number;
  item_radius: number;
  motion: Motion;
}

/** Decodes a `snapshot` payload (binary, or its JSON form). */
export function decodeSnapshot(payload: unknown): Snapshot {
  const s = unpack(payload) as Snapshot;
  s.tick = num(s.tick);
  s.phase_ends_at = s.phase_ends_at == null ? null : num(s.phase_ends_at);
  s.players ??= [];
  s.trails ??= [];
  s.items ??= [];
  s.effects ??= [];
  return s;
}

/** Decodes a `tick` payload, binary or JSON (`events` may be omitted on the wire). */
export function decodeTick(payload: unknown): Tick {
  return normalizeTick(unpack(payload) as Tick);
}

/**
 * Decodes a binary `ticks` payload: consecutive ticks in order, sent when the room's
 * send rate (`config.send_hz`) is below its tick rate.
 */
export function decodeTicks(payload: unknown): Tick[] {
  const ts = unpack(payload);
  if (!Array.isArray(ts)) throw new Error("ticks: expected an array");
  return ts.map((t) => normalizeTick(t as Tick));
}

function normalizeTick(t: Tick): Tick {
  t.tick = num(t.tick);
  t.heads ??= [];
  t.events ??= [];
  return t;
}
