// kurve-soak --html: the report is one self-contained page (no script, nothing fetched)
// that opens in Chromium with its plots over time and the threshold verdicts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { repo, startServer, launchBrowser, ensureScreenshotsDir } from "./harness.js";

const run = promisify(execFile);
const SOAK = process.env.KURVE_SOAK_BIN ?? path.join(repo, "target/debug/kurve-soak");

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

test("the soak report opens in Chromium with its plots and verdicts", async () => {
  assert.ok(existsSync(SOAK), `${SOAK} is missing: cargo build -p kurve-tests --bin kurve-soak`);
  const out = path.join(mkdtempSync(path.join(tmpdir(), "kurve-soak-")), "report.html");
  const url = server.http.replace(/^http/, "ws");
  const { stdout } = await run(
    SOAK,
    ["--url", url, "--scenario", "play", "--bots", "8", "--room-size", "2", "--duration", "8s", "--quiet", "--max-p99-ms", "1000", "--html", out],
    { timeout: 60000 },
  );
  assert.match(stdout, /result\s+PASS/);
  const html = readFileSync(out, "utf8");
  assert.doesNotMatch(html, /<script|<link|src=|href=/i, "self-contained: nothing to load");

  const context = await browser.newContext({ viewport: { width: 1280, height: 1100 } });
  const page = await context.newPage();
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  await page.goto(`file://${out}`);
  assert.deepEqual(requests, [`file://${out}`], "the page fetches nothing else");
  assert.equal(await page.textContent("#verdict"), "PASS");
  const plots = await page.$$eval("figure.plot", (figs) =>
    figs.map((f) => ({ id: f.id, lines: f.querySelectorAll("polyline, circle").length })),
  );
  for (const id of ["plot-bots", "plot-delivery", "plot-jitter", "plot-input", "plot-rss", "plot-cpu"]) {
    const p = plots.find((x) => x.id === id);
    assert.ok(p && p.lines > 0, `${id} has data: ${JSON.stringify(plots)}`);
  }
  const thresholds = await page.$$eval("#thresholds tr.ok", (rows) => rows.length);
  assert.ok(thresholds >= 2, "the thresholds are shown with their verdicts");
  await page.screenshot({ path: path.join(ensureScreenshotsDir(), "soak-report.png"), fullPage: true });
  await context.close();
});
