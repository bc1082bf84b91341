// The whole game in real browsers: presence, a room, ready, a live arena, steering,
// a spectator who reconstructs the same state, a room crash and a reload.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import {
  startServer,
  launchBrowser,
  openPage,
  signInGuest,
  waitView,
  kurve,
  eventually,
  canvasSample,
  ensureScreenshotsDir,
} from "./harness.js";

let server;
let browser;
const pages = [];

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  for (const p of pages) await p.context.close().catch(() => {});
  await browser?.close();
  await server?.stop();
});

/** Waits `ms`: only to pace key presses (how long a key is held is what steers). */
const hold = (ms) => new Promise((r) => setTimeout(r, ms));

async function onlineIds(page) {
  return page.$$eval("#online-list [data-user-id]", (els) => els.map((e) => e.dataset.userId));
}

async function room(page) {
  return kurve(page, "room");
}

/** Scores as the page shows them, by user id. */
async function shownScores(page) {
  return page.$$eval("#score-list [data-user-id]", (els) =>
    Object.fromEntries(els.map((e) => [e.dataset.userId, Number(e.dataset.score)])),
  );
}

test("two players and a spectator play a match in the browser", async () => {
  const shots = ensureScreenshotsDir();
  const a = await openPage(browser, server.http, { name: "alice" });
  const b = await openPage(browser, server.http, { name: "bob" });
  pages.push(a, b);
  await signInGuest(a.page, "Alice");
  await signInGuest(b.page, "Bob");
  const alice = await kurve(a.page, "user");
  const bob = await kurve(b.page, "user");

  // --- presence: both see both, one row per user even with a second tab -------------
  for (const p of [a.page, b.page]) {
    await eventually(async () => {
      const ids = await onlineIds(p);
      return ids.includes(alice.id) && ids.includes(bob.id);
    }, 10000, "both users in presence");
  }
  const aliceTab2 = await a.context.newPage();
  await aliceTab2.goto(server.http + "/");
  await waitView(aliceTab2, "lobby");
  await eventually(async () => {
    const online = await kurve(b.page, "online");
    const row = online.find((u) => u.id === alice.id);
    return row && row.tabs === 2;
  }, 10000, "Alice's second tab in presence");
  assert.equal((await onlineIds(b.page)).filter((id) => id === alice.id).length, 1, "one row per user");
  await aliceTab2.close();

  // --- chat renders text, never markup -----------------------------------------------
  await a.page.fill("#chat-input", "gl hf <img src=x onerror=alert(1)>");
  await a.page.press("#chat-input", "Enter");
  await eventually(
    async () => (await b.page.textContent("#chat-log")).includes("gl hf <img src=x onerror=alert(1)>"),
    5000,
    "the chat line on Bob's page",
  );
  assert.equal(await b.page.$("#chat-log img"), null, "chat text is not parsed as HTML");

  // --- Alice creates a room; Bob sees it live and joins ----------------------------
  await a.page.fill("#create-name", "Neon Arena");
  await a.page.selectOption("#create-max", "4");
  await a.page.click("#create-submit");
  await a.page.waitForFunction(() => window.__kurve.view === "room" && window.__kurve.room?.snapshots > 0, null, {
    timeout: 10000,
  });
  const roomA = await room(a.page);
  assert.equal(roomA.role, "player");
  assert.equal(roomA.phase, "waiting");
  const roomId = roomA.id;
  assert.match(a.page.url(), new RegExp(`#/room/${roomId}$`));

  await b.page.waitForSelector(`#room-list [data-room-id="${roomId}"] [data-action=join]:not([disabled])`, {
    timeout: 10000,
  });
  assert.match(await b.page.textContent(`#room-list [data-room-id="${roomId}"]`), /Neon Arena/);
  await eventually(async () => {
    const online = await kurve(b.page, "online");
    const row = online.find((u) => u.id === alice.id);
    return row?.status === "playing" && row.roomId === roomId;
  }, 10000, "Alice shown as playing in Bob's lobby");
  await b.page.click(`#room-list [data-room-id="${roomId}"] [data-action=join]`);
  await b.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  assert.equal((await room(b.page)).role, "player");
  await eventually(async () => Object.keys(await shownScores(a.page)).length === 2, 10000, "two players listed");

  // --- ready: countdown, steering rotates the head in place -------------------------
  await a.page.click("#ready-btn");
  await b.page.keyboard.press("Space");
  await a.page.waitForFunction(() => window.__kurve.room.phase === "countdown", null, { timeout: 10000 });
  const before = await room(a.page);
  const meBefore = before.players.find((p) => p.id === alice.id);
  assert.ok(meBefore, "Alice has a head");
  await a.page.keyboard.down("ArrowLeft");
  assert.equal((await room(a.page)).turn, -1);
  await eventually(async () => {
    const r = await room(a.page);
    const me = r.players.find((p) => p.id === alice.id);
    return r.phase === "countdown" && me.heading !== meBefore.heading && me.x === meBefore.x && me.y === meBefore.y;
  }, 4000, "Alice's heading to change during the countdown");
  await a.page.keyboard.up("ArrowLeft");
  assert.equal((await room(a.page)).turn, 0);

  // --- playing: ticks redraw the canvas -------------------------------------------
  await a.page.waitForFunction(() => window.__kurve.room.phase === "playing", null, { timeout: 10000 });
  const s1 = await canvasSample(a.page);
  // Half a second of ticks applied: a frame applies them and draws in one callback, so
  // the canvas read after has drawn them.
  const t1 = (await room(a.page)).tick;
  await a.page.waitForFunction((t) => window.__kurve.room.tick >= t + 30, t1, { timeout: 10000 });
  const s2 = await canvasSample(a.page);
  assert.ok(s1 && s2, "canvas readable");
  assert.notEqual(s1.hash, s2.hash, "the arena redraws as ticks arrive");
  const r1 = await room(a.page);
  assert.ok(r1.tick > before.tick, "ticks advance");
  assert.ok(r1.trails >= 1, "trails are drawn");

  // A little steering so the screenshot shows curves (the holds are the steering).
  await b.page.keyboard.down("d");
  await a.page.keyboard.down("a");
  await hold(700);
  await b.page.keyboard.up("d");
  await a.page.keyboard.up("a");
  await hold(900);
  await a.page.keyboard.down("ArrowRight");
  await hold(500);
  await a.page.keyboard.up("ArrowRight");

  // --- a spectator: lobby screenshot, then watch ---------------------------------
  const c = await openPage(browser, server.http, { name: "carol" });
  pages.push(c);
  await signInGuest(c.page, "Carol");
  await c.page.waitForSelector(`#room-list [data-room-id="${roomId}"] [data-action=watch]`, { timeout: 10000 });
  await eventually(async () => (await onlineIds(c.page)).length === 3, 10000, "three users online");
  await c.page.fill("#chat-input", "good luck both!");
  await c.page.press("#chat-input", "Enter");
  await eventually(async () => (await c.page.textContent("#chat-log")).includes("good luck both!"), 5000, "chat echo");
  await c.page.screenshot({ path: path.join(shots, "lobby.png") });

  await c.page.click(`#room-list [data-room-id="${roomId}"] [data-action=watch]`);
  await c.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  assert.equal((await room(c.page)).role, "spectator");
  assert.equal(await c.page.$("#ready-btn:not([hidden])"), null, "no ready button for spectators");

  // Same reconstructed arena, tick for tick.
  await a.page.evaluate(() => window.__kurve.recordFingerprints());
  await c.page.evaluate(() => window.__kurve.recordFingerprints());
  await eventually(async () => {
    const ta = await a.page.evaluate(() => window.__kurve.fingerprintTicks());
    const tc = new Set(await c.page.evaluate(() => window.__kurve.fingerprintTicks()));
    const common = ta.filter((t) => tc.has(t));
    if (common.length < 30) return false;
    for (const t of common.slice(-30)) {
      const fa = await a.page.evaluate((x) => window.__kurve.fingerprintAt(x), t);
      const fc = await c.page.evaluate((x) => window.__kurve.fingerprintAt(x), t);
      assert.equal(fc, fa, `spectator and player agree at tick ${t}`);
    }
    return true;
  }, 20000, "30 common ticks");

  // Someone crashes eventually (heads fly straight into a wall); scores agree everywhere.
  await eventually(async () => {
    const r = await room(a.page);
    return r.players.some((p) => p.score > 0);
  }, 60000, "a first point");
  await eventually(async () => {
    const [sa, sb, sc] = await Promise.all([shownScores(a.page), shownScores(b.page), shownScores(c.page)]);
    const ja = JSON.stringify(sa);
    return Object.values(sa).some((v) => v > 0) && ja === JSON.stringify(sb) && ja === JSON.stringify(sc);
  }, 10000, "the same scores on both players' and the spectator's page");

  // --- a running match screenshot: both players weave, items appear --------------
  let shot = false;
  for (let attempt = 0; attempt < 4 && !shot; attempt++) {
    await a.page.waitForFunction(() => window.__kurve.room.phase === "playing", null, { timeout: 30000 });
    await Promise.all([weave(a.page, 4200, 480, "ArrowLeft", "ArrowRight"), weave(b.page, 4200, 620, "d", "a")]);
    const r = await room(a.page);
    if (r.phase === "playing" && r.players.every((p) => p.alive) && (r.items.length > 0 || attempt >= 2)) {
      await a.page.screenshot({ path: path.join(shots, "match.png") });
      shot = true;
    } else {
      await a.page.waitForFunction(() => window.__kurve.room.phase !== "playing", null, { timeout: 30000 });
    }
  }
  if (!shot) await a.page.screenshot({ path: path.join(shots, "match.png") });

  // --- the room crashes: every client rejoins and resets from a fresh snapshot ------
  const snapsBefore = (await room(c.page)).snapshots;
  const snapsBeforeA = (await room(a.page)).snapshots;
  await crashRoom(c.page, roomId);
  await eventually(async () => (await room(c.page)).snapshots > snapsBefore, 15000, "the spectator's fresh snapshot");
  await eventually(async () => (await room(a.page)).snapshots > snapsBeforeA, 15000, "the player's fresh snapshot");
  const afterCrash = await room(a.page);
  assert.equal(afterCrash.role, "player", "Alice keeps her seat after the crash");
  const t0 = (await room(c.page)).tick;
  await c.page.waitForFunction((t) => window.__kurve.room?.tick > t, t0, { timeout: 15000 });

  // --- a reload keeps the session and the seat -------------------------------------
  await a.page.reload();
  await waitView(a.page, "room", 15000);
  assert.equal((await kurve(a.page, "user")).id, alice.id, "still signed in as Alice");
  await a.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  const reloaded = await room(a.page);
  assert.equal(reloaded.role, "player", "back in the seat after a reload");
  assert.ok(reloaded.players.some((p) => p.id === alice.id), "Alice still seated");

  // --- spectator switches back to the lobby ------------------------------------------
  await c.page.click("#leave-btn");
  await waitView(c.page, "lobby");
  await eventually(async () => {
    const online = await kurve(a.page, "online");
    return online.find((u) => u.name === "Carol")?.status === "lobby";
  }, 10000, "Carol back in the lobby");

  for (const p of [a.page, b.page, c.page]) assert.deepEqual(p.problems, [], "no page errors");
});

/** Steers left and right in turn for `ms` (held `period` ms each), then straight. */
async function weave(page, ms, period, left, right) {
  const end = Date.now() + ms;
  let key = left;
  while (Date.now() < end) {
    await page.keyboard.down(key);
    await hold(Math.min(period, Math.max(0, end - Date.now())));
    await page.keyboard.up(key);
    key = key === left ? right : left;
  }
}

/**
 * Opens a raw socket from the page (test hooks are on), joins the room as a spectator and
 * asks it to crash; resolves once the crash reached that socket as the room's `phx_error`.
 */
async function crashRoom(page, roomId) {
  const { reply, crashed } = await page.evaluate(async (id) => {
    const { token } = JSON.parse(localStorage.getItem("kurve.session"));
    const ws = new WebSocket(`${location.origin.replace(/^http/, "ws")}/socket/websocket?vsn=2.0.0&token=${encodeURIComponent(token)}`);
    await new Promise((res, rej) => {
      ws.onopen = res;
      ws.onerror = rej;
    });
    const frames = [];
    const waiting = [];
    ws.onmessage = (m) => {
      if (typeof m.data !== "string") return; // the binary snapshot
      frames.push(JSON.parse(m.data));
      for (const w of [...waiting]) w();
    };
    /** The first frame that matches `pred`, or null after 10 s. */
    const frame = (pred) =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve(null), 10000);
        const check = () => {
          const f = frames.find(pred);
          if (!f) return;
          clearTimeout(timer);
          waiting.splice(waiting.indexOf(check), 1);
          resolve(f);
        };
        waiting.push(check);
        check();
      });
    const topic = `room:${id}`;
    ws.send(JSON.stringify(["1", "1", topic, "phx_join", { as: "spectator" }]));
    const reply = await frame((f) => f[1] === "1" && f[3] === "phx_reply");
    let crashed = null;
    if (reply?.[4]?.status === "ok") {
      ws.send(JSON.stringify(["1", "2", topic, "debug_crash", {}]));
      crashed = await frame((f) => f[2] === topic && f[3] === "phx_error");
    }
    ws.close();
    return { reply, crashed };
  }, roomId);
  assert.equal(reply?.[4]?.status, "ok", `raw join before the crash: ${JSON.stringify(reply)}`);
  assert.ok(crashed, "the room's phx_error after debug_crash");
}
