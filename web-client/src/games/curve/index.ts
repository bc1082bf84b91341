// Curve ("Achtung, die Kurve!"): the game's views as the registry (games/index.ts) lists them.

import type { GameViews } from "../types";
import { CurveReplay } from "./replay";
import { CurveRoom } from "./room";

export const curve: GameViews = {
  id: "curve",
  name: "Curve",
  room: (ctx) => new CurveRoom(ctx),
  replay: () => new CurveReplay(),
};
