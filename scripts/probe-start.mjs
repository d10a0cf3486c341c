// Start-up benchmark: opens the site in fresh browser contexts and prints, per page load, the
// time to the first samples with the shipped weights and the start-up phases (performance marks
// set by www/app.js). Usage: node scripts/probe-start.mjs [loads=3] (after scripts/build-web.sh).
import { chromium } from "playwright-core";
import { startServer } from "./serve.mjs";
const server = await startServer(0);
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--no-sandbox"] });
const loads = Number(process.argv[2] ?? 3);
for (let i = 0; i < loads; i++) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(origin + "/");
  await page.waitForSelector("#model-status[data-first-sample-ms]", { timeout: 60000 });
  const marks = await page.evaluate(() => performance.getEntriesByType("mark").map((m) => [m.name, Math.round(m.startTime)]));
  const firstSampleMs = Number(await page.getAttribute("#model-status", "data-first-sample-ms"));
  console.log(JSON.stringify({ load: i + 1, first_sample_ms: firstSampleMs, marks_ms: Object.fromEntries(marks) }));
  await ctx.close();
}
await browser.close(); server.close();
