// Small pieces shared by the site's end-to-end tests: Chromium launched as the suites launch it,
// the deployable site (dist/) on a plain static host, pages opened and watched for errors, the
// bundled data, tiny training settings, and the training panel's figures.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startStaticHost } from "./static-host.mjs";

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, "../..");
export const artifacts = join(here, "artifacts");
/** The bundled sample (data/README.md): the suites need nothing outside the repository. */
export const realData = join(root, "data/dermamnist-ham10000-28-sample.npz");

/** Debian's Chromium (or $CHROMIUM) with WebGPU allowed, as site.test.mjs launches it. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--no-sandbox", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
}

/** dist/ served under /`prefix`/ by Python's http.server: `{origin, base, close}`. */
export const serveSite = (prefix = "dermaebm") => startStaticHost(join(root, "dist"), prefix);

/** A suite's site and browser: registers the file's before/after hooks (dist/ served, Chromium
 * launched, both closed at the end); `site.base` and `site.browser` are set once they run. */
export function siteForSuite() {
  const site = {};
  before(async () => {
    site.host = await serveSite();
    site.base = site.host.base;
    site.browser = await launchChromium();
  });
  after(async () => {
    await site.browser?.close();
    site.host?.close();
  });
  return site;
}

/** Collects the page's uncaught errors into `errors`. */
export function collectErrors(page, errors) {
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
}

/** Loads the site in `page` and waits until its start-up (engine, shipped weights) is done. */
export async function gotoSite(page, base) {
  await page.goto(base);
  await waitReady(page);
}

/** Waits for the page's start-up after a load or reload, and checks that it went well. */
export async function waitReady(page) {
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 180_000 });
  assert.equal(await page.getAttribute("body", "data-ready"), "true", await page.textContent("#backend-note"));
}

/** Waits for the shipped model's first look (it runs on after the page is ready, and gives way
 * to anything the page asks of the engine meanwhile). */
export async function waitFirstLook(page) {
  await page.waitForSelector("#model-status[data-first-sample-ms]", { timeout: 120_000 });
}

export async function uploadRealData(page) {
  await page.setInputFiles("#files", realData);
  await page.waitForSelector("td[data-split=train]", { timeout: 120_000 });
}

/** The smallest recovery-likelihood run (two noise levels, one Langevin step, batch 4): a
 * fraction of a second per update, with checkpoints of the real format. */
export async function setTinySettings(page, extra = {}) {
  await page.selectOption("#recipe", "recovery");
  const tiny = { batch_size: 4, "recovery.levels": 2, "recovery.steps": 1, seed: 3, ...extra };
  for (const [name, value] of Object.entries(tiny)) await page.fill(`#settings [name="${name}"]`, String(value));
}

export const iteration = (page) => page.evaluate(() => Number(document.getElementById("iter").textContent));
export const waitIteration = (page, atLeast, timeout = 120_000) =>
  page.waitForFunction((n) => Number(document.getElementById("iter").textContent) >= n, atLeast, { timeout });
/** The iteration of the last checkpoint the page stored ("Last checkpoint"), -1 before one. */
export const savedIteration = async (page) => Number((await page.textContent("#ckpt")).match(/iteration (\d+)/)?.[1] ?? -1);
export const waitSavedIteration = (page, atLeast, timeout = 120_000) =>
  page.waitForFunction((n) => Number(/iteration (\d+)/.exec(document.getElementById("ckpt").textContent)?.[1] ?? -1) >= n, atLeast, { timeout });

/** The iteration of the next training update the engine reports (a promise to await later). */
export const nextStatsIteration = (page) =>
  page.evaluate(() => new Promise((ok) => window.dermaebm.state.engine.addEventListener("stats", (e) => ok(e.detail.stats.iteration), { once: true })));

/** Pauses training and waits until the pause's checkpoint was handled and the run has stopped. */
export async function pauseAndWait(page) {
  await page.click("#pause-btn");
  await page.waitForFunction(() => !window.dermaebm.state.running, null, { timeout: 120_000 });
}
