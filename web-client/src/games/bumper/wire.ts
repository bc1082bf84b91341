// Bumper's payloads of a `room:<id>` topic (docs/design/bumper-wire.md) and their
// decoding: MessagePack maps with named fields, or their JSON form over long-poll.
// Positions are integers in wire units (1/pos_scale px), velocities in wire units per
// second; `tick` numbers are u64 on the wire (a bigint past 2^53 becomes a number).

import { num, unpack, type RoomConfig } from "../../wire";

export type BumperPhase = "waiting" | "countdown" | "playing" | "finished";

/** Bumper's join reply `config` (the runtime's fields and the game's own). */
export interface BumperConfig extends RoomConfig {
  arena: { w: number; h: number };
  /** Disc radius, wire units. */
  disc_r: number;
  /** The floe's radius at the start, and the radius it shrinks to, wire units. */
  floe_r: number;
  floe_final_r: number;
  /** The match clock, ticks. */
  match_ticks: number;
  pos_scale: number;
  /** Points that win the match. */
  target: number;
}

/** The rules' numbers, where a config leaves one out (bumper-wire.md, "Rules"). */
export const BUMPER_DEFAULTS = {
  arena: { w: 1024, h: 768 },
  disc_r: 640,
  floe_r: 11520,
  floe_final_r: 6400,
  match_ticks: 7200,
  pos_scale: 32,
  target: 10,
  tick_hz: 60,
  send_hz: 60,
} as const;

/** How long a dash takes to come back, s (rule 2; not in the config). */
export const DASH_COOLDOWN_S = 1.5;
/** How long a fallen disc waits to respawn, s (rule 5). */
export const RESPAWN_S = 2;
/** The last part of the match in which the floe shrinks, s (rule 7). */
export const SHRINK_S = 30;

/** A config with every field there: the join reply's over the defaults. */
export function bumperConfig(c: Partial<BumperConfig> | null | undefined): BumperConfig {
  const d = BUMPER_DEFAULTS;
  const pick = (v: unknown, dflt: number) => (typeof v === "number" && v > 0 ? v : dflt);
  return {
    game: "bumper",
    max_players: c?.max_players ?? 8,
    name: c?.name ?? "",
    lobby: c?.lobby ?? "",
    room_id: c?.room_id ?? "",
    arena: { w: pick(c?.arena?.w, d.arena.w), h: pick(c?.arena?.h, d.arena.h) },
    disc_r: pick(c?.disc_r, d.disc_r),
    floe_r: pick(c?.floe_r, d.floe_r),
    floe_final_r: pick(c?.floe_final_r, d.floe_final_r),
    match_ticks: pick(c?.match_ticks, d.match_ticks),
    pos_scale: pick(c?.pos_scale, d.pos_scale),
    target: pick(c?.target, d.target),
    tick_hz: pick(c?.tick_hz, d.tick_hz),
    send_hz: pick(c?.send_hz, pick(c?.tick_hz, d.send_hz)),
  };
}

/** A seated player as a snapshot has them. */
export interface SnapshotPlayer {
  seat: number;
  id: string;
  name: string;
  color: string;
  points: number;
  falls: number;
  ready: boolean;
  connected: boolean;
  /** On the floe (not fallen and waiting to respawn). */
  alive: boolean;
  x: number;
  y: number;
  vx: number;
  vy: number;
  /** The tick from which the dash is ready again. */
  dash_ready_at: number;
  /** The tick a fallen disc respawns at. */
  respawn_at: number | null;
  /** The last input `seq` applied. */
  seq: number | null;
}

export interface Snapshot {
  tick: number;
  phase: BumperPhase;
  phase_ends_at: number | null;
  match_ends_at: number | null;
  target: number;
  floe_r: number;
  players: SnapshotPlayer[];
}

/** A disc on the floe in one tick (`d`, seat order). */
export interface DiscUpdate {
  s: number;
  x: number;
  y: number;
  vx: number;
  vy: number;
  /** The last input `seq` applied to this seat. */
  a?: number;
}

/** A player as the match's start seats them. */
export interface StartPlayer {
  seat: number;
  id: string;
  name: string;
  x: number;
  y: number;
}

/** What happened in a tick (`ev`, in order; `e` names the kind). */
export type BumperEvent =
  | { e: "phase"; phase: BumperPhase; ends_at: number | null }
  | { e: "start"; players: StartPlayer[]; match_ends_at: number }
  | { e: "fall"; seat: number; by: number | null }
  | { e: "spawn"; seat: number; x: number; y: number }
  | { e: "dash"; seat: number }
  | { e: "score"; seat: number; points: number; falls: number }
  | { e: "connection"; seat: number; connected: boolean }
  | { e: "seat"; seat: number; id: string; name: string }
  | { e: "left"; seat: number }
  | { e: "ready"; seat: number; ready: boolean };

export interface Tick {
  tick: number;
  /** Every disc on the floe. */
  d: DiscUpdate[];
  /** The floe's radius, when it changed this tick. */
  r: number | null;
  ev: BumperEvent[];
}

const optNum = (v: unknown): number | null => (v == null ? null : num(v));

/** Decodes a `snapshot` payload (binary, or its JSON form). */
export function decodeSnapshot(payload: unknown): Snapshot {
  const s = unpack(payload) as Record<string, unknown>;
  if (typeof s !== "object" || Array.isArray(s) || s.tick === undefined) throw new Error("snapshot: expected a map with a tick");
  const players = Array.isArray(s.players) ? (s.players as Record<string, unknown>[]) : [];
  return {
    tick: num(s.tick),
    phase: (s.phase as BumperPhase) ?? "waiting",
    phase_ends_at: optNum(s.phase_ends_at),
    match_ends_at: optNum(s.match_ends_at),
    target: num(s.target),
    floe_r: num(s.floe_r),
    players: players.map((p) => ({
      seat: num(p.seat),
      id: String(p.id ?? ""),
      name: String(p.name ?? ""),
      color: typeof p.color === "string" ? p.color : "",
      points: num(p.points),
      falls: num(p.falls),
      ready: p.ready === true,
      connected: p.connected !== false,
      alive: p.alive !== false,
      x: num(p.x),
      y: num(p.y),
      vx: num(p.vx),
      vy: num(p.vy),
      dash_ready_at: num(p.dash_ready_at),
      respawn_at: optNum(p.respawn_at),
      seq: optNum(p.seq),
    })),
  };
}

/** Decodes a `tick` payload, binary or JSON (`r` and `ev` may be left out on the wire). */
export function decodeTick(payload: unknown): Tick {
  return normalizeTick(unpack(payload));
}

/**
 * Decodes a `ticks` payload: consecutive ticks in order, sent when the room's send rate
 * (`config.send_hz`) is below its tick rate.
 */
export function decodeTicks(payload: unknown): Tick[] {
  const ts = unpack(payload);
  if (!Array.isArray(ts)) throw new Error("ticks: expected an array");
  return ts.map(normalizeTick);
}

function normalizeTick(v: unknown): Tick {
  const t = v as Record<string, unknown>;
  if (t === null || typeof t !== "object" || Array.isArray(t) || t.tick === undefined) throw new Error("tick: expected a map with a tick");
  const d = Array.isArray(t.d) ? (t.d as Record<string, unknown>[]) : [];
  const ev = Array.isArray(t.ev) ? (t.ev as Record<string, unknown>[]) : [];
  return {
    tick: num(t.tick),
    d: d.map((u) => {
      const out: DiscUpdate = { s: num(u.s), x: num(u.x), y: num(u.y), vx: num(u.vx), vy: num(u.vy) };
      if (u.a != null) out.a = num(u.a);
      return out;
    }),
    r: optNum(t.r),
    ev: ev.map(normalizeEvent),
  };
}

/** An event with its tick numbers as numbers and its optional fields as null. */
function normalizeEvent(e: Record<string, unknown>): BumperEvent {
  switch (e.e) {
    case "phase":
      return { e: "phase", phase: e.phase as BumperPhase, ends_at: optNum(e.ends_at) };
    case "start":
      return {
        e: "start",
        match_ends_at: num(e.match_ends_at),
        players: (Array.isArray(e.players) ? (e.players as Record<string, unknown>[]) : []).map((p) => ({
          seat: num(p.seat),
          id: String(p.id ?? ""),
          name: String(p.name ?? ""),
          x: num(p.x),
          y: num(p.y),
        })),
      };
    case "fall":
      return { e: "fall", seat: num(e.seat), by: optNum(e.by) };
    case "spawn":
      return { e: "spawn", seat: num(e.seat), x: num(e.x), y: num(e.y) };
    case "dash":
      return { e: "dash", seat: num(e.seat) };
    case "score":
      return { e: "score", seat: num(e.seat), points: num(e.points), falls: num(e.falls) };
    case "connection":
      return { e: "connection", seat: num(e.seat), connected: e.connected === true };
    case "seat":
      return { e: "seat", seat: num(e.seat), id: String(e.id ?? ""), name: String(e.name ?? "") };
    case "left":
      return { e: "left", seat: num(e.seat) };
    case "ready":
      return { e: "ready", seat: num(e.seat), ready: e.ready === true };
    default:
      // A kind this client does not know (a newer server): kept as it came, ignored.
      return e as unknown as BumperEvent;
  }
}
