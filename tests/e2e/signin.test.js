// Sign-in: guest, register, log in, every error message, session kept across reloads.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, openPage, signInGuest, waitView, kurve } from "./harness.js";

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

async function errorText(page) {
  await page.waitForFunction(() => document.querySelector("#signin-error")?.textContent.trim().length > 0, null, {
    timeout: 5000,
  });
  return page.textContent("#signin-error");
}

async function tab(page, mode) {
  await page.click(`.tab[data-mode="${mode}"]`);
}

test("a guest signs in, keeps the session across a reload, and signs out", async () => {
  const { context, page } = await openPage(browser, server.http, { name: "guest" });
  try {
    await signInGuest(page, "Guest Gina");
    const user = await kurve(page, "user");
    assert.equal(user.name, "Guest Gina");
    assert.equal(user.guest, true);
    assert.equal(await page.textContent("#me-name"), "Guest Gina");
    assert.match(await page.textContent("#conn-state"), /Connected/);

    await page.reload();
    await waitView(page, "lobby");
    assert.equal((await kurve(page, "user")).id, user.id, "same user after a reload");
    assert.equal(await page.$("#signin-form"), null, "no sign-in form after a reload");

    await page.click("#sign-out");
    await waitView(page, "signin");
    assert.equal(await page.evaluate(() => localStorage.getItem("kurve.session")), null, "token forgotten");
    await page.reload();
    await waitView(page, "signin");
    assert.deepEqual(page.problems, []);
  } finally {
    await context.close();
  }
});

test("every sign-in error gets a clear message", async () => {
  const { context, page } = await openPage(browser, server.http, { name: "errors" });
  try {
    await page.waitForSelector("#signin-form");

    // invalid_name (from the server: the client does not pre-check the characters).
    await page.fill("#signin-name", "bad<name>!");
    await page.click("#signin-submit");
    assert.match(await errorText(page), /1–24 characters/);
    assert.equal(await page.getAttribute("#signin-error", "data-code"), "invalid_name");

    // register, then name_taken for a guest and for a second registration.
    await tab(page, "register");
    await page.fill("#signin-name", "Regina");
    await page.fill("#signin-password", "correct horse");
    await page.click("#signin-submit");
    await waitView(page, "lobby");
    assert.equal((await kurve(page, "user")).guest, false);
    assert.match(await page.textContent("#user-chip"), /member/);
    await page.click("#sign-out");
    await waitView(page, "signin");

    await tab(page, "register");
    await page.fill("#signin-name", "regina");
    await page.fill("#signin-password", "another password");
    await page.click("#signin-submit");
    assert.match(await errorText(page), /belongs to a registered player/);
    assert.equal(await page.getAttribute("#signin-error", "data-code"), "name_taken");

    // weak_password (checked before sending, same message as the server's code).
    await page.fill("#signin-name", "Weakling");
    await page.fill("#signin-password", "short");
    await page.click("#signin-submit");
    assert.match(await errorText(page), /at least 8 characters/);

    // invalid_credentials.
    await tab(page, "login");
    await page.fill("#signin-name", "Regina");
    await page.fill("#signin-password", "wrong password");
    await page.click("#signin-submit");
    assert.match(await errorText(page), /Wrong name or password/);
    assert.equal(await page.getAttribute("#signin-error", "data-code"), "invalid_credentials");

    // network down.
    await page.route("**/api/**", (route) => route.abort("connectionrefused"));
    await page.fill("#signin-password", "correct horse");
    await page.click("#signin-submit");
    assert.match(await errorText(page), /Cannot reach the server/);
    await page.unroute("**/api/**");

    // rate_limited and bad_request, as the server would answer them.
    await page.route("**/api/login", (route) =>
      route.fulfill({
        status: 429,
        contentType: "application/json",
        body: JSON.stringify({ error: { code: "rate_limited", message: "too many requests; try again later" } }),
      }),
    );
    await page.click("#signin-submit");
    assert.match(await errorText(page), /Too many attempts/);
    await page.unroute("**/api/login");
    await page.route("**/api/login", (route) =>
      route.fulfill({
        status: 400,
        contentType: "application/json",
        body: JSON.stringify({ error: { code: "bad_request", message: "missing field" } }),
      }),
    );
    await page.click("#signin-submit");
    assert.match(await errorText(page), /could not read that request/);
    await page.unroute("**/api/login");

    // And the real log-in works.
    await page.click("#signin-submit");
    await waitView(page, "lobby");
    assert.equal((await kurve(page, "user")).name, "Regina");
  } finally {
    await context.close();
  }
});

test("a token the server no longer accepts leads back to sign-in", async () => {
  const { context, page } = await openPage(browser, server.http, { name: "forged" });
  try {
    await page.evaluate(() =>
      localStorage.setItem(
        "kurve.session",
        JSON.stringify({ token: "forged.token.value", user: { id: "x", name: "Mallory", guest: true } }),
      ),
    );
    await page.reload();
    await waitView(page, "signin");
    assert.match(await page.textContent("#signin-error"), /session ended/i);
    assert.equal(await page.evaluate(() => localStorage.getItem("kurve.session")), null);
  } finally {
    await context.close();
  }
});
