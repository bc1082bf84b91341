// HTTP API (CONTRACT §2) and the stored session.

export interface User {
  id: string;
  name: string;
  guest: boolean;
}

export interface Session {
  token: string;
  user: User;
}

export interface LeaderRow {
  name: string;
  wins: number;
  points: number;
  matches: number;
}

/** A game the server hosts (`GET /api/games`, CONTRACT §11). */
export interface GameInfo {
  id: string;
  name: string;
  min_players: number;
  max_players: number;
}

/** A finished match (`GET /api/matches`, CONTRACT §7). */
export interface MatchSummary {
  id: number;
  /** The game played (absent from servers older than the second game: Curve). */
  game?: string;
  room_name: string;
  finished_at: number;
  duration_ms: number;
  rounds: number;
  players: { id: string; name: string; points: number; place: number }[];
  winner: string | null;
}

/** An API failure with a stable code and a message fit to show a person. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const MESSAGES: Record<string, string> = {
  invalid_name: "Names are 1–24 characters: letters, digits, spaces and _ - . only.",
  name_taken: "That name belongs to a registered player. Pick another, or log in.",
  weak_password: "Passwords need at least 8 characters.",
  invalid_credentials: "Wrong name or password.",
  bad_request: "The server could not read that request. Check the fields and try again.",
  rate_limited: "Too many attempts — wait a moment and try again.",
  unauthorized: "Your session is no longer valid. Please sign in again.",
  token_expired: "Your session expired. Please sign in again.",
  payload_too_large: "That is too long.",
  internal: "The server hit a problem. Try again in a moment.",
  network: "Cannot reach the server — check your connection and try again.",
};

/** A friendly message for an error code (falls back to the server's text). */
export function messageFor(code: string, fallback?: string): string {
  return MESSAGES[code] ?? fallback ?? `Something went wrong (${code}).`;
}

async function request<T>(method: string, route: string, body?: unknown, token?: string): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(route, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError("network", messageFor("network"), 0);
  }
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: string; message?: string } } | null)?.error;
    const code = err?.code ?? (res.status === 429 ? "rate_limited" : res.status >= 500 ? "internal" : "bad_request");
    throw new ApiError(code, messageFor(code, err?.message), res.status);
  }
  return json as T;
}

export const api = {
  guest: (name: string) => request<Session>("POST", "/api/guest", { name }),
  register: (name: string, password: string) => request<Session>("POST", "/api/register", { name, password }),
  login: (name: string, password: string) => request<Session>("POST", "/api/login", { name, password }),
  me: (token: string) => request<{ user: User }>("GET", "/api/me", undefined, token),
  leaderboard: () => request<{ players: LeaderRow[] }>("GET", "/api/leaderboard"),
  games: () => request<GameInfo[]>("GET", "/api/games"),
  matches: (limit = 20, player?: string) =>
    request<{ matches: MatchSummary[] }>(
      "GET",
      `/api/matches?limit=${limit}${player ? `&player=${encodeURIComponent(player)}` : ""}`,
    ),
};

const KEY = "kurve.session";

export function loadSession(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    return s && typeof s.token === "string" && s.user ? s : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  try {
    if (s) localStorage.setItem(KEY, JSON.stringify(s));
    else localStorage.removeItem(KEY);
  } catch {
    // Storage may be unavailable (private mode); the session then lasts this page only.
  }
}
