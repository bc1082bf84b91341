// CONTRACT §7 in the browser: /admin with the operator token shows live figures and
// plots and lists rooms; a wrong token is refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { startServer, launchBrowser, openPage, signInGuest, kurve, eventually, ensureScreenshotsDir } from "./harness.js";

const ADMIN_TOKEN = "operator-token-for-browser-tests-0123456789";
let server;
let browser;
const pages = [];

before(async () => {
  server = await startServer({ env: { KURVE_ADMIN_TOKEN: ADMIN_TOKEN } });
  browser = await launchBrowser();
});

after(async () => {
  for (const p of pages) await p.context.close().catch(() => {});
  await browser?.close();
  await server?.stop();
});

test("the operator page shows live figures, plots and rooms; a wrong token is refused", async () => {
  // A player with a room, so there is something to see.
  const p = await openPage(browser, server.http, { name: "player" });
  pages.push(p);
  await signInGuest(p.page, "Busy");
  await p.page.fill("#create-name", "Watched");
  await p.page.click("#create-submit");
  await p.page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 10000 });
  const roomId = (await kurve(p.page, "room")).id;

  const wrong = await openPage(browser, server.http, { name: "intruder", path: "/admin" });
  pages.push(wrong);
  await wrong.page.fill("#admin-token", "not-the-operator-token-at-all-0123456789");
  await wrong.page.click("#admin-enter");
  await wrong.page.waitForFunction(() => window.__kurve.admin?.state === "refused", null, { timeout: 10000 });
  assert.match(await wrong.page.textContent("#admin-error"), /refused|not the operator/);
  assert.equal(await wrong.page.$("#admin-figures .figure"), null, "no figures without the token");

  const a = await openPage(browser, server.http, { name: "operator", path: "/admin", width: 1280, height: 1000 });
  pages.push(a);
  await a.page.fill("#admin-token", ADMIN_TOKEN);
  await a.page.click("#admin-enter");
  await a.page.waitForFunction(() => window.__kurve.admin?.state === "live", null, { timeout: 10000 });
  // The history came with the join; live samples follow, counting both sockets.
  await eventually(async () => (await kurve(a.page, "admin")).last?.sockets >= 2, 10000, "the player's and the operator's sockets");
  assert.match(await a.page.textContent('#admin-figures [data-k="sockets"] .value'), /^[1-9]/, "a non-zero figure on the page");
  const points = await a.page.getAttribute('[data-plot="sockets"] polyline[data-series="sockets"]', "points");
  assert.ok(points && points.split(" ").length >= 3, `the sockets plot has points: ${points}`);
  await a.page.waitForSelector(`#admin-rooms [data-room-id="${roomId}"]`, { timeout: 10000 });
  assert.match(await a.page.textContent(`#admin-rooms [data-room-id="${roomId}"]`), /Watched.*Busy/);
  await a.page.screenshot({ path: path.join(ensureScreenshotsDir(), "admin.png") });

  // Closing the room from the page sends its player back to the lobby.
  await a.page.click(`#admin-rooms [data-room-id="${roomId}"] [data-action=close]`);
  await a.page.waitForSelector(`#admin-rooms [data-room-id="${roomId}"]`, { state: "detached", timeout: 10000 });
  for (const q of [p, a]) assert.deepEqual(q.page.problems, [], "no page errors");
});
