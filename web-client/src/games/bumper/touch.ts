// Bumper's touch controls (shown where Curve shows its touch buttons: a coarse pointer,
// a player): a virtual stick and a Dash button. The stick is a drag that starts where the
// thumb lands, on the stick pad or on the left half of the stage (the canvas); the vector
// from that point to the thumb, clamped to length 100 and rounded, is the `move`,
// reported when it changes and [0, 0] when the thumb lifts. The stick math is
// `stickVector`, pure (test/bumper.test.mjs).

import type { Move } from "./keys";

/** The stick's reach: a drag this long (CSS px) or longer is a full move. */
export const STICK_REACH = 100;

/**
 * The `move` vector of a drag from (x0, y0) to (x, y): the difference, scaled so a drag
 * of `reach` is length 100, clamped to length 100, rounded to integers (no -0).
 */
export function stickVector(x0: number, y0: number, x: number, y: number, reach = STICK_REACH): Move {
  let dx = ((x - x0) * 100) / reach;
  let dy = ((y - y0) * 100) / reach;
  const len = Math.hypot(dx, dy);
  if (!Number.isFinite(len)) return [0, 0];
  if (len > 100) {
    dx = (dx * 100) / len;
    dy = (dy * 100) / len;
  }
  // `+ 0` turns a -0 into 0 (the vector is sent as JSON and compared).
  return [Math.round(dx) + 0, Math.round(dy) + 0];
}

export interface BumperTouchHandlers {
  /** The stick's vector changed; `active` is false when the thumb lifted (then it is [0, 0]). */
  move(v: Move, active: boolean): void;
  /** The Dash button went down. */
  dash(): void;
}

/** Listens on `stage` (a drag on its left half), on the `.touch-stick` pad and the `.touch-btn.dash` in `touch`. */
export class BumperTouch {
  /** The vector as last reported. */
  move: Move = [0, 0];
  private pointer: number | null = null;
  private x0 = 0;
  private y0 = 0;
  private knob: HTMLElement | null;
  private stops: (() => void)[] = [];

  constructor(
    private stage: HTMLElement,
    private touch: HTMLElement,
    private on: BumperTouchHandlers,
  ) {
    this.knob = touch.querySelector<HTMLElement>(".stick-knob");
    this.listen(stage, "pointerdown", (ev) => this.down(ev));
    this.listen(stage, "pointermove", (ev) => this.drag(ev));
    this.listen(stage, "pointerup", (ev) => this.up(ev));
    this.listen(stage, "pointercancel", (ev) => this.up(ev));
    this.listen(stage, "lostpointercapture", (ev) => this.up(ev));
    const dash = touch.querySelector<HTMLButtonElement>(".touch-btn.dash");
    if (dash) {
      const set = (v: boolean) => (ev: PointerEvent) => {
        ev.preventDefault();
        dash.classList.toggle("down", v);
        if (v) this.on.dash();
      };
      this.listen(dash, "pointerdown", set(true));
      this.listen(dash, "pointerup", set(false));
      this.listen(dash, "pointercancel", set(false));
      this.listen(dash, "pointerleave", set(false));
      this.listen(dash, "contextmenu", (e) => e.preventDefault());
    }
  }

  destroy(): void {
    for (const s of this.stops) s();
    this.stops = [];
  }

  private listen<K extends "pointerdown" | "pointermove" | "pointerup" | "pointercancel" | "pointerleave" | "lostpointercapture" | "contextmenu">(
    el: HTMLElement,
    type: K,
    fn: (ev: HTMLElementEventMap[K]) => void,
  ): void {
    el.addEventListener(type, fn);
    this.stops.push(() => el.removeEventListener(type, fn));
  }

  /** Whether the touch controls are on show (CSS decides: a coarse pointer, a player). */
  private shown(): boolean {
    return this.touch.isConnected && getComputedStyle(this.touch).display !== "none";
  }

  private down(ev: PointerEvent): void {
    if (this.pointer !== null || ev.pointerType === "mouse" || !this.shown()) return;
    const t = ev.target as HTMLElement | null;
    if (t && t.closest("button, a, input, select, textarea, summary")) return;
    const onPad = !!t && !!t.closest(".touch-stick");
    const r = this.stage.getBoundingClientRect();
    if (!onPad && ev.clientX > r.left + r.width / 2) return;
    ev.preventDefault();
    this.pointer = ev.pointerId;
    this.x0 = ev.clientX;
    this.y0 = ev.clientY;
    try {
      this.stage.setPointerCapture(ev.pointerId);
    } catch {
      // Synthetic events may have no active pointer to capture.
    }
    this.touch.classList.add("sticking");
  }

  private drag(ev: PointerEvent): void {
    if (ev.pointerId !== this.pointer) return;
    ev.preventDefault();
    this.report(stickVector(this.x0, this.y0, ev.clientX, ev.clientY), true);
  }

  private up(ev: PointerEvent): void {
    if (ev.pointerId !== this.pointer) return;
    this.pointer = null;
    this.touch.classList.remove("sticking");
    this.report([0, 0], false);
  }

  private report(v: Move, active: boolean): void {
    if (this.knob) this.knob.style.transform = `translate(${v[0] * 0.4}px, ${v[1] * 0.4}px)`;
    if (v[0] === this.move[0] && v[1] === this.move[1]) return;
    this.move = v;
    this.on.move(v, active);
  }
}
