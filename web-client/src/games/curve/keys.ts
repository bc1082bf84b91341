// Steering from the keyboard (← → or A D, Space or Enter for ready) and the touch
// buttons: which keys are held becomes one turn, -1, 0 or 1, reported when it changes.

import { inField, listenKeys } from "../../room/keys";

const LEFT_KEYS = new Set(["ArrowLeft", "a", "A"]);
const RIGHT_KEYS = new Set(["ArrowRight", "d", "D"]);

export interface SteeringHandlers {
  /** The turn changed (-1 left, 0 straight, 1 right). */
  turn(turn: number): void;
  /** Space or Enter, outside a form field and a button. */
  ready(): void;
}

export class Steering {
  /** The turn as last reported. */
  turn = 0;
  private keys = { left: false, right: false, tleft: false, tright: false };
  private stop: () => void;

  /** Listens on the window, and on the `.touch-btn` buttons (`data-dir` left or right) in `touch`. */
  constructor(
    touch: HTMLElement,
    private on: SteeringHandlers,
  ) {
    this.stop = listenKeys(
      (ev) => this.onKey(ev),
      () => {
        this.keys = { left: false, right: false, tleft: false, tright: false };
        this.report();
      },
    );
    for (const b of touch.querySelectorAll<HTMLButtonElement>(".touch-btn")) {
      const dir = b.dataset.dir === "left" ? "tleft" : "tright";
      const set = (v: boolean) => (ev: Event) => {
        ev.preventDefault();
        this.keys[dir] = v;
        b.classList.toggle("down", v);
        this.report();
      };
      b.addEventListener("pointerdown", set(true));
      b.addEventListener("pointerup", set(false));
      b.addEventListener("pointercancel", set(false));
      b.addEventListener("pointerleave", set(false));
      b.addEventListener("contextmenu", (e) => e.preventDefault());
    }
  }

  destroy(): void {
    this.stop();
  }

  private onKey(ev: KeyboardEvent): void {
    if (inField(ev.target)) return;
    const t = ev.target as HTMLElement | null;
    const down = ev.type === "keydown";
    if (LEFT_KEYS.has(ev.key)) {
      this.keys.left = down;
      ev.preventDefault();
      this.report();
    } else if (RIGHT_KEYS.has(ev.key)) {
      this.keys.right = down;
      ev.preventDefault();
      this.report();
    } else if (down && (ev.key === " " || ev.key === "Enter") && !ev.repeat) {
      if (t && t.tagName === "BUTTON") return; // the button handles it
      ev.preventDefault();
      this.on.ready();
    }
  }

  private report(): void {
    const left = this.keys.left || this.keys.tleft;
    const right = this.keys.right || this.keys.tright;
    const turn = (right ? 1 : 0) - (left ? 1 : 0);
    if (turn === this.turn) return;
    this.turn = turn;
    this.on.turn(turn);
  }
}
