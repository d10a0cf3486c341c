// A soak of training in the browser (not in CI): the deployable site (dist/) on a plain static
// server, the CPU backend with the chain pool on, the bundled DermaMNIST sample and the
// reference recipe, trained for --minutes; every minute one JSON line with the iteration, the
// seconds per iteration over that minute, the engine's and the helpers' wasm heaps and the
// last checkpoint's iteration (the site checkpoints every 25 iterations), to bench/out/soak.jsonl.
// Usage (after scripts/build-site.sh): node bench/soak.mjs --minutes 60 [--helpers 1]
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { startStaticHost } from "../tests/e2e/static-host.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: a } = parseArgs({ options: { minutes: { type: "string", default: "60" }, helpers: { type: "string", default: "1" } } });
const out = join(root, "bench/out/soak.jsonl");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, "");

const host = await startStaticHost(join(root, "dist"), "dermaebm");
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
const page = await browser.newPage();
const errors = [];
page.on("pageerror", (e) => errors.push(e.message));
await page.goto(`${host.base}?backend=cpu&helpers=${a.helpers}`);
await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 300_000 });
await page.click("#sample-data-btn");
await page.waitForFunction(() => document.querySelector("td[data-split=train]")?.textContent === "1000", null, { timeout: 120_000 });
await page.click("#start-btn");

const started = Date.now();
let last = { t: started, iteration: 0 };
for (let minute = 1; minute <= Number(a.minutes); minute++) {
  await page.waitForTimeout(Math.max(0, started + minute * 60_000 - Date.now()));
  const now = await page.evaluate(async () => {
    const { call } = window.dermaebm;
    return {
      iteration: Number(document.getElementById("iter").textContent),
      checkpoint: Number(document.getElementById("ckpt").textContent.match(/iteration (\d+)/)?.[1] ?? -1),
      engineHeapBytes: await call("memoryBytes"),
      pool: await call("poolStatus"),
      error: document.getElementById("train-error").hidden ? null : document.getElementById("train-error").textContent,
    };
  });
  const t = Date.now();
  const done = now.iteration - last.iteration;
  const line = {
    minute,
    iteration: now.iteration,
    secondsPerIteration: done > 0 ? (t - last.t) / 1000 / done : null,
    lastCheckpoint: now.checkpoint,
    engineHeapMB: Math.round(now.engineHeapBytes / 2 ** 20),
    helperPeakHeapMB: Math.round(now.pool.peakHeapBytes / 2 ** 20),
    helpers: now.pool.size,
    helpersReplaced: now.pool.replaced,
    error: now.error,
    pageErrors: errors.length,
  };
  appendFileSync(out, JSON.stringify(line) + "\n");
  console.log(JSON.stringify(line));
  last = { t, iteration: now.iteration };
}
await page.click("#pause-btn");
await browser.close();
host.close();
