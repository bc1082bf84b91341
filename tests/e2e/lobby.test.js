// Lobby flows beyond the main match: quick play, private rooms with a password, and the
// connection indicator while the server goes away and comes back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, openPage, signInGuest, waitView, kurve, eventually } from "./harness.js";

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

test("quick play seats two players in the same room; private rooms need their password", async () => {
  const server = await startServer();
  const a = await openPage(browser, server.http, { name: "quick-a" });
  const b = await openPage(browser, server.http, { name: "quick-b" });
  try {
    await signInGuest(a.page, "Quinn");
    await signInGuest(b.page, "Quincy");

    await a.page.click("#quick-play");
    await a.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
    const roomId = (await kurve(a.page, "room")).id;
    await b.page.click("#quick-play");
    await b.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
    assert.equal((await kurve(b.page, "room")).id, roomId, "quick play fills the waiting room first");
    assert.equal((await kurve(b.page, "room")).role, "player");

    // Back to the lobby: Bob creates a private room with a password.
    await a.page.click("#leave-btn");
    await waitView(a.page, "lobby");
    await b.page.click("#leave-btn");
    await waitView(b.page, "lobby");
    await b.page.fill("#create-name", "Secret Garden");
    await b.page.check("#create-private");
    await b.page.fill("#create-password", "opensesame");
    await b.page.click("#create-submit");
    await b.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
    const secret = (await kurve(b.page, "room")).id;
    assert.notEqual(secret, roomId);
    assert.ok(!(await kurve(a.page, "rooms")).some((r) => r.id === secret), "private rooms are not listed");

    // Wrong password: back in the lobby with a message.
    await a.page.click(".fold:has(#join-form) > summary");
    await a.page.fill("#join-code", secret);
    await a.page.fill("#join-password", "nope");
    await a.page.click('#join-form [data-as="player"]');
    await eventually(async () => (await a.page.textContent("#toasts").catch(() => "")).includes("Wrong room password"), 10000, "the wrong-password message");
    await waitView(a.page, "lobby");

    // Right password: seated.
    await a.page.fill("#join-code", secret);
    await a.page.fill("#join-password", "opensesame");
    await a.page.click('#join-form [data-as="player"]');
    await a.page.waitForFunction((id) => window.__kurve.room?.id === id && window.__kurve.room?.snapshots > 0, secret, {
      timeout: 10000,
    });
    assert.equal((await kurve(a.page, "room")).role, "player");
    await eventually(
      async () => (await a.page.$$("#score-list [data-user-id]")).length === 2,
      10000,
      "both players in the private room",
    );
  } finally {
    await a.context.close();
    await b.context.close();
    await server.stop();
  }
});

test("a match that loses a player ends in a forfeit with standings", async () => {
  const server = await startServer();
  const a = await openPage(browser, server.http, { name: "forfeit-a" });
  const b = await openPage(browser, server.http, { name: "forfeit-b" });
  try {
    await signInGuest(a.page, "Stayer");
    await signInGuest(b.page, "Leaver");
    await a.page.click("#quick-play");
    await a.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
    await b.page.click("#quick-play");
    await b.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
    await a.page.click("#ready-btn");
    await b.page.click("#ready-btn");
    await a.page.waitForFunction(() => ["countdown", "playing"].includes(window.__kurve.room.phase), null, { timeout: 10000 });
    await b.page.click("#leave-btn");
    await waitView(b.page, "lobby");
    await a.page.waitForSelector("#match-results", { timeout: 15000 });
    const text = await a.page.textContent("#match-results");
    assert.match(text, /forfeit/i);
    assert.match(text, /Stayer/);
    assert.match(text, /Leaver/);
    // Then back to waiting, with the ready button again.
    await a.page.waitForFunction(() => window.__kurve.room.phase === "waiting", null, { timeout: 15000 });
    await a.page.waitForSelector("#ready-btn:not([hidden]):not([disabled])", { timeout: 5000 });
    assert.deepEqual(a.page.problems, []);
  } finally {
    await a.context.close();
    await b.context.close();
    await server.stop();
  }
});

test("the connection indicator follows the server going away and coming back", async () => {
  const env = { KURVE_SECRET: "e2e-secret-that-is-long-enough-0123456789" };
  let server = await startServer({ env });
  const port = new URL(server.http).port;
  const { context, page } = await openPage(browser, server.http, { name: "conn" });
  try {
    await signInGuest(page, "Constance");
    const me = await kurve(page, "user");
    assert.equal(await page.getAttribute("#conn-state", "data-state"), "connected");

    await server.stop();
    await page.waitForSelector('#conn-state[data-state="reconnecting"]', { timeout: 15000 });
    assert.match(await page.textContent("#conn-state"), /Reconnecting/);

    server = await startServer({ env, bind: `127.0.0.1:${port}` });
    await page.waitForSelector('#conn-state[data-state="connected"]', { timeout: 30000 });
    // The lobby rejoined by itself: presence lists us again.
    await eventually(async () => (await kurve(page, "online")).some((u) => u.id === me.id), 15000, "presence after reconnect");
    assert.equal((await kurve(page, "user")).id, me.id, "still signed in");
  } finally {
    await context.close();
    await server.stop();
  }
});
