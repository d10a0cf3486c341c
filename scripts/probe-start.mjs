// Start-up benchmark: opens the deployable site (dist/, on a plain static server under a
// sub-path, as a visitor gets it) in fresh browser contexts and prints, per page load, the time
// to the first samples with the shipped weights (a recovery model's: the first level of its walk
// on screen, then all 16 samples done) and the start-up phases (performance marks set by
// www/app.js). Usage: [SITE=dist] node scripts/probe-start.mjs [loads=3] [backend=cpu]
// (after scripts/build-site.sh); MODEL=recovery opens the recovery-likelihood model (`?model=recovery`).
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startStaticHost } from "../tests/e2e/static-host.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const loads = Number(process.argv[2] ?? 3);
const backend = process.argv[3] ?? "cpu";
const host = await startStaticHost(resolve(root, process.env.SITE ?? "dist"), "dermaebm");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--no-sandbox"],
});
try {
  for (let i = 0; i < loads; i++) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${host.base}?backend=${backend}${process.env.MODEL ? `&model=${process.env.MODEL}` : ""}`);
    await page.waitForSelector("#model-status[data-first-sample-ms]", { timeout: 60000 });
    const marks = await page.evaluate(() => performance.getEntriesByType("mark").map((m) => [m.name, Math.round(m.startTime)]));
    const firstSampleMs = Number(await page.getAttribute("#model-status", "data-first-sample-ms"));
    const level = await page.getAttribute("#model-status", "data-first-level-ms");
    const samples = await page.evaluate(() => Number(document.getElementById("gen-grid").dataset.count));
    const walk = await page.getAttribute("#chain-grid", "data-levels");
    console.log(JSON.stringify({ load: i + 1, backend, first_level_ms: level === null ? null : Number(level), first_sample_ms: firstSampleMs, samples, walk, marks_ms: Object.fromEntries(marks) }));
    await ctx.close();
  }
} finally {
  await browser.close();
  host.close();
}
