// Bumper's keys: WASD or the arrows held become one of eight `move` vectors (±100 on an
// axis, ±71 on both for a diagonal: length 100), reported when it changes; Space dashes;
// Enter is ready (Space, Curve's ready key, is the dash here).

import { inField, listenKeys } from "../../room/keys";

const UP_KEYS = new Set(["ArrowUp", "w", "W"]);
const DOWN_KEYS = new Set(["ArrowDown", "s", "S"]);
const LEFT_KEYS = new Set(["ArrowLeft", "a", "A"]);
const RIGHT_KEYS = new Set(["ArrowRight", "d", "D"]);

/** A diagonal's component: 100/√2, rounded. */
const DIAGONAL = 71;

export type Move = [number, number];

/** The `move` vector of the held directions (screen axes: +x right, +y down). */
export function moveVector(up: boolean, down: boolean, left: boolean, right: boolean): Move {
  const x = (right ? 1 : 0) - (left ? 1 : 0);
  const y = (down ? 1 : 0) - (up ? 1 : 0);
  const m = x !== 0 && y !== 0 ? DIAGONAL : 100;
  // `+ 0` turns a -0 into 0 (the vector is sent as JSON and compared).
  return [x * m + 0, y * m + 0];
}

export interface BumperKeyHandlers {
  /** The held vector changed. */
  move(v: Move): void;
  /** Space went down. */
  dash(): void;
  /** Enter, outside a form field and a button. */
  ready(): void;
}

export class BumperKeys {
  /** The vector as last reported. */
  move: Move = [0, 0];
  private held = { up: false, down: false, left: false, right: false };
  private stop: () => void;

  /** Listens on the window. */
  constructor(private on: BumperKeyHandlers) {
    this.stop = listenKeys(
      (ev) => this.onKey(ev),
      () => {
        this.held = { up: false, down: false, left: false, right: false };
        this.report();
      },
    );
  }

  destroy(): void {
    this.stop();
  }

  private onKey(ev: KeyboardEvent): void {
    if (inField(ev.target)) return;
    const t = ev.target as HTMLElement | null;
    const down = ev.type === "keydown";
    const dir = UP_KEYS.has(ev.key)
      ? "up"
      : DOWN_KEYS.has(ev.key)
        ? "down"
        : LEFT_KEYS.has(ev.key)
          ? "left"
          : RIGHT_KEYS.has(ev.key)
            ? "right"
            : null;
    if (dir) {
      this.held[dir] = down;
      ev.preventDefault();
      this.report();
    } else if (ev.key === " ") {
      // Never a click of a focused button (the ready button, after a click on it).
      ev.preventDefault();
      if (down && !ev.repeat) this.on.dash();
    } else if (down && ev.key === "Enter" && !ev.repeat) {
      if (t && t.tagName === "BUTTON") return; // the button handles it
      ev.preventDefault();
      this.on.ready();
    }
  }

  private report(): void {
    const h = this.held;
    const v = moveVector(h.up, h.down, h.left, h.right);
    if (v[0] === this.move[0] && v[1] === this.move[1]) return;
    this.move = v;
    this.on.move(v);
  }
}
