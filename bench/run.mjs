// Browser benchmarks in Debian's Chromium (WebGPU flags on): DermaEBM through its worker API on
// each backend, and the TensorFlow.js comparator on its backends, one page each, same recipe.
// Usage: node bench/run.mjs [--batch 128 --steps 60 --iters 3 --warmup 1] [--gpu-batch 16 --gpu-steps 10]
// The GPU runs take their own (smaller) recipe: a software WebGPU adapter (SwiftShader) takes
// minutes per reference iteration. Prints one JSON object per run, one per line; BENCH_CONSOLE=1
// also echoes the pages' and workers' console (panic messages) to stderr.
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { CSP, startServer } from "../scripts/serve.mjs";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const { values: a } = parseArgs({
  options: {
    batch: { type: "string", default: "128" }, steps: { type: "string", default: "60" },
    iters: { type: "string", default: "3" }, warmup: { type: "string", default: "1" },
    "gpu-batch": { type: "string", default: "16" }, "gpu-steps": { type: "string", default: "10" },
    "gpu-iters": { type: "string", default: "2" }, only: { type: "string", default: "" },
  },
});
const nm = join(root, "bench/node_modules/@tensorflow");
const server = await startServer(0, "127.0.0.1", [
  ["/bench/", join(root, "bench")],
  ["/vendor/tfjs/", join(nm, "tfjs/dist")],
  ["/vendor/tfjs-webgpu/", join(nm, "tfjs-backend-webgpu/dist")],
  ["/vendor/tfjs-wasm/", join(nm, "tfjs-backend-wasm/dist")],
], CSP.replace("'wasm-unsafe-eval'", "'wasm-unsafe-eval' 'unsafe-eval'"));
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--no-sandbox", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
});

const cpu = `batch=${a.batch}&steps=${a.steps}&iters=${a.iters}&warmup=${a.warmup}`;
const gpu = `batch=${a["gpu-batch"]}&steps=${a["gpu-steps"]}&iters=${a["gpu-iters"]}&warmup=1`;
const runs = [
  ["dermaebm-cpu", `/bench/ebm.html?backend=cpu&${cpu}`],
  ["tfjs-wasm", `/bench/tfjs.html?backend=wasm&${cpu}`],
  // Plain-JavaScript kernels: one timed iteration is enough to see where it stands.
  ["tfjs-cpu", `/bench/tfjs.html?backend=cpu&batch=${a.batch}&steps=${a.steps}&iters=1&warmup=1`],
  ["dermaebm-webgpu", `/bench/ebm.html?backend=gpu&${gpu}`],
  ["tfjs-webgpu", `/bench/tfjs.html?backend=webgpu&${gpu}`],
  ["tfjs-webgl", `/bench/tfjs.html?backend=webgl&${gpu}`],
].filter(([name]) => !a.only || a.only.split(",").includes(name));

try {
  for (const [name, path] of runs) {
    const page = await browser.newPage();
    if (process.env.BENCH_CONSOLE) {
      const log = (m) => console.error(`[${name}] ${m.text()}`);
      page.on("console", log);
      page.on("worker", (w) => w.on("console", log));
    }
    const started = Date.now();
    // "commit": a benchmark that computes on the main thread holds back the load event.
    await page.goto(origin + path, { waitUntil: "commit" });
    try {
      await page.waitForFunction(() => (document.getElementById("result")?.textContent ?? "running…") !== "running…", null, { timeout: 1_800_000, polling: 1000 });
      const result = JSON.parse(await page.textContent("#result"));
      console.log(JSON.stringify({ run: name, wall_seconds: (Date.now() - started) / 1000, ...result }));
    } catch (e) {
      console.log(JSON.stringify({ run: name, error: String(e.message ?? e) }));
    }
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
}
