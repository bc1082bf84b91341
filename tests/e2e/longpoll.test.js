// CONTRACT §6 in the browser: `/?transport=longpoll` signs in, plays and spectates without
// opening a WebSocket, and a browser whose WebSockets fail falls back to long-poll.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, openPage, signInGuest, kurve, eventually } from "./harness.js";

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

/** Opens a page recording every WebSocket it opens and every long-poll request it makes. */
async function tracedPage(name, options = {}) {
  const seen = { websockets: [], longpolls: 0 };
  const opened = await openPage(browser, server.http, {
    name,
    ...options,
    setup: async (page, context) => {
      page.on("websocket", (ws) => seen.websockets.push(ws.url()));
      page.on("request", (req) => {
        if (req.url().includes("/socket/longpoll")) seen.longpolls += 1;
      });
      if (options.setup) await options.setup(page, context);
    },
  });
  pages.push(opened);
  return { ...opened, seen };
}

test("/?transport=longpoll plays and spectates with no WebSocket; a blocked WebSocket falls back", async () => {
  const a = await tracedPage("lp-player", { path: "/?transport=longpoll" });
  const b = await tracedPage("ws-player");
  await signInGuest(a.page, "Lena");
  await signInGuest(b.page, "Walt");
  assert.equal(await kurve(a.page, "transport"), "longpoll");
  assert.equal(await kurve(b.page, "transport"), "websocket");
  assert.equal(await a.page.getAttribute("#conn-state", "data-transport"), "longpoll");
  assert.match(await a.page.textContent("#conn-state"), /long-poll/, "the indicator names the transport");

  // The long-poll player creates a room; the WebSocket player joins it; both ready.
  await a.page.fill("#create-name", "Over HTTP");
  await a.page.click("#create-submit");
  await a.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  const roomId = (await kurve(a.page, "room")).id;
  await b.page.waitForSelector(`#room-list [data-room-id="${roomId}"] [data-action=join]:not([disabled])`, { timeout: 10000 });
  await b.page.click(`#room-list [data-room-id="${roomId}"] [data-action=join]`);
  await b.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  await a.page.click("#ready-btn");
  await b.page.keyboard.press("Space");
  await a.page.waitForFunction(() => window.__kurve.room?.phase === "playing", null, { timeout: 15000 });
  const t0 = (await kurve(a.page, "room")).tick;
  await a.page.keyboard.down("ArrowLeft");
  await eventually(async () => (await kurve(a.page, "room")).tick > t0 + 60, 10000, "a second of ticks over long-poll");
  await a.page.keyboard.up("ArrowLeft");

  // A long-poll spectator reconstructs the same arena as the WebSocket player.
  const c = await tracedPage("lp-spectator", { path: "/?transport=longpoll" });
  await signInGuest(c.page, "Spec");
  await c.page.waitForSelector(`#room-list [data-room-id="${roomId}"] [data-action=watch]`, { timeout: 10000 });
  await c.page.click(`#room-list [data-room-id="${roomId}"] [data-action=watch]`);
  await c.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  assert.equal((await kurve(c.page, "room")).role, "spectator");
  await b.page.evaluate(() => window.__kurve.recordFingerprints());
  await c.page.evaluate(() => window.__kurve.recordFingerprints());
  await eventually(async () => {
    const tb = await b.page.evaluate(() => window.__kurve.fingerprintTicks());
    const tc = new Set(await c.page.evaluate(() => window.__kurve.fingerprintTicks()));
    const common = tb.filter((t) => tc.has(t));
    if (common.length < 20) return false;
    for (const t of common.slice(-20)) {
      const fb = await b.page.evaluate((x) => window.__kurve.fingerprintAt(x), t);
      const fc = await c.page.evaluate((x) => window.__kurve.fingerprintAt(x), t);
      assert.equal(fc, fb, `the long-poll spectator and the WebSocket player agree at tick ${t}`);
    }
    return true;
  }, 20000, "20 common ticks (or a round end first)").catch(async (e) => {
    // A round can end before 20 common ticks: then the phases must at least agree.
    const [rb, rc] = [await kurve(b.page, "room"), await kurve(c.page, "room")];
    if (rb.phase === "playing") throw e;
    assert.equal(rc.round, rb.round, "the same round");
  });

  // A browser whose WebSocket never opens falls back to long-poll by itself.
  const d = await tracedPage("blocked", {
    setup: (_page, context) =>
      context.addInitScript(() => {
        class Blocked {
          constructor(url) {
            this.url = url;
            this.readyState = 0;
            setTimeout(() => {
              this.readyState = 3;
              this.onerror?.(new Event("error"));
              this.onclose?.({ code: 1006, reason: "", wasClean: false });
            }, 50);
          }
          send() {}
          close() {}
        }
        Object.assign(Blocked, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
        window.WebSocket = Blocked;
      }),
  });
  await signInGuest(d.page, "Behind Proxy");
  assert.equal(await kurve(d.page, "transport"), "longpoll", "fell back to long-poll");
  await eventually(async () => (await kurve(d.page, "online")).some((u) => u.name === "Lena"), 10000, "the lobby over the fallback");

  for (const p of [a, c, d]) {
    assert.deepEqual(p.seen.websockets, [], "no WebSocket was opened");
    assert.ok(p.seen.longpolls > 2, `long-poll requests were made (${p.seen.longpolls})`);
  }
  assert.equal(b.seen.websockets.length, 1, "the WebSocket player used one WebSocket");
  for (const p of [a, b, c, d]) assert.deepEqual(p.page.problems, [], "no page errors");
});

test("phoenix 1.7's LongPoll (XMLHttpRequest) joins, chats and spectates in Chromium", async () => {
  const { page } = await tracedPage("phoenix-1.7");
  await page.addScriptTag({ path: new URL("./node_modules/phoenix17/priv/static/phoenix.js", import.meta.url).pathname });
  const result = await page.evaluate(async () => {
    const signIn = await fetch("/api/guest", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "Old Client" }),
    });
    const { token, user } = await signIn.json();
    const socket = new window.Phoenix.Socket("/socket", { transport: window.Phoenix.LongPoll, params: { token } });
    socket.connect();
    const joined = (channel) =>
      new Promise((resolve, reject) => channel.join().receive("ok", resolve).receive("error", reject).receive("timeout", () => reject(new Error("join timeout"))));
    const lobby = socket.channel("lobby:main", {});
    const presence = new window.Phoenix.Presence(lobby);
    const synced = new Promise((resolve) => presence.onSync(() => resolve(presence.list((id) => id))));
    const chat = new Promise((resolve) => lobby.on("chat", (c) => resolve(c.body)));
    await joined(lobby);
    const present = await synced;
    lobby.push("chat", { body: "from 1.7" });
    const heard = await chat;
    const created = await new Promise((resolve) => lobby.push("create_room", { name: "old" }).receive("ok", resolve));
    const room = socket.channel(`room:${created.room_id}`, { as: "spectator" });
    const snapshot = new Promise((resolve) => room.on("snapshot", resolve));
    await joined(room);
    const snap = await snapshot;
    const version = window.Phoenix.LongPoll.toString().includes("session_gone") ? "1.8" : "1.7";
    socket.disconnect();
    return { present: present.includes(user.id), heard, snapshotTick: typeof snap.tick, players: Array.isArray(snap.players), version };
  });
  assert.deepEqual(result, { present: true, heard: "from 1.7", snapshotTick: "number", players: true, version: "1.7" });
});
