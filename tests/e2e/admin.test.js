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

  // Every plot has a y axis from 0 to a top in its unit and a time axis ending "now";
  // the "now" and "peak" beside it are its line's last and highest points, and the
  // figures above are the same newest sample. Read in one go: a new sample re-draws.
  const view = await a.page.evaluate(readAdminPage);
  const units = { sockets: /^\d+$/, rooms: /^\d+$/, frames: /\/s$/, bytes: /B\/s$/, lateness: / (ms|µs)$/, drops: /^\d+$/ };
  assert.deepEqual(Object.keys(view.plots).sort(), Object.keys(units).sort(), "one plot per quantity");
  for (const [key, plot] of Object.entries(view.plots)) {
    assert.equal(plot.yLabels[0], "0", `${key}: the y axis starts at 0: ${plot.yLabels}`);
    const top = plot.yLabels[plot.yLabels.length - 1];
    assert.ok(plot.yMax > 0 && top !== "0", `${key}: the y axis has a top above 0: ${plot.yLabels}`);
    assert.match(top, units[key], `${key}: the y axis's top is written in the plot's unit`);
    assert.equal(plot.xLabels[plot.xLabels.length - 1], "now", `${key}: the time axis ends now: ${plot.xLabels}`);
    assert.match(plot.xLabels[0], /^−\d+ (s|min)$/, `${key}: the time axis starts in the past: ${plot.xLabels}`);
    for (const s of plot.series) {
      const ys = s.points.trim().split(/\s+/).map((pt) => Number(pt.split(",")[1]));
      const value = (y) => ((plot.top + plot.height - y) / plot.height) * plot.yMax;
      // One drawing unit of the plot's height, plus the points' rounding to 0.1.
      const pixel = (1.2 * plot.yMax) / plot.height;
      const last = value(ys[ys.length - 1]);
      const highest = value(Math.min(...ys));
      assert.ok(Math.abs(last - s.now) <= pixel, `${key}/${s.name}: "now" ${s.now} is the line's last point (${last})`);
      assert.ok(Math.abs(highest - s.peak) <= pixel, `${key}/${s.name}: "peak" ${s.peak} is the line's highest point (${highest})`);
      assert.ok(s.peak <= plot.yMax, `${key}/${s.name}: the peak ${s.peak} fits under the axis's top ${plot.yMax}`);
      assert.match(s.nowText, units[key], `${key}/${s.name}: "now" has the plot's unit: ${s.nowText}`);
      assert.match(s.peakText, units[key], `${key}/${s.name}: "peak" has the plot's unit: ${s.peakText}`);
    }
  }
  const now = (key, series) => view.plots[key].series.find((s) => s.name === series);
  for (const [figure, key, series] of [
    ["sockets", "sockets", "sockets"],
    ["users", "sockets", "users"],
    ["frames", "frames", "frames"],
    ["bytes", "bytes", "bytes"],
    ["drops", "drops", "slow drops"],
    ["restarts", "drops", "restarts"],
  ]) {
    const f = view.figures[figure];
    assert.equal(f.value, now(key, series).now, `the ${figure} figure is the ${key} plot's last point`);
    assert.equal(f.text, now(key, series).nowText, `the ${figure} figure reads as the ${key} plot's "now"`);
  }
  assert.equal(view.figures.lateness.text, `${now("lateness", "p50").nowText} / ${now("lateness", "p99").nowText}`, "the lateness figure is the plot's now");
  assert.ok(now("sockets", "sockets").now >= 2, "the plot's now counts both sockets");
  await a.page.waitForSelector(`#admin-rooms [data-room-id="${roomId}"]`, { timeout: 10000 });
  assert.match(await a.page.textContent(`#admin-rooms [data-room-id="${roomId}"]`), /Watched.*Busy/);
  await a.page.screenshot({ path: path.join(ensureScreenshotsDir(), "admin.png") });

  // Closing the room from the page sends its player back to the lobby.
  await a.page.click(`#admin-rooms [data-room-id="${roomId}"] [data-action=close]`);
  await a.page.waitForSelector(`#admin-rooms [data-room-id="${roomId}"]`, { state: "detached", timeout: 10000 });
  for (const q of [p, a]) assert.deepEqual(q.page.problems, [], "no page errors");
});

/** The operator page's figures and plots as the DOM shows them (runs in the page). */
function readAdminPage() {
  const plots = {};
  for (const fig of document.querySelectorAll("#admin-plots [data-plot]")) {
    const svg = fig.querySelector("svg.plot-svg");
    plots[fig.dataset.plot] = {
      yMax: Number(svg?.dataset.yMax),
      top: Number(svg?.dataset.plotTop),
      height: Number(svg?.dataset.plotHeight),
      yLabels: [...fig.querySelectorAll(".y-axis .tick-label")].map((t) => t.textContent),
      xLabels: [...fig.querySelectorAll(".x-axis .tick-label")].map((t) => t.textContent),
      series: [...fig.querySelectorAll(".legend[data-series]")].map((l) => ({
        name: l.dataset.series,
        now: Number(l.dataset.now),
        peak: Number(l.dataset.peak),
        nowText: l.querySelector(".now b")?.textContent,
        peakText: l.querySelector(".peak b")?.textContent,
        points: svg?.querySelector(`polyline[data-series="${l.dataset.series}"]`)?.getAttribute("points") ?? "",
      })),
    };
  }
  const figures = {};
  for (const f of document.querySelectorAll("#admin-figures .figure")) {
    figures[f.dataset.k] = { value: Number(f.dataset.value), text: f.querySelector(".value")?.textContent };
  }
  return { plots, figures };
}
