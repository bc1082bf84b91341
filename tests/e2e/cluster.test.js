// CONTRACT §9 in the browser, as a new user tries it: three nodes on one NATS and one
// PostgreSQL; two browsers on two nodes see each other in the lobby and play one room,
// a third watches from the third node, and killing the room's node mid-round does not
// end the match for those left: the room is adopted and they play and watch on.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, openPage, signInGuest, kurve, eventually } from "./harness.js";
import { startNats } from "../support/nats.js";
import { startPostgres } from "../support/postgres.js";

const SECRET = "e2e-cluster-secret-0123456789abcdef";
let nats;
let postgres;
let browser;
const nodes = {};
const pages = [];

before(async () => {
  nats = await startNats();
  postgres = await startPostgres();
  for (const id of ["a", "b", "c"]) {
    nodes[id] = await startServer({
      args: ["--cluster", nats.url, "--node-id", id],
      database: postgres.url,
      env: { KURVE_SECRET: SECRET },
    });
  }
  for (const node of Object.values(nodes)) {
    await eventually(async () => (await (await fetch(`${node.http}/api/cluster`)).json()).nodes.length === 3, 15000, "three nodes");
  }
  browser = await launchBrowser();
});

after(async () => {
  for (const p of pages) await p.context.close().catch(() => {});
  await browser?.close();
  for (const node of Object.values(nodes)) await node.stop("SIGKILL");
  await nats?.cleanup();
  postgres?.stop();
});

async function pageOn(node, name) {
  const opened = await openPage(browser, nodes[node].http, { name });
  pages.push(opened);
  await signInGuest(opened.page, name);
  return opened.page;
}

async function roomNode(id) {
  for (const node of Object.values(nodes)) {
    try {
      const { rooms } = await (await fetch(`${node.http}/api/rooms?lobby=main`)).json();
      const room = rooms.find((r) => r.id === id);
      if (room) return room.node;
    } catch {
      // that node is gone
    }
  }
  return null;
}

/** The spectator and the player agree on the arena at 10 common recent ticks. */
async function sameArena(player, spectator, what) {
  await player.evaluate(() => window.__kurve.recordFingerprints());
  await spectator.evaluate(() => window.__kurve.recordFingerprints());
  await eventually(async () => {
    const tp = await player.evaluate(() => window.__kurve.fingerprintTicks());
    const ts = new Set(await spectator.evaluate(() => window.__kurve.fingerprintTicks()));
    const common = tp.filter((t) => ts.has(t));
    if (common.length < 10) return false;
    for (const t of common.slice(-10)) {
      const fp = await player.evaluate((x) => window.__kurve.fingerprintAt(x), t);
      const fs = await spectator.evaluate((x) => window.__kurve.fingerprintAt(x), t);
      assert.equal(fs, fp, `${what}: the spectator and the player agree at tick ${t}`);
    }
    return true;
  }, 20000, `${what}: 10 common ticks`);
}

test("two browsers on two nodes play one room, a third watches from the third; the room's node dies and the match goes on", async () => {
  const ann = await pageOn("a", "Ann");
  const bob = await pageOn("b", "Bob");
  // One lobby across nodes: each sees the other.
  await eventually(async () => (await kurve(ann, "online")).some((u) => u.name === "Bob"), 10000, "Bob in Ann's lobby (node a)");
  await eventually(async () => (await kurve(bob, "online")).some((u) => u.name === "Ann"), 10000, "Ann in Bob's lobby (node b)");

  // Ann makes a room (a tie: it stays on her node); Bob joins it from node b.
  await ann.fill("#create-name", "Across nodes");
  await ann.click("#create-submit");
  await ann.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  const roomId = (await kurve(ann, "room")).id;
  await bob.waitForSelector(`#room-list [data-room-id="${roomId}"] [data-action=join]:not([disabled])`, { timeout: 10000 });
  await bob.click(`#room-list [data-room-id="${roomId}"] [data-action=join]`);
  await bob.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  await ann.click("#ready-btn");
  await bob.keyboard.press("Space");
  await bob.waitForFunction(() => window.__kurve.room?.phase === "playing", null, { timeout: 15000 });

  // Cleo watches from node c.
  const cleo = await pageOn("c", "Cleo");
  await cleo.waitForSelector(`#room-list [data-room-id="${roomId}"] [data-action=watch]`, { timeout: 10000 });
  await cleo.click(`#room-list [data-room-id="${roomId}"] [data-action=watch]`);
  await cleo.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  assert.equal((await kurve(cleo, "room")).role, "spectator");
  await bob.keyboard.down("ArrowLeft");
  await sameArena(bob, cleo, "before");
  await bob.keyboard.up("ArrowLeft");

  // Kill the room's node mid-round.
  const doomed = await roomNode(roomId);
  assert.equal(doomed, "a", "the room runs on Ann's node");
  const before = { bob: (await kurve(bob, "room")).snapshots, cleo: (await kurve(cleo, "room")).snapshots };
  nodes.a.proc.kill("SIGKILL");

  // Adopted by b or c; Bob and Cleo rejoin by themselves and the match goes on.
  await eventually(async () => ["b", "c"].includes(await roomNode(roomId)), 15000, "the room adopted");
  for (const [name, page] of [["Bob", bob], ["Cleo", cleo]]) {
    await page.waitForFunction((n) => window.__kurve.room?.snapshots > n, before[name.toLowerCase()], { timeout: 30000 });
    assert.equal(await kurve(page, "view"), "room", `${name} is still in the room`);
  }
  const room = await kurve(bob, "room");
  assert.equal(room.id, roomId);
  assert.notEqual(room.phase, "waiting", `the match goes on (phase ${room.phase})`);
  const t0 = room.tick;
  await eventually(async () => (await kurve(bob, "room")).tick > t0 + 30, 15000, "ticks again for Bob");
  await sameArena(bob, cleo, "after the adoption").catch(async (e) => {
    // The adopted round may end before 10 common ticks: then the phases must agree.
    const [rb, rc] = [await kurve(bob, "room"), await kurve(cleo, "room")];
    if (rb.phase === "playing") throw e;
    assert.equal(rc.round, rb.round, "the same round");
  });
  for (const page of [bob, cleo]) {
    const problems = page.problems.filter((p) => !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(p));
    assert.deepEqual(problems, [], "no page errors");
  }
});
