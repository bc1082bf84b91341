// The games this client can show, by id: the room page and the replay page pick a view
// here from the join reply's `config.game`. A room of a server older than the second
// game names none, and runs Curve.
//
// Invariant: the pages import this module and `types.ts`, never a game's folder; a game
// imports neither the pages nor another game.

import { bumper } from "./bumper";
import { curve } from "./curve";
import type { GameViews } from "./types";

export type { GameViews } from "./types";

/** The game of a room whose config names none. */
export const DEFAULT_GAME = "curve";

const GAMES: ReadonlyMap<string, GameViews> = new Map([curve, bumper].map((g) => [g.id, g]));

/** The game a join reply's config names (absent: Curve). */
export function gameOf(config: { game?: unknown } | null | undefined): string {
  const g = config?.game;
  return typeof g === "string" && g !== "" ? g : DEFAULT_GAME;
}

/** The views of the game `config` names; null for a game this client does not know. */
export function viewsFor(config: { game?: unknown } | null | undefined): GameViews | null {
  return GAMES.get(gameOf(config)) ?? null;
}

/** The ids of the games this client can show, Curve first. */
export function knownGames(): string[] {
  return [...GAMES.keys()];
}
