// Sign-in screen: play as a guest, log in, or register.

import { api, ApiError, messageFor, type Session } from "./api";
import { h } from "./dom";

type Mode = "guest" | "login" | "register";

const LAST_NAME = "kurve.lastName";

export function signInView(onSignedIn: (s: Session) => void, notice?: string): HTMLElement {
  let mode: Mode = "guest";
  const lastName = (() => {
    try {
      return localStorage.getItem(LAST_NAME) ?? "";
    } catch {
      return "";
    }
  })();

  const name = h("input", {
    id: "signin-name",
    name: "name",
    type: "text",
    autocomplete: "username",
    maxlength: 24,
    placeholder: "Your name",
    required: true,
    value: lastName,
  });
  const password = h("input", {
    id: "signin-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    placeholder: "Password (8+ characters)",
  });
  const pwRow = h("label", { class: "field" }, h("span", {}, "Password"), password);
  const error = h("p", { class: "form-error", id: "signin-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn primary big", id: "signin-submit" }, "Play as guest");
  const hint = h("p", { class: "hint" });

  const tabs: Record<Mode, HTMLButtonElement> = {
    guest: h("button", { type: "button", class: "tab", "data-mode": "guest" }, "Guest"),
    login: h("button", { type: "button", class: "tab", "data-mode": "login" }, "Log in"),
    register: h("button", { type: "button", class: "tab", "data-mode": "register" }, "Register"),
  };

  const setMode = (m: Mode) => {
    mode = m;
    for (const [k, b] of Object.entries(tabs)) b.classList.toggle("active", k === m);
    pwRow.hidden = m === "guest";
    password.required = m !== "guest";
    password.autocomplete = m === "register" ? "new-password" : "current-password";
    submit.textContent = m === "guest" ? "Play as guest" : m === "login" ? "Log in" : "Create account";
    hint.textContent =
      m === "guest"
        ? "No account needed. Guests play right away; register to keep your name and stats."
        : m === "login"
          ? "Welcome back. Your wins and points are on the leaderboard."
          : "Pick a name (letters, digits, spaces, _ - .) and a password of 8+ characters.";
    error.textContent = "";
  };
  for (const [k, b] of Object.entries(tabs)) b.addEventListener("click", () => setMode(k as Mode));

  const form = h(
    "form",
    { class: "signin-form", id: "signin-form", novalidate: true },
    h("div", { class: "tabs", role: "tablist" }, tabs.guest, tabs.login, tabs.register),
    h("label", { class: "field" }, h("span", {}, "Name"), name),
    pwRow,
    error,
    submit,
    hint,
  );

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const n = name.value.trim();
    if (!n) {
      error.textContent = messageFor("invalid_name");
      name.focus();
      return;
    }
    if (mode !== "guest" && password.value.length < 8 && mode === "register") {
      error.textContent = messageFor("weak_password");
      password.focus();
      return;
    }
    error.textContent = "";
    submit.disabled = true;
    submit.classList.add("busy");
    try {
      const s =
        mode === "guest"
          ? await api.guest(n)
          : mode === "login"
            ? await api.login(n, password.value)
            : await api.register(n, password.value);
      try {
        localStorage.setItem(LAST_NAME, n);
      } catch {
        /* ignore */
      }
      onSignedIn(s);
    } catch (e) {
      const code = e instanceof ApiError ? e.code : "network";
      error.textContent = e instanceof ApiError ? e.message : messageFor("network");
      error.dataset.code = code;
      (code === "weak_password" || code === "invalid_credentials" ? password : name).focus();
    } finally {
      submit.disabled = false;
      submit.classList.remove("busy");
    }
  });

  setMode("guest");
  if (notice) error.textContent = notice;

  const el = h(
    "section",
    { class: "signin view", id: "view-signin" },
    h(
      "div",
      { class: "signin-hero" },
      h("canvas", { class: "hero-canvas", width: 520, height: 300, "aria-hidden": "true" }),
      h("h1", { class: "title" }, "kurve"),
      h("p", { class: "tagline" }, "Steer your line. Cut them off. Be the last one drawing."),
      h(
        "ul",
        { class: "howto" },
        h("li", {}, h("kbd", {}, "←"), h("kbd", {}, "→"), " or ", h("kbd", {}, "A"), h("kbd", {}, "D"), " to steer"),
        h("li", {}, "Touch a wall, a trail or a head and you are out"),
        h("li", {}, "Everyone still alive scores when someone crashes"),
      ),
    ),
    h("div", { class: "card signin-card" }, form),
  );
  queueMicrotask(() => name.focus());
  const hero = el.querySelector("canvas") as HTMLCanvasElement;
  drawHero(hero);
  return el;
}

/** A decorative neon scribble of a few curves with gaps (deterministic). */
function drawHero(cv: HTMLCanvasElement): void {
  const c = cv.getContext("2d");
  if (!c) return;
  const colors = ["#ff4136", "#2ecc40", "#0074d9", "#ffdc00", "#f012be"];
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  c.lineCap = "round";
  c.lineJoin = "round";
  colors.forEach((col, i) => {
    let x = 60 + rnd() * 400;
    let y = 50 + rnd() * 200;
    let a = rnd() * Math.PI * 2;
    let turn = 0;
    c.strokeStyle = col;
    c.shadowColor = col;
    c.shadowBlur = 12;
    c.lineWidth = 5;
    let drawing = true;
    let run = 40 + rnd() * 40;
    c.beginPath();
    c.moveTo(x, y);
    for (let s = 0; s < 220; s++) {
      if (s % 25 === 0) turn = (rnd() - 0.5) * 0.16;
      // Steer away from the edges.
      const cx = 260 - x;
      const cy = 150 - y;
      const want = Math.atan2(cy, cx);
      const diff = Math.atan2(Math.sin(want - a), Math.cos(want - a));
      if (x < 40 || x > 480 || y < 30 || y > 270) a += Math.sign(diff) * 0.12;
      else a += turn;
      x += Math.cos(a) * 2;
      y += Math.sin(a) * 2;
      run -= 1;
      if (run <= 0) {
        if (drawing) c.stroke();
        drawing = !drawing;
        run = drawing ? 40 + rnd() * 50 : 6;
        c.beginPath();
        c.moveTo(x, y);
      } else if (drawing) c.lineTo(x, y);
      else c.moveTo(x, y);
    }
    if (drawing) c.stroke();
    c.shadowBlur = 18;
    c.fillStyle = "#fff";
    c.beginPath();
    c.arc(x, y, 4 + (i % 2), 0, Math.PI * 2);
    c.fill();
  });
}
