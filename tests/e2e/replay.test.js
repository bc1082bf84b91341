// CONTRACT §7 in the browser: a finished match links its replay from the match-end screen
// and the lobby's match list; `#/replay/<id>` draws it, the scrubber follows and seeks,
// 4× runs it to a verified end, and the URL can be shared.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { startServer, launchBrowser, openPage, signInGuest, kurve, eventually, canvasSample, ensureScreenshotsDir } from "./harness.js";

let server;
let browser;
const pages = [];

before(async () => {
  server = await startServer({ args: ["--points-per-opponent", "1"] });
  browser = await launchBrowser();
});

after(async () => {
  for (const p of pages) await p.context.close().catch(() => {});
  await browser?.close();
  await server?.stop();
});

test("a finished match replays in the browser from its link", async () => {
  const a = await openPage(browser, server.http, { name: "circler" });
  const b = await openPage(browser, server.http, { name: "straight" });
  pages.push(a, b);
  await signInGuest(a.page, "Circler");
  await signInGuest(b.page, "Straight");

  await a.page.fill("#create-name", "Replay me");
  await a.page.selectOption("#create-max", "2");
  await a.page.click("#create-submit");
  await a.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  const roomId = (await kurve(a.page, "room")).id;
  await b.page.waitForSelector(`#room-list [data-room-id="${roomId}"] [data-action=join]:not([disabled])`, { timeout: 10000 });
  await b.page.click(`#room-list [data-room-id="${roomId}"] [data-action=join]`);
  await b.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  await a.page.click("#ready-btn");
  await b.page.keyboard.press("Space");
  // One circles into its own trail, the other drives straight: short rounds.
  await a.page.keyboard.down("ArrowLeft");
  // Each player's seat colour in the room once the round seats both, by user id: the
  // replay's standings must use them.
  await a.page.waitForFunction(() => window.__kurve.room?.players.length === 2, null, { timeout: 10000 });
  const roomColors = Object.fromEntries((await kurve(a.page, "room")).players.map((p) => [p.id, p.color]));
  assert.equal(new Set(Object.values(roomColors)).size, 2, `two seat colours in the room: ${JSON.stringify(roomColors)}`);
  await a.page.waitForSelector("#match-replay", { timeout: 120000 });
  await a.page.keyboard.up("ArrowLeft");
  const href = await a.page.getAttribute("#match-replay", "href");
  const matchId = href.match(/^#\/replay\/(\d+)$/)?.[1];
  assert.ok(matchId, `a replay link on the match-end screen: ${href}`);

  // The lobby's match list links it too.
  await b.page.goto(`${server.http}/#/`);
  await b.page.waitForSelector(`#match-list [data-match-id="${matchId}"] [data-action=replay]`, { timeout: 15000 });

  // Open the shared link in a fresh page: it draws, and the scrubber moves.
  const c = await openPage(browser, server.http, { name: "viewer" });
  pages.push(c);
  await signInGuest(c.page, "Viewer");
  await c.page.goto(`${server.http}/${href}`);
  await c.page.waitForFunction(() => window.__kurve.view === "replay" && window.__kurve.replay?.snapshots > 0, null, { timeout: 10000 });
  const s1 = await canvasSample(c.page);
  const p1 = Number(await c.page.inputValue("#replay-scrub"));
  await eventually(async () => Number(await c.page.inputValue("#replay-scrub")) > p1 + 30, 5000, "the scrubber to move");
  const s2 = await canvasSample(c.page);
  assert.notEqual(s1.hash, s2.hash, "the canvas redraws as the replay plays");
  assert.match(await c.page.textContent("#replay-title"), /Replay me/);

  // Once the replay has seated its players (its first round started), each standings
  // row is in that player's own seat colour, whatever its place.
  await c.page.waitForFunction(() => window.__kurve.replay?.round >= 1, null, { timeout: 15000 });
  assertStandingsColors(await standingsColors(c.page), roomColors, "as the replay plays");
  await c.page.screenshot({ path: path.join(ensureScreenshotsDir(), "replay.png") });

  // Pause holds the position.
  await c.page.click("#replay-play");
  await eventually(async () => (await kurve(c.page, "replay")).speed === 0, 5000, "paused");
  const held = (await kurve(c.page, "replay")).position;
  // Not a synchronisation: that nothing moves for half a second is what is tested.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await kurve(c.page, "replay")).position, held, "paused replays do not move");

  // Seek with the scrubber: a fresh snapshot at the spot.
  const before = (await kurve(c.page, "replay")).snapshots;
  const duration = (await kurve(c.page, "replay")).duration;
  const target = Math.floor(duration / 4);
  await c.page.$eval("#replay-scrub", (el, v) => {
    el.value = String(v);
    el.dispatchEvent(new Event("input"));
    el.dispatchEvent(new Event("change"));
  }, target);
  await eventually(async () => {
    const r = await kurve(c.page, "replay");
    return r.snapshots > before && r.position === target;
  }, 5000, "the seek's snapshot");

  // 4× to the end: verified.
  await c.page.selectOption("#replay-speed", "4");
  await c.page.waitForSelector('#replay-verdict[data-verified="true"]', { timeout: 60000 });
  assertStandingsColors(await standingsColors(c.page), roomColors, "at the replay's end");
  for (const p of [a, b, c]) assert.deepEqual(p.page.problems, [], "no page errors");
});

/** The replay's standings rows: each row's user id and its dot's colour. */
function standingsColors(page) {
  return page.$$eval("#replay-players li", (rows) =>
    rows.map((li) => ({ id: li.dataset.userId, color: li.querySelector(".dot")?.style.getPropertyValue("--c") })),
  );
}

function assertStandingsColors(rows, roomColors, when) {
  assert.equal(rows.length, Object.keys(roomColors).length, `a standings row per player ${when}: ${JSON.stringify(rows)}`);
  for (const row of rows) {
    assert.equal(row.color, roomColors[row.id], `player ${row.id}'s row is in their seat colour ${when}: ${JSON.stringify({ rows, roomColors })}`);
  }
}
