// Bumper: discs on a shrinking ice floe push each other into the water
// (docs/design/bumper-wire.md). The game's views as the registry (games/index.ts) lists them.

import type { GameViews } from "../types";
import { BumperReplay } from "./replay";
import { BumperRoom } from "./room";

export const bumper: GameViews = {
  id: "bumper",
  name: "Bumper",
  room: (ctx) => new BumperRoom(ctx),
  replay: (config) => new BumperReplay(config),
};
