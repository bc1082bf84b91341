// Key press → own head turning in what is drawn, in Chromium through kurve-netem, with
// and without prediction (docs/PERF.md, "Key press to own head turning"); and the size of
// each correction (predicted vs authoritative own head as a tick arrives) under `mobile`.
// Not run in CI. Needs target/debug/{kurve-server,kurve-netem} and web-client/dist.
//
//   node tests/e2e/bench/keypress.js [--presses 20] [--profiles rtt:0,rtt:50,rtt:150,rtt:300]
//
// Latency per press: the first animation frame (its rAF timestamp) whose drawn own heading
// differs from the steady heading before the key, minus the keydown event's timestamp,
// both on the page's own clock.
import { startServer, startNetem, launchBrowser, openPage, signInGuest, eventually } from "../harness.js";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const PRESSES = Number(opt("presses", 20));
const PROFILES = opt("profiles", "rtt:0,rtt:50,rtt:150,rtt:300").split(",");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pct(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))];
}

async function playing(page) {
  await eventually(
    async () =>
      page.evaluate(() => {
        const r = window.__kurve.room;
        const me = r?.players.find((p) => p.seat === r.seat);
        return r?.phase === "playing" && me?.alive;
      }),
    30000,
    "playing and alive",
  );
}

/** One practising player through `profile`: latency per press, ms, and corrections, px. */
async function run(browser, server, profile, predict) {
  const netem = await startNetem({ upstream: server.http, profile, seed: 5 });
  const { context, page } = await openPage(browser, netem.http, { name: profile, path: predict ? "/" : "/?predict=0" });
  try {
    await signInGuest(page, "Bench");
    await page.fill("#create-name", `bench ${profile}`);
    await page.click("#create-submit");
    await page.waitForFunction(() => window.__kurve.room?.snapshots > 0, null, { timeout: 15000 });
    await page.evaluate(() => {
      window.__keydowns = [];
      window.addEventListener("keydown", (e) => window.__keydowns.push(e.timeStamp), true);
    });
    await page.click("#ready-btn");
    const latencies = [];
    for (let i = 0; latencies.length < PRESSES && i < PRESSES * 3; i++) {
      await playing(page);
      // Straight long enough for every earlier input to be acknowledged and drawn.
      await sleep(250 + 2 * (Number(profile.split(":")[1]) || 150));
      const before = await page.evaluate(() => [window.__keydowns.length, window.kurve.bench().seq]);
      const key = i % 2 ? "ArrowLeft" : "ArrowRight";
      await page.keyboard.down(key);
      await sleep(150 + 2 * (Number(profile.split(":")[1]) || 150));
      await page.keyboard.up(key);
      // Frames drawn before the press are those whose `seq` is older than its input's; a
      // frame's rAF timestamp may precede the keydown handled within it (then 0 ms).
      const m = await page.evaluate(([n, seq]) => {
        const t0 = window.__keydowns[n];
        const drawn = window.kurve.bench().drawn;
        const first = drawn.findIndex((f) => f.seq > seq);
        if (first < 1) return null;
        const steady = drawn[first - 1].heading;
        const f = drawn.slice(first).find((d) => d.heading !== steady);
        return f ? Math.max(0, f.t - t0) : null;
      }, before);
      const alive = await page.evaluate(() => {
        const r = window.__kurve.room;
        return r?.phase === "playing" && r.players.find((p) => p.seat === r.seat)?.alive;
      });
      if (m !== null && alive) latencies.push(m);
    }
    const corrections = (await page.evaluate(() => window.kurve.bench().corrections)).map((c) => c.px);
    const b = await page.evaluate(() => window.kurve.bench());
    return { latencies, corrections, leadTicks: b.leadTicks, bufferTicks: b.bufferTicks, jitterMs: b.jitterMs };
  } finally {
    await context.close().catch(() => {});
    await netem.stop();
  }
}

const server = await startServer();
const browser = await launchBrowser();
try {
  console.log("profile   prediction  presses  median ms  p90 ms  max ms   (one display frame = 16.7 ms)");
  for (const profile of PROFILES) {
    for (const predict of [true, false]) {
      const r = await run(browser, server, profile, predict);
      const l = r.latencies;
      console.log(
        `${profile.padEnd(9)} ${predict ? "on " : "off"}         ${String(l.length).padStart(3)}     ${pct(l, 0.5).toFixed(1).padStart(6)}  ${pct(l, 0.9).toFixed(1).padStart(6)}  ${Math.max(...l).toFixed(1).padStart(6)}`,
      );
    }
  }
  const m = await run(browser, server, "mobile", true);
  const c = m.corrections;
  console.log(
    `mobile corrections: ${c.length} ticks, p50 ${pct(c, 0.5).toFixed(2)} px, p99 ${pct(c, 0.99).toFixed(2)} px, max ${Math.max(...c).toFixed(2)} px; ` +
      `zero in ${((100 * c.filter((x) => x === 0).length) / c.length).toFixed(1)} %; lead ${m.leadTicks.toFixed(1)} ticks, buffer ${m.bufferTicks.toFixed(1)} ticks (jitter p95 ${m.jitterMs.toFixed(1)} ms)`,
  );
  console.log(`mobile key press: median ${pct(m.latencies, 0.5).toFixed(1)} ms, max ${Math.max(...m.latencies).toFixed(1)} ms`);
} finally {
  await browser.close();
  await server.stop();
}
