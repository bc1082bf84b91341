// The second game in real browsers: two players pick Bumper in the lobby, make and join
// a room, get ready, play (a disc moves on the keys), a spectator watches the ticks come,
// the match ends on its clock (`--bumper-match-secs 8`, harness.js) and shows its
// standings; the finished match replays with the same view.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { startServer, launchBrowser, openPage, signInGuest, waitView, kurve, eventually, canvasSample, ensureScreenshotsDir } from "./harness.js";

let server;
let browser;
const pages = [];
/** The replay link of the match the first test played (for the second). */
let replayHref = null;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  for (const p of pages) await p.context.close().catch(() => {});
  await browser?.close();
  await server?.stop();
});

/** Waits `ms`: only to pace key presses (how long a key is held is what moves a disc). */
const hold = (ms) => new Promise((r) => setTimeout(r, ms));

const room = (page) => kurve(page, "room");
/** `window.kurve.debug()`: for a Bumper room `{game, seat, tick, discs: [{s, x, y}]}` (arena px). */
const debug = (page) => page.evaluate(() => window.kurve.debug());

/** The own disc as drawn now (null while off the floe). */
async function ownDisc(page) {
  const d = await debug(page);
  return d?.discs.find((x) => x.s === d.seat) ?? null;
}

test("two players and a spectator play a Bumper match in the browser", async () => {
  const a = await openPage(browser, server.http, { name: "alice" });
  const b = await openPage(browser, server.http, { name: "bob" });
  const c = await openPage(browser, server.http, { name: "carol" });
  pages.push(a, b, c);
  await signInGuest(a.page, "Alice");
  await signInGuest(b.page, "Bob");
  await signInGuest(c.page, "Carol");

  // --- the lobby's game select: Bumper bounds the seats to 2–8 ------------------------
  // selectOption waits for the option: the list comes from GET /api/games.
  await a.page.selectOption("#create-game", "bumper");
  const seats = await a.page.$$eval("#create-max option", (os) => os.map((o) => Number(o.value)));
  assert.deepEqual([seats[0], seats[seats.length - 1]], [2, 8], `Bumper's seat range: ${JSON.stringify(seats)}`);
  await a.page.fill("#create-name", "Ice Rink");
  await a.page.selectOption("#create-max", "3");
  await a.page.click("#create-submit");
  await a.page.waitForFunction(() => window.__kurve.view === "room" && window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  const roomA = await room(a.page);
  assert.equal(roomA.game, "bumper", `the room page shows Bumper's view: ${JSON.stringify(roomA)}`);
  assert.equal(roomA.role, "player");
  assert.equal(roomA.phase, "waiting");
  assert.equal((await debug(a.page)).game, "bumper", "window.kurve.debug() is Bumper's");
  assert.equal(await a.page.getAttribute("#view-room", "data-game"), "bumper");
  const roomId = roomA.id;

  // --- Bob sees the room with its game's badge and joins; Carol watches ---------------
  const card = `#room-list [data-room-id="${roomId}"]`;
  await b.page.waitForSelector(`${card} [data-action=join]:not([disabled])`, { timeout: 10000 });
  assert.equal((await b.page.textContent(`${card} .badge.game`)).trim(), "Bumper", "the room card names its game");
  assert.match(await b.page.textContent(card), /Ice Rink/);
  await b.page.click(`${card} [data-action=join]`);
  await b.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  const roomB = await room(b.page);
  assert.equal(roomB.game, "bumper");
  assert.equal(roomB.role, "player");

  await c.page.waitForSelector(`${card} [data-action=watch]`, { timeout: 10000 });
  await c.page.click(`${card} [data-action=watch]`);
  await c.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  assert.equal((await room(c.page)).role, "spectator");
  assert.equal((await room(c.page)).game, "bumper");
  assert.equal(await c.page.$("#ready-btn:not([hidden])"), null, "no ready button for spectators");

  // --- ready (a click, and Enter: Space is the dash) → countdown → playing -------------
  await a.page.click("#ready-btn");
  await a.page.waitForFunction(() => window.__kurve.room.ready === true, null, { timeout: 5000 });
  await b.page.keyboard.press("Enter");
  await a.page.waitForFunction(() => ["countdown", "playing"].includes(window.__kurve.room.phase), null, { timeout: 10000 });
  await a.page.waitForFunction(() => window.__kurve.room.phase === "playing", null, { timeout: 10000 });
  const seatA = (await debug(a.page)).seat;
  assert.equal(typeof seatA, "number", "Alice has a seat");
  const played = await room(a.page);
  assert.equal(played.players.length, 2, `two discs in the match: ${JSON.stringify(played.players)}`);
  await eventually(async () => {
    const clock = (await room(a.page)).clock;
    return clock > 0 && clock <= 8;
  }, 3000, "the match clock to run from 8 s");

  // --- Alice moves (first: the match is 8 s): toward the floe's centre, to stay on it --
  const start = await eventually(() => ownDisc(a.page), 5000, "Alice's disc on the floe");
  const keys = [start.x < 512 ? "d" : "a", start.y < 384 ? "s" : "w"];
  const seqBefore = (await room(a.page)).seq;
  for (const k of keys) await a.page.keyboard.down(k);
  assert.equal((await room(a.page)).seq, seqBefore + 2, "one input per change of the held keys");
  const moved = await eventually(
    async () => {
      const d = await ownDisc(a.page);
      return d && Math.hypot(d.x - start.x, d.y - start.y) > 8 ? d : null;
    },
    4000,
    "Alice's disc to move as she holds the keys",
  );
  for (const k of keys) await a.page.keyboard.up(k);
  if (Math.hypot(512 - start.x, 384 - start.y) > 40) {
    assert.ok(
      Math.hypot(512 - moved.x, 384 - moved.y) < Math.hypot(512 - start.x, 384 - start.y),
      `Alice moved toward the centre: ${JSON.stringify({ start, moved })}`,
    );
  }
  // The server acknowledges the inputs it applied (`a` in her disc's update).
  await eventually(async () => (await room(a.page)).ackSeq >= seqBefore + 1, 3000, "an acknowledged input");

  // --- the spectator's ticks advance --------------------------------------------------
  const tc = (await debug(c.page)).tick;
  await c.page.waitForFunction((t) => window.kurve.debug().tick >= t + 30, tc, { timeout: 5000 });
  await eventually(async () => (await debug(c.page)).discs.length >= 1, 3000, "discs on the spectator's page");

  await a.page.keyboard.press("Space"); // a dash: nothing to assert but that nothing breaks
  const s1 = await canvasSample(a.page);
  await hold(200);
  const s2 = await canvasSample(a.page);
  assert.notEqual(s1.hash, s2.hash, "the floe redraws as ticks arrive");
  await a.page.screenshot({ path: path.join(ensureScreenshotsDir(), "bumper.png") });

  // --- the clock runs out: the match-end screen, on every page -------------------------
  for (const p of [a.page, b.page, c.page]) {
    await p.waitForSelector("#match-results", { state: "visible", timeout: 20000 });
  }
  assert.match(await a.page.textContent("#match-results"), /Match over/);
  const ended = await room(a.page);
  assert.equal(ended.phase, "finished");
  assert.equal(ended.standings?.standings.length, 2, `both players in the standings: ${JSON.stringify(ended.standings)}`);
  assert.deepEqual(
    (await room(c.page)).standings?.standings.map((s) => s.id),
    ended.standings.standings.map((s) => s.id),
    "the spectator sees the same standings",
  );
  const link = await a.page.waitForSelector("#match-replay", { timeout: 10000 }).catch(() => null);
  replayHref = link ? await link.getAttribute("href") : null;

  // Back to the waiting room, ready again.
  await a.page.waitForFunction(() => window.__kurve.room.phase === "waiting", null, { timeout: 15000 });
  assert.equal((await room(a.page)).ready, false, "ready flags reset after the match");

  // Alice goes back to the lobby, where the room still shows its game.
  await a.page.click("#leave-btn");
  await waitView(a.page, "lobby");

  for (const p of [a.page, b.page, c.page]) assert.deepEqual(p.problems, [], "no page errors");
});

test("the finished Bumper match replays with Bumper's view", async () => {
  assert.ok(replayHref, "the match-end screen linked the match's replay");
  const matchId = replayHref.match(/^#\/replay\/(\d+)$/)?.[1];
  assert.ok(matchId, `a replay link: ${replayHref}`);
  const v = await openPage(browser, server.http, { name: "viewer" });
  pages.push(v);
  await signInGuest(v.page, "Viewer");
  await v.page.goto(`${server.http}/${replayHref}`);
  await v.page.waitForFunction(() => window.__kurve.view === "replay" && window.__kurve.replay?.snapshots > 0, null, { timeout: 10000 });
  const r = await kurve(v.page, "replay");
  assert.equal(r.game, "bumper", `the replay is drawn by Bumper's view: ${JSON.stringify(r)}`);
  assert.equal(r.round, null, "Bumper has no rounds");
  await eventually(async () => (await kurve(v.page, "replay")).ticks > 30, 10000, "replayed ticks");
  await v.page.selectOption("#replay-speed", "4");
  await v.page.waitForSelector('#replay-verdict[data-verified="true"]', { timeout: 30000 });
  const colors = await v.page.$$eval("#replay-players li", (rows) => rows.map((li) => li.dataset.color ?? null));
  assert.equal(colors.length, 2, "both players in the replay's standings");
  assert.ok(colors.every((c) => c), `each standings row in its seat colour: ${JSON.stringify(colors)}`);
  assert.deepEqual(v.page.problems, [], "no page errors");
});
