// Bumper's touch controls in a real browser: a touch-enabled page (`hasTouch`: a coarse
// pointer) shows the stick and the Dash button where a desktop page shows none; a drag on
// the left half of the canvas moves as the stick (a `move` the server acknowledges,
// [0, 0] when the thumb lifts) and a tap on Dash sends an input the server acknowledges.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, openPage, signInGuest, kurve, eventually } from "./harness.js";

let server;
let browser;
const contexts = [];

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await server?.stop();
});

const room = (page) => kurve(page, "room");

test("a touch page plays Bumper with the stick and the Dash button", async () => {
  const a = await openPage(browser, server.http, { name: "desk" });
  contexts.push(a.context);
  const tctx = await browser.newContext({ viewport: { width: 412, height: 860 }, deviceScaleFactor: 1, hasTouch: true, isMobile: true });
  contexts.push(tctx);
  const t = await tctx.newPage();
  const problems = [];
  t.on("pageerror", (err) => problems.push(`touch: page error: ${err.message}`));
  await t.goto(server.http + "/");
  await signInGuest(a.page, "Desk");
  await signInGuest(t, "Thumb");

  await a.page.selectOption("#create-game", "bumper");
  await a.page.fill("#create-name", "Touch Rink");
  await a.page.selectOption("#create-max", "2");
  await a.page.click("#create-submit");
  await a.page.waitForFunction(() => window.__kurve.view === "room" && window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  const roomId = (await room(a.page)).id;

  const card = `#room-list [data-room-id="${roomId}"]`;
  await t.waitForSelector(`${card} [data-action=join]:not([disabled])`, { timeout: 10000 });
  await t.tap(`${card} [data-action=join]`);
  await t.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  assert.equal((await room(t)).role, "player");

  // Shown on the touch page only (Curve's condition: a coarse pointer, a player).
  assert.ok(await t.isVisible("#touch-stick"), "the stick shows on a touch page");
  assert.ok(await t.isVisible("#touch-dash"), "the Dash button shows on a touch page");
  assert.equal(await a.page.isVisible("#touch-controls"), false, "no touch controls on a desktop page");

  await a.page.click("#ready-btn");
  await t.tap("#ready-btn");
  await t.waitForFunction(() => window.__kurve.room.phase === "playing", null, { timeout: 15000 });

  // The stick: a drag from a point on the left half of the canvas.
  const box = await t.locator("#arena").boundingBox();
  const x0 = Math.round(box.x + box.width * 0.25);
  const y0 = Math.round(box.y + box.height * 0.5);
  const cdp = await tctx.newCDPSession(t);
  const touch = (type, pts) => cdp.send("Input.dispatchTouchEvent", { type, touchPoints: pts.map(([x, y]) => ({ x, y, id: 1 })) });
  await touch("touchStart", [[x0, y0]]);
  await touch("touchMove", [[x0 + 20, y0]]);
  await touch("touchMove", [[x0 + 60, y0 - 30]]);
  await t.waitForFunction(() => JSON.stringify(window.__kurve.room.move) === "[60,-30]", null, { timeout: 5000 });
  assert.equal(await t.getAttribute("#view-room", "data-move"), "60,-30");
  const moved = await room(t);
  await eventually(async () => (await room(t)).ackSeq >= moved.seq, 5000, "the server acks the stick's move");
  await touch("touchMove", [[x0 + 400, y0]]);
  await t.waitForFunction(() => JSON.stringify(window.__kurve.room.move) === "[100,0]", null, { timeout: 5000 });
  await touch("touchEnd", []);
  await t.waitForFunction(() => JSON.stringify(window.__kurve.room.move) === "[0,0]", null, { timeout: 5000 });

  // Dash: one tap, one input, acknowledged.
  const before = (await room(t)).seq;
  await t.tap("#touch-dash");
  await t.waitForFunction((s) => window.__kurve.room.seq > s, before, { timeout: 5000 });
  const dashed = (await room(t)).seq;
  await eventually(async () => (await room(t)).ackSeq >= dashed, 5000, "the server acks the dash");
  assert.deepEqual(problems, []);
});
