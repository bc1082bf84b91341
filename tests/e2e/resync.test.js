// A tick lost on the way (here: dropped by a WebSocket route between page and server)
// makes the client rejoin for a fresh snapshot, keeping the player's seat.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, openPage, signInGuest, kurve, eventually } from "./harness.js";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The event name of a V2 binary broadcast frame (kind 2), else null. */
function binaryBroadcastEvent(buf) {
  if (!Buffer.isBuffer(buf) || buf.length < 3 || buf[0] !== 2) return null;
  const topicSize = buf[1];
  const eventSize = buf[2];
  return buf.subarray(3 + topicSize, 3 + topicSize + eventSize).toString("utf8");
}

test("a missed tick triggers a resync from a fresh snapshot", async () => {
  const drop = { armed: false, dropped: 0 };
  const a = await openPage(browser, server.http, {
    name: "gappy",
    setup: (page) =>
      page.routeWebSocket(/\/socket\/websocket/, (ws) => {
        const upstream = ws.connectToServer();
        ws.onMessage((m) => upstream.send(m));
        upstream.onMessage((m) => {
          if (drop.armed && binaryBroadcastEvent(m) === "tick") {
            drop.armed = false;
            drop.dropped++;
            return;
          }
          ws.send(m);
        });
      }),
  });
  const b = await openPage(browser, server.http, { name: "steady" });
  try {
    await signInGuest(a.page, "Gappy");
    await signInGuest(b.page, "Steady");
    await a.page.click("#quick-play");
    await a.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
    await b.page.click("#quick-play");
    await b.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
    await a.page.click("#ready-btn");
    await b.page.click("#ready-btn");
    await a.page.waitForFunction(() => window.__kurve.room.phase === "playing", null, { timeout: 10000 });
    const before = await kurve(a.page, "room");
    assert.equal(before.resyncs, 0);

    drop.armed = true;
    await eventually(async () => drop.dropped === 1, 5000, "one tick dropped");
    await eventually(async () => {
      const r = await kurve(a.page, "room");
      return r.resyncs === 1 && r.snapshots === before.snapshots + 1 && !r.awaitingSnapshot;
    }, 10000, "a resync with a fresh snapshot");
    const after = await kurve(a.page, "room");
    assert.equal(after.role, "player", "still a player after the resync");
    assert.equal(after.seat, before.seat, "same seat");

    // And it keeps up with the other player's view afterwards.
    await a.page.evaluate(() => window.__kurve.recordFingerprints());
    await b.page.evaluate(() => window.__kurve.recordFingerprints());
    await eventually(async () => {
      const ta = await a.page.evaluate(() => window.__kurve.fingerprintTicks());
      const tb = new Set(await b.page.evaluate(() => window.__kurve.fingerprintTicks()));
      const common = ta.filter((t) => tb.has(t));
      if (common.length < 10) return false;
      const t = common[common.length - 1];
      const fa = await a.page.evaluate((x) => window.__kurve.fingerprintAt(x), t);
      const fb = await b.page.evaluate((x) => window.__kurve.fingerprintAt(x), t);
      assert.equal(fa, fb, `same arena at tick ${t}`);
      return true;
    }, 15000, "common ticks after the resync");
    assert.deepEqual([...a.page.problems, ...b.page.problems], []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});
