// The parts of a room page every game's view shows alike: the arena canvas, the head of
// the side card (back to the lobby, the room code), the round-trip line, the other rooms
// with a "watch" button each, and the match results over the arena. Pure DOM builders:
// the room page (page.ts) places them, and a replay its canvas.

import { dot, h, replace, toast } from "../dom";
import { PHASE_LABEL } from "../labels";
import type { MatchEndMsg, RoomSummary } from "../wire";

/** How long the "resynced" notice shows, ms. */
export const RESYNC_NOTICE_MS = 2500;
/** Other rooms listed beside the arena. */
const OTHER_ROOMS_SHOWN = 8;

/** The round-trip line. */
export interface NetState {
  rttMs: number | null;
  /** Whether the own head is predicted (false: `?predict=0`, or a game that predicts nothing). */
  predicting: boolean;
  /** When the last snapshot replaced the arena (`performance.now()`). */
  resyncedAt: number;
}

/** The arena canvas (`#arena`), 4:3 until the renderer sizes it to the game's arena. */
export function arenaCanvas(label: string): HTMLCanvasElement {
  return h("canvas", { class: "arena", id: "arena", width: 1024, height: 768, "aria-label": label });
}

/** The side card's head: `#leave-btn` back to the lobby and `#copy-code` with the room code. */
export function roomHead(roomId: string, leave: () => void): HTMLElement {
  const back = h("button", { class: "btn ghost", id: "leave-btn" }, "← Lobby");
  back.addEventListener("click", () => leave());
  const copy = h("button", { class: "btn small ghost", id: "copy-code", title: "Copy the room code" }, `Code ${roomId}`);
  copy.addEventListener("click", () => {
    void navigator.clipboard?.writeText(roomId).then(
      () => toast("Room code copied"),
      () => toast(`Room code: ${roomId}`),
    );
  });
  return h("div", { class: "room-head" }, back, copy);
}

/** Writes the round trip (and a "resynced" notice for a while after a snapshot) into `el`. */
export function showNet(el: HTMLElement, n: NetState, now: number, predictionNotice = true): void {
  const rtt = n.rttMs === null ? "…" : `${Math.round(n.rttMs)} ms`;
  const parts = [`round trip ${rtt}`];
  if (!n.predicting && predictionNotice) parts.push("prediction off");
  const resynced = now - n.resyncedAt < RESYNC_NOTICE_MS;
  if (resynced) parts.push("resynced");
  const text = parts.join(" · ");
  if (el.textContent !== text) el.textContent = text;
  el.classList.toggle("resynced", resynced);
}

/** The lobby's other rooms in `el`, each with a button to watch it. */
export function renderOtherRooms(el: HTMLElement, rooms: RoomSummary[], watch: (roomId: string) => void): void {
  if (rooms.length === 0) {
    replace(el, h("li", { class: "empty" }, "No other rooms right now."));
    return;
  }
  replace(
    el,
    ...rooms.slice(0, OTHER_ROOMS_SHOWN).map((r) => {
      const btn = h("button", { class: "btn small ghost", "data-action": "watch", "data-room-id": r.id }, "Watch");
      btn.addEventListener("click", () => watch(r.id));
      return h(
        "li",
        {},
        h("span", { class: "rname" }, r.name || r.id),
        h("span", { class: `badge phase ${r.phase}` }, PHASE_LABEL[r.phase] ?? r.phase),
        h("span", { class: "rmeta" }, `${r.players.length}/${r.max_players}`),
        btn,
      );
    }),
  );
}

/**
 * The match-end panel (`#match-results`): the winner (or a draw), the standings in seat
 * colours, the replay link once the match is stored (`#match-replay`).
 */
export function resultsPanel(
  st: MatchEndMsg,
  kicker: string,
  colorOf: (id: string, seat: number) => string,
  savedMatch: number | null,
): HTMLElement {
  const winner = st.standings.find((x) => x.won);
  const title = h("h2", { class: "winner" }, winner ? `${winner.name} wins!` : "Draw");
  if (winner) title.style.color = colorOf(winner.id, winner.seat);
  return h(
    "div",
    { class: "panel results", id: "match-results" },
    h("p", { class: "kicker" }, kicker),
    title,
    h(
      "ol",
      { class: "standings" },
      ...st.standings.map((x) =>
        h(
          "li",
          { class: x.won ? "won" : "" },
          h("span", { class: "place" }, `${x.place}.`),
          dot(colorOf(x.id, x.seat)),
          h("span", { class: "pname" }, x.name, x.left ? " (left)" : ""),
          h("span", { class: "score" }, `${x.points}`),
        ),
      ),
    ),
    savedMatch !== null ? h("a", { class: "btn small", id: "match-replay", href: `#/replay/${savedMatch}` }, "Watch replay") : null,
    h("p", { class: "hint" }, "Back to the waiting room in a moment…"),
  );
}
