// Own moves shown at once (CONTRACT §10): through a mobile-like link (kurve-netem
// `--profile mobile`), a player's own head turns on the page before the tick that
// acknowledges the key press arrives, and once every input is acknowledged the
// prediction and the server agree exactly. Orders of events and positions only: no
// assertion on how long anything took.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, startNetem, launchBrowser, openPage, signInGuest, eventually } from "./harness.js";

let server;
let netem;
let browser;
const pages = [];

before(async () => {
  server = await startServer();
  netem = await startNetem({ upstream: server.http, profile: "mobile", seed: 3 });
  browser = await launchBrowser();
});

after(async () => {
  for (const p of pages) await p.context.close().catch(() => {});
  await browser?.close();
  await netem?.stop();
  await server?.stop();
});

const bench = (page) => page.evaluate(() => window.kurve.bench());
const debug = (page) => page.evaluate(() => window.kurve.debug());
const room = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.__kurve.room)));

/** Two players through the proxy, in a room that is playing. */
async function playingRoom() {
  const a = await openPage(browser, netem.http, { name: "alice" });
  const b = await openPage(browser, netem.http, { name: "bob" });
  pages.push(a, b);
  await signInGuest(a.page, "Alice");
  await signInGuest(b.page, "Bob");
  await a.page.fill("#create-name", "Prediction");
  await a.page.click("#create-submit");
  await a.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 15000 });
  const id = (await room(a.page)).id;
  await b.page.waitForSelector(`#room-list [data-room-id="${id}"] [data-action=join]:not([disabled])`, { timeout: 15000 });
  await b.page.click(`#room-list [data-room-id="${id}"] [data-action=join]`);
  await b.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 15000 });
  await eventually(
    async () => (await a.page.$$eval("#score-list [data-user-id]", (els) => els.length)) === 2,
    15000,
    "both seated",
  );
  await a.page.click("#ready-btn");
  await b.page.click("#ready-btn");
  return { a, b };
}

/** Frames of one heading that make the drawn head steady before a press (150 ms at 60 fps). */
const STEADY_FRAMES = 9;

/**
 * Waits until nothing is in flight and the last STEADY_FRAMES frames drew the own head
 * with one heading: a turn seen after the next press is that press's.
 */
async function untilSteady(page) {
  await page.waitForFunction(
    (n) => {
      const b = window.kurve.bench();
      if (!b || b.pending !== 0) return false;
      const last = b.drawn.slice(-n);
      return last.length === n && last.every((f) => f.heading === last[0].heading && f.seq === b.seq);
    },
    STEADY_FRAMES,
    { timeout: 5000 },
  );
}

/** Waits until Alice's head is alive and moving (a round plays). */
async function untilPlaying(page) {
  await eventually(
    async () => {
      const r = await room(page);
      const me = r.players.find((p) => p.seat === r.seat);
      return r.phase === "playing" && me?.alive;
    },
    30000,
    "a round playing with Alice alive",
  );
}

test("the own head turns before the acknowledging tick arrives, and agrees with the server after", async () => {
  const { a } = await playingRoom();
  const page = a.page;
  const d0 = await debug(page);
  assert.equal(d0.predicting, true, "prediction is on by default");
  assert.equal(typeof d0.seat, "number");

  const presses = [];
  for (let i = 0; i < 12 && presses.length < 4; i++) {
    await untilPlaying(page);
    await untilSteady(page);
    const before = await bench(page);
    const key = i % 2 === 0 ? "ArrowLeft" : "ArrowRight";
    await page.keyboard.down(key);
    const seq = before.seq + 1;
    try {
      await eventually(async () => (await bench(page)).ackSeq >= seq, 5000, `ack of seq ${seq}`);
    } finally {
      await page.keyboard.up(key);
    }
    await eventually(async () => (await bench(page)).ackSeq >= seq + 1, 5000, `ack of seq ${seq + 1}`);
    const after = await bench(page);
    const r = await room(page);
    if (r.phase !== "playing" || !r.players.find((p) => p.seat === r.seat)?.alive) continue; // died meanwhile
    const frames = after.drawn;
    const pressed = frames.findIndex((f) => f.seq >= seq);
    assert.ok(pressed > 0, `frames drawn after seq ${seq} was sent`);
    const steady = frames[pressed - 1].heading;
    const turned = frames.findIndex((f, j) => j >= pressed && f.heading !== steady);
    const acked = frames.findIndex((f) => f.ackSeq !== null && f.ackSeq >= seq);
    assert.ok(turned >= 0, `the drawn head turned after seq ${seq}`);
    assert.ok(acked >= 0, `a frame drawn after seq ${seq} was acknowledged`);
    presses.push({ seq, turned, acked, pressed });
  }
  assert.ok(presses.length >= 2, `enough presses with Alice alive: ${JSON.stringify(presses)}`);
  for (const p of presses) {
    assert.ok(p.turned < p.acked, `seq ${p.seq}: turned in frame ${p.turned}, before the ack in frame ${p.acked}`);
  }

  // Reconciled: with no input in flight, every prediction equals the server's head.
  // Predictions are compared as ticks come: wait for 90 more (1.5 s), or the round's end.
  const last = (await debug(page)).tick;
  await page.waitForFunction(
    (t) => window.kurve.debug().tick >= t + 90 || !["countdown", "playing", "round_over"].includes(window.__kurve.room.phase),
    last,
    { timeout: 10000 },
  );
  const b = await bench(page);
  assert.equal(b.pending, 0, "every input acknowledged");
  assert.equal(b.reseeds, 0, "the shadow never had to be re-seeded from the wire");
  const clean = b.corrections.filter((c) => c.clean);
  assert.ok(clean.length >= 30, `clean corrections measured: ${clean.length}`);
  const off = clean.filter((c) => c.px !== 0);
  assert.deepEqual(off, [], "predictions made with nothing in flight match the server exactly");
  assert.deepEqual(page.problems ?? [], [], "no console errors");
});

test("?predict=0 draws the own head where the last tick put it", async () => {
  const a = await openPage(browser, netem.http, { name: "carol", path: "/?predict=0" });
  pages.push(a);
  await signInGuest(a.page, "Carol");
  await a.page.fill("#create-name", "No prediction");
  await a.page.click("#create-submit");
  await a.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 15000 });
  const d = await debug(a.page);
  assert.equal(d.predicting, false, "prediction off");
  await a.page.waitForFunction(() => document.querySelector("#room-net")?.textContent.includes("prediction off"), null, {
    timeout: 5000,
  });
  // Practice alone: the head moves, and is drawn exactly where the arena has it.
  await a.page.click("#ready-btn");
  await untilPlaying(a.page);
  // Steer until a tick shows the head turned.
  const before = await room(a.page);
  const heading = before.players.find((p) => p.seat === before.seat)?.heading;
  await a.page.keyboard.down("ArrowLeft");
  await a.page.waitForFunction(
    (h) => {
      const r = window.__kurve.room;
      return r.players.find((p) => p.seat === r.seat)?.heading !== h;
    },
    heading,
    { timeout: 5000 },
  );
  await a.page.keyboard.up("ArrowLeft");
  const [dbg, r] = await a.page.evaluate(() => [window.kurve.debug(), JSON.parse(JSON.stringify(window.__kurve.room))]);
  const me = r.players.find((p) => p.seat === dbg.seat);
  const head = dbg.heads.find((h) => h.seat === dbg.seat);
  assert.deepEqual([head.x, head.y], [me.x / 32, me.y / 32], "drawn at the arena's position");
  assert.ok(typeof dbg.rttMs === "number" && dbg.rttMs >= 0, `round trip measured: ${dbg.rttMs}`);
});
