// A visitor's own run, timed: opens the deployable site (dist/, on a plain static server under a
// sub-path), loads the bundled data ("Try it with DermaMNIST"), picks a recipe for a new network
// with the form's defaults, presses Start on the chosen backend, pauses after the given minutes
// and downloads the trained weights as the Save button gives them. The FID of those weights is
// then measured natively (scripts/fid.sh; BENCHMARKS.md, "A visitor's ten minutes").
// Usage: [SITE=dist] node scripts/visitor-run.mjs RECIPE MINUTES OUT.debm [backend=cpu]
// (after scripts/build-site.sh). Prints one JSON line: updates, seconds, loss at the pause.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startStaticHost } from "../tests/e2e/static-host.mjs";

const [recipe, minutes, out, backend = "cpu"] = process.argv.slice(2);
if (!["denoising", "recovery", "contrastive"].includes(recipe) || !(Number(minutes) > 0) || !out) {
  console.error("usage: node scripts/visitor-run.mjs denoising|recovery|contrastive MINUTES(>0) OUT.debm [backend=cpu]");
  process.exit(2);
}
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const host = await startStaticHost(resolve(root, process.env.SITE ?? "dist"), "dermaebm");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--no-sandbox"],
});
try {
  const page = await (await browser.newContext({ acceptDownloads: true })).newPage();
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  await page.goto(`${host.base}?backend=${backend}`);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 180_000 });
  await page.click("#sample-data-btn");
  await page.waitForSelector("td[data-split=train]", { timeout: 120_000 });
  await page.selectOption("#recipe", recipe);
  // The recipe's defaults as the form fills them (defaultConfig), nothing changed by hand.
  await page.waitForFunction((r) => document.getElementById("recipe").value === r, recipe);
  const started = Date.now();
  await page.click("#start-btn");
  await page.waitForTimeout(Number(minutes) * 60_000);
  await page.click("#pause-btn");
  await page.waitForFunction(() => !document.getElementById("save-btn").disabled, null, { timeout: 600_000 });
  const seconds = (Date.now() - started) / 1000;
  const updates = Number(await page.textContent("#iter"));
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#save-btn")]);
  const path = await download.path();
  writeFileSync(out, readFileSync(path));
  const config = await page.evaluate(() => window.dermaebm.state.config);
  console.log(JSON.stringify({ recipe, backend, minutes: Number(minutes), seconds, updates, out, config }));
} finally {
  await browser.close();
  host.close();
}
