// The chain pool in the browser (CPU backend): seconds per reference CD iteration and 64 × 60
// sampling with K chain helpers, for each K in KS (default 0,1,2), on the bundled sample; one
// JSON line per K. Serves the deployable site (SITE, default dist/) on a plain static server.
// Usage (after scripts/build-site.sh): KS=0,1,2,0 ITERS=5 [SITE=dist] node bench/pool.mjs
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startStaticHost } from "../tests/e2e/static-host.mjs";
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const site = resolve(root, process.env.SITE ?? "dist");
const host = await startStaticHost(site, "dermaebm");
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
const iters = Number(process.env.ITERS ?? 3);
for (const k of (process.env.KS ?? "0,1,2").split(",").map(Number)) {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error("pageerror", e.message));
  await page.goto(`${host.base}?backend=cpu&helpers=${k}`);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 300000 });
  const r = await page.evaluate(async (iters) => {
    const { call } = window.dermaebm;
    for (let i = 0; i < 600; i++) { const p = await call("poolStatus"); if (p.ready === p.size) break; await new Promise((r) => setTimeout(r, 100)); }
    const t0 = performance.now();
    await call("generate", 64, 60, 0, undefined, "noise");
    const sample64x60 = (performance.now() - t0) / 1000;
    const bytes = new Uint8Array(await (await fetch("data/dermamnist-ham10000-28-sample.npz")).arrayBuffer());
    await call("loadDataset", ["sample.npz"], [bytes]);
    const cfg = JSON.parse(await call("config"));
    await call("setConfig", JSON.stringify({ ...cfg, batch_size: 128, langevin_steps: 60 }));
    await call("startTraining", true);
    await call("trainStep"); // warm-up
    const times = [];
    for (let i = 0; i < iters; i++) { const t = performance.now(); await call("trainStep"); times.push((performance.now() - t) / 1000); }
    times.sort((a, b) => a - b);
    return { median: times[Math.floor(times.length / 2)], min: times[0], times, sample64x60, engineHeap: await call("memoryBytes"), pool: await call("poolStatus"),
      firstMs: Number(document.querySelector("#model-status").dataset.firstSampleMs) };
  }, iters);
  console.log(JSON.stringify({ site: process.env.SITE ?? "dist", helpers: k, ...r }));
  await page.close();
}
await browser.close();
host.close();
