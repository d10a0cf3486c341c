// The package as a web developer uses it: `npm pack` pkg/, install the tarball into a scratch
// app outside the repository, import EngineClient and <ebm-sampler> by the package's name,
// bundle with Vite, serve the bundle from a plain static server, and check in Chromium that the
// element draws samples from the shipped weights and that the bundler resolved the workers and
// the wasm (they load from the bundle's assets/, nothing from a /pkg/ path).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { build } from "vite";
import { startStaticHost } from "./static-host.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
let app, host, browser;

before(async () => {
  app = mkdtempSync(join(tmpdir(), "dermaebm-consumer-"));
  const tarball = execFileSync("npm", ["pack", join(root, "pkg"), "--pack-destination", app, "--silent"], { encoding: "utf8" }).trim().split("\n").pop();
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--silent", join(app, tarball)], { cwd: app });
  mkdirSync(join(app, "public"));
  copyFileSync(join(root, "weights/dermamnist.debm"), join(app, "public/dermamnist.debm"));
  writeFileSync(
    join(app, "index.html"),
    `<!doctype html><html><head><meta charset="utf-8"><title>consumer</title></head><body>
<ebm-sampler id="sampler" weights="dermamnist.debm" count="4" columns="4"></ebm-sampler>
<script type="module" src="./main.js"></script></body></html>`,
  );
  writeFileSync(
    join(app, "main.js"),
    `import "dermaebm/ebm-sampler";
import { EngineClient } from "dermaebm/client";
window.clientType = typeof EngineClient.start;`,
  );
  await build({
    root: app,
    base: "./",
    logLevel: "warn",
    // Module workers: the engine's worker imports the wasm glue and starts helper workers.
    worker: { format: "es" },
    build: { outDir: join(app, "dist"), target: "es2022" },
  });
  host = await startStaticHost(join(app, "dist"), "app");
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  host?.close();
  if (app) rmSync(app, { recursive: true, force: true });
});

test("a Vite app that installs the packed package renders <ebm-sampler> samples", async () => {
  const assets = readdirSync(join(app, "dist/assets"));
  assert.ok(assets.some((f) => f.endsWith(".wasm")), `the bundle carries the wasm: ${assets}`);
  const page = await browser.newPage();
  const requested = [];
  const errors = [];
  page.on("request", (r) => requested.push(new URL(r.url()).pathname));
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(host.base);
  await page.waitForFunction(() => ["ready", "error"].includes(document.getElementById("sampler")?.getAttribute("state")), null, { timeout: 180_000 });
  const status = await page.evaluate(() => document.getElementById("sampler").shadowRoot.querySelector("p").textContent);
  assert.equal(await page.getAttribute("#sampler", "state"), "ready", status);
  assert.equal(await page.evaluate(() => window.clientType), "function", "EngineClient imported by the package's name");
  assert.ok(await page.evaluate(() => document.getElementById("sampler").shadowRoot.querySelector("canvas").width > 1), "samples drawn");
  // The worker and the wasm came from the bundle, resolved by Vite; nothing asked for /pkg/.
  assert.ok(requested.some((p) => /\/app\/assets\/.*worker.*\.js$/.test(p)), `the worker from assets/: ${requested}`);
  assert.ok(requested.some((p) => /\/app\/assets\/.*\.wasm$/.test(p)), `the wasm from assets/: ${requested}`);
  assert.deepEqual(requested.filter((p) => p.includes("/pkg/")), []);
  assert.deepEqual(errors, []);
  await page.close();
});
