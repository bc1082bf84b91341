// The one Phoenix socket of a page (the game's, signed in with a user's token; the
// operator page's, with the operator token), and its visible connection state.

import { LongPoll, Socket, type SocketConnectOption } from "phoenix";
import { api, ApiError } from "./api";

export type ConnState = "connecting" | "connected" | "reconnecting";

/** How the socket reaches the server. */
export type Transport = "websocket" | "longpoll";

/** How long a WebSocket may try before the client falls back to long-poll. */
const LONG_POLL_FALLBACK_MS = 2500;

/** `/?transport=longpoll` forces long-poll (where WebSockets are known to be blocked). */
function forcedLongPoll(): boolean {
  return new URLSearchParams(location.search).get("transport") === "longpoll";
}

/** The socket's retry timing: how long before each reconnect and each channel rejoin. */
export type Retry = Partial<Pick<SocketConnectOption, "reconnectAfterMs" | "rejoinAfterMs">>;

/** The game's: back off 0.5 s, 1 s, 2 s … up to 5 s; the client retries forever. */
const GAME_RETRY: Retry = {
  reconnectAfterMs: (tries: number) => [500, 1000, 2000, 3000][tries - 1] ?? 5000,
  rejoinAfterMs: (tries: number) => [300, 1000, 2000][tries - 1] ?? 4000,
};

export interface ConnectionOptions {
  /**
   * Runs when the server no longer accepts the token: after a socket error, /api/me is
   * asked whether the token died. Without it nothing is asked (the operator's token is
   * no user's, so /api/me knows nothing of it).
   */
  onAuthLost?: () => void;
  /** The retry timing; the game's when absent (an option left out is the official client's default). */
  retry?: Retry;
  /** Whether the socket may go over long-poll (fallback, or `?transport=longpoll`); yes when absent. */
  longPoll?: boolean;
}

export class Connection {
  readonly socket: Socket;
  state: ConnState = "connecting";
  private listeners = new Set<(s: ConnState) => void>();
  private openedOnce = false;
  private checkingAuth = false;
  private closed = false;
  private onAuthLost: (() => void) | null;

  /** Connects at once to `/socket` with `token` as its `token` param. */
  constructor(
    private token: string,
    { onAuthLost, retry = GAME_RETRY, longPoll = true }: ConnectionOptions = {},
  ) {
    this.onAuthLost = onAuthLost ?? null;
    this.socket = new Socket("/socket", {
      params: { token },
      // A browser whose WebSocket fails before it first opens (a proxy, a captive
      // portal) plays over long-poll; the choice is remembered for the tab.
      ...(!longPoll ? {} : forcedLongPoll() ? { transport: LongPoll } : { longPollFallbackMs: LONG_POLL_FALLBACK_MS }),
      ...retry,
    });
    this.socket.onOpen(() => {
      this.openedOnce = true;
      this.set("connected");
    });
    this.socket.onError(() => {
      this.set(this.openedOnce ? "reconnecting" : "connecting");
      void this.checkAuth();
    });
    this.socket.onClose(() => {
      if (!this.closed) this.set(this.openedOnce ? "reconnecting" : "connecting");
    });
    this.socket.connect();
  }

  /** The transport in use now (after any fallback). */
  transport(): Transport {
    return (this.socket as unknown as { transport: unknown }).transport === LongPoll ? "longpoll" : "websocket";
  }

  onChange(fn: (s: ConnState) => void): () => void {
    this.listeners.add(fn);
    fn(this.state);
    return () => this.listeners.delete(fn);
  }

  private set(s: ConnState): void {
    if (this.state === s) return;
    this.state = s;
    for (const fn of this.listeners) fn(s);
  }

  /** A refused upgrade (403) looks like any socket error: ask /api/me whether the token died. */
  private async checkAuth(): Promise<void> {
    if (!this.onAuthLost || this.checkingAuth || this.closed) return;
    this.checkingAuth = true;
    try {
      await api.me(this.token);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403) && !this.closed) {
        this.close();
        this.onAuthLost?.();
      }
    } finally {
      // Check at most every few seconds while the socket keeps failing.
      setTimeout(() => (this.checkingAuth = false), 4000);
    }
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
    this.socket.disconnect();
  }
}
