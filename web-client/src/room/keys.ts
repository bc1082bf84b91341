// The keyboard as every game's room view listens to it: keys on the window, all let go
// when the window loses focus, none while the user types in a field.

/**
 * Hands every keydown and keyup on the window to `onKey`, and calls `release` when the
 * window loses focus (keys released meanwhile send no keyup). Returns what stops it.
 */
export function listenKeys(onKey: (ev: KeyboardEvent) => void, release: () => void): () => void {
  window.addEventListener("keydown", onKey);
  window.addEventListener("keyup", onKey);
  window.addEventListener("blur", release);
  return () => {
    window.removeEventListener("keydown", onKey);
    window.removeEventListener("keyup", onKey);
    window.removeEventListener("blur", release);
  };
}

/** Whether a key event's target is a form field (its keys are the user's typing, not the game's). */
export function inField(target: EventTarget | null): boolean {
  const t = target as HTMLElement | null;
  return !!t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
}
