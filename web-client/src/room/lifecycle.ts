// A match's course as the room view shows it, from the JSON lifecycle events (`phase`,
// `round_start`, `round_end`, `match_end`, `match_saved`): this client's ready flag, the
// round-over banner, the final standings and the stored match's id. Plain state: the
// view reads it each frame; every change returns nothing and the caller redraws.

import type { MatchEndMsg, PhaseMsg, RoundEndMsg } from "../wire";

/** How long a round's result shows over the arena, ms. */
const BANNER_MS = 4000;

/** A line over the arena for a while (`until`, a `performance.now()` time). */
export interface Banner {
  text: string;
  color?: string;
  until: number;
  sub?: string;
}

export class Lifecycle {
  /** Whether this client said it is ready (waiting phase only). */
  ready = false;
  banner: Banner | null = null;
  /** The last match's standings, shown until the next countdown or round. */
  standings: MatchEndMsg | null = null;
  /** The id under which the last match was stored (`match_saved`), for its replay link. */
  savedMatch: number | null = null;

  phase(m: PhaseMsg): void {
    if (m.phase === "waiting") {
      this.ready = false;
      this.banner = null;
    }
    if (m.phase === "countdown") this.standings = null;
  }

  roundStart(): void {
    this.banner = null;
    this.standings = null;
  }

  roundEnd(m: RoundEndMsg, now: number): void {
    const w = m.winner ? m.scores.find((s) => s.id === m.winner) : undefined;
    this.banner = w
      ? { text: `${w.name} wins round ${m.round}`, color: w.color, until: now + BANNER_MS }
      : { text: `Round ${m.round}: nobody survived`, until: now + BANNER_MS };
  }

  matchEnd(m: MatchEndMsg): void {
    this.standings = m;
    this.savedMatch = null;
    this.banner = null;
  }

  matchSaved(matchId: number): void {
    this.savedMatch = matchId;
  }

  /** A tick took the room back to waiting: every ready flag was reset. */
  backToWaiting(): void {
    this.ready = false;
  }

  /** Drops the banner once its time is up; whether it did. */
  expire(now: number): boolean {
    if (this.banner && now > this.banner.until) {
      this.banner = null;
      return true;
    }
    return false;
  }
}
