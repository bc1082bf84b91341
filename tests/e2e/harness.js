// Browser e2e harness: starts a real kurve-server serving the built web client, and
// drives Debian's Chromium through playwright-core (no browser download).
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { repo, spawnServer } from "../support/server.js";

export { repo };
// A network in front of a server: `startNetem({ upstream: server.http, profile })`.
export { startNetem } from "../support/netem.js";
export const screenshotsDir = path.join(repo, "docs/screenshots");

const CHROMIUM = process.env.KURVE_CHROMIUM ?? "/usr/bin/chromium";

/**
 * What every browser suite's server runs with besides its own `args`: Bumper's match clock
 * short enough for bumper.test.js to play a match to its end (Curve ignores it).
 */
const SERVER_ARGS = ["--bumper-match-secs", "8"];

/** Starts kurve-server serving the built web client (a free port unless `bind` says otherwise); resolves to { http, stop, stderr }. */
export async function startServer({ args = [], env = {}, bind = "127.0.0.1:0", database } = {}) {
  const dist = path.join(repo, "web-client/dist/index.html");
  if (!existsSync(dist)) throw new Error("web-client/dist is missing: run (cd web-client && npm ci && npm run build)");
  const server = await spawnServer({ args: ["--static-dir", path.join(repo, "web-client/dist"), ...SERVER_ARGS, ...args], env, bind, database });
  return { http: server.http, stop: (signal) => server.stop(signal), stderr: server.stderr, proc: server.proc };
}

/** Launches headless Chromium (a fresh temporary profile per launch). */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-chromium.sh`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // Several pages animate at once: keep every one of them running at full rate.
      "--disable-background-timer-throttling",
      "--disable-renderer-backgrounding",
      "--disable-backgrounding-occluded-windows",
    ],
  });
}

/**
 * A new isolated browser context (own storage) with one page on `http`. Console errors
 * and page errors are collected in `page.problems` so a test can assert none happened.
 */
export async function openPage(browser, http, { width = 1440, height = 900, name = "page", setup, path: at = "/" } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  if (setup) await setup(page, context);
  page.problems = [];
  page.on("pageerror", (err) => page.problems.push(`${name}: page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") page.problems.push(`${name}: console error: ${msg.text()}`);
    if (process.env.KURVE_TEST_VERBOSE) console.log(`[${name}] ${msg.type()}: ${msg.text()}`);
  });
  await page.goto(http + at);
  return { context, page };
}

/** Signs in through the form as a guest and waits for the lobby. */
export async function signInGuest(page, name) {
  await page.waitForSelector("#signin-form");
  await page.fill("#signin-name", name);
  await page.click("#signin-submit");
  await waitView(page, "lobby");
  await page.waitForFunction(() => window.__kurve.conn === "connected", null, { timeout: 10000 });
}

/** Waits until the app shows `view` (signin | lobby | room). */
export async function waitView(page, view, timeout = 10000) {
  await page.waitForFunction((v) => window.__kurve && window.__kurve.view === v, view, { timeout });
}

/** Reads `window.__kurve.<key>` (a read-only debug view of the client's state). */
export function kurve(page, key) {
  return page.evaluate((k) => {
    const v = window.__kurve[k];
    return v === undefined ? null : JSON.parse(JSON.stringify(v));
  }, key);
}

/** Polls `fn` (async) until it returns a truthy value, or fails after `ms`. */
export async function eventually(fn, ms, what) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    // The interval between two looks at the condition, not a wait for anything.
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

/** Samples the arena canvas: a cheap fingerprint of its pixels. */
export function canvasSample(page) {
  return page.evaluate(() => {
    const cv = document.querySelector("#arena");
    if (!cv || !cv.width) return null;
    const c = cv.getContext("2d");
    const d = c.getImageData(0, 0, cv.width, cv.height).data;
    let h = 0;
    let lit = 0;
    for (let i = 0; i < d.length; i += 4) {
      const v = d[i] + d[i + 1] * 3 + d[i + 2] * 7;
      h = (h * 31 + v) >>> 0;
      if (d[i] + d[i + 1] + d[i + 2] > 300) lit++;
    }
    return { hash: h, lit, w: cv.width, h: cv.height };
  });
}

export function ensureScreenshotsDir() {
  mkdirSync(screenshotsDir, { recursive: true });
  return screenshotsDir;
}
